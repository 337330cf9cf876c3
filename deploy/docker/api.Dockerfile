# The code-runner HTTP API image. Build from the repository root:
#   docker build -f deploy/docker/api.Dockerfile -t code-runner/api .
# Stage "build" is the same in api.Dockerfile and worker.Dockerfile (keep them identical), so the
# second image reuses the first one's cached build.

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
# libhiredict1.3.1 holds hiredis and its TLS half (loaded for rediss:// only; it pulls libssl3).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libhiredict1.3.1 libevent-2.1-7 libevent-pthreads-2.1-7 libjansson4 libuuid1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin code-runner
COPY --from=build /out/api/ /usr/local/bin/
COPY images/languages.json /usr/share/code-runner/languages.json
COPY deploy/docker/entrypoint.sh deploy/docker/healthcheck-api.sh /usr/local/bin/
ENV LANGUAGES_FILE=/usr/share/code-runner/languages.json \
    API_HOST=0.0.0.0 \
    API_PORT=8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["healthcheck-api.sh"]
ENTRYPOINT ["entrypoint.sh"]
CMD ["code-runner-api"]
