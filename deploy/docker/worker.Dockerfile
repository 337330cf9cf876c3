# The code-runner worker image (supervisor and worker processes; EXECUTOR=docker: every job runs
# in sandbox containers of the Docker Engine at DOCKER_HOST). Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t code-runner/worker .
# It runs as root: it drives the Docker Engine (the socket is root:docker 0660, and access to it is
# root on the host whatever the uid), and it removes the sandboxes' cgroups it reads accounting
# from (host /sys/fs/cgroup). See docker-compose.yml.

FROM debian:bookworm-slim AS build
# hiredis 1.x with TLS: hiredict from bookworm-backports, pinned to it alone (see deploy/apt/).
COPY deploy/apt/bookworm-backports.sources /etc/apt/sources.list.d/
COPY deploy/apt/code-runner-backports.pref /etc/apt/preferences.d/
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
      libhiredict-shims-dev libssl-dev libevent-dev libjansson-dev libcurl4-openssl-dev uuid-dev \
      libseccomp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY common/ common/
COPY api/ api/
COPY worker/ worker/
# The test suite is not part of the images (CR_TESTS=OFF: tests/ is not copied).
# Out: /out/api/code-runner-api, /out/worker/code-runner-worker and, beside it, cr-init (the
# sandbox PID 1 of EXECUTOR=oci, when the tree has it).
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DCR_TESTS=OFF >/dev/null \
 && cmake --build /build -j"$(nproc)" --target api worker \
 && mkdir -p /out/api /out/worker \
 && install -s /build/api /out/api/code-runner-api \
 && install -s /build/worker /out/worker/code-runner-worker \
 && if [ -f /build/cr-init ]; then install -s /build/cr-init /out/worker/cr-init; fi

FROM debian:bookworm-slim
COPY deploy/apt/bookworm-backports.sources /etc/apt/sources.list.d/
COPY deploy/apt/code-runner-backports.pref /etc/apt/preferences.d/
# curl: the health check pings the engine (libcurl4 is the worker's own dependency anyway).
# libhiredict1.3.1 holds hiredis and its TLS half (loaded for rediss:// only; it pulls libssl3).
# libevent: the binary's agent mode (worker --serve) serves HTTP with it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libhiredict1.3.1 libevent-2.1-7 libjansson4 libuuid1 libcurl4 libseccomp2 curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/worker/ /usr/local/bin/
COPY images/languages.json /usr/share/code-runner/languages.json
COPY deploy/docker/entrypoint.sh deploy/docker/healthcheck-worker.sh /usr/local/bin/
ENV LANGUAGES_FILE=/usr/share/code-runner/languages.json \
    EXECUTOR=docker \
    DOCKER_HOST=unix:///var/run/docker.sock \
    STATE_DIR=/run/code-runner
HEALTHCHECK --interval=15s --timeout=10s --start-period=20s --retries=3 CMD ["healthcheck-worker.sh"]
ENTRYPOINT ["entrypoint.sh"]
CMD ["code-runner-worker"]
