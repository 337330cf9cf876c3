#!/bin/bash
# Health check of the api container: GET /health answers 200 (it does when Redis answers).
# bash's /dev/tcp, so the image needs no HTTP client.
set -eu
exec 3<>"/dev/tcp/127.0.0.1/${API_PORT:-8000}"
printf 'GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 5 _ status _ <&3
[ "$status" = 200 ]
