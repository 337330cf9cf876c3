# Redis 7 from Debian's packages, configured as code-runner's broker (redis.conf: AOF, noeviction).
# Build from the repository root:  docker build -f deploy/docker/redis.Dockerfile -t code-runner/redis .
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o redis -g redis -m 0750 /data
COPY deploy/docker/redis.conf /etc/redis/code-runner.conf
USER redis
WORKDIR /data
VOLUME /data
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD redis-cli ping | grep -q PONG
CMD ["redis-server", "/etc/redis/code-runner.conf"]
