/* The worker supervisor's GET /metrics: a small HTTP/1.x server on METRICS_HOST:METRICS_PORT that
 * the supervisor's poll() loop drives, serving the metrics of the whole host (the supervisor and
 * every worker process, common/metrics.h). Non-blocking throughout, one request per connection
 * (answered with Connection: close), and bounded so that a scraper gone wrong cannot hold the
 * supervisor: at most METRICS_HTTP_MAX_CONNS connections (more wait in the kernel's backlog),
 * request heads up to 8 KiB, METRICS_HTTP_TIMEOUT_MS from accept to the last byte sent.
 * GET and HEAD of /metrics only (404 elsewhere, 405 for other methods); the Authorization rule is
 * metrics_authorized's (401 otherwise).
 *
 * API:
 *   metrics_http_start(cfg)             bind and listen; die()s on start-up errors; NULL when
 *                                       METRICS_PORT is 0 (every call below accepts NULL).
 *   metrics_http_pollfds(m, pfd, max)   fill pfd[0..] with what to poll (at most max, which
 *                                       METRICS_HTTP_MAX_POLLFDS always satisfies); the count.
 *   metrics_http_handle(m, pfd, n)      after poll() (pfd as filled, revents set): accept, read,
 *                                       answer, write; close what is done, failed or late.
 *   metrics_http_timeout_ms(m)          ms until the earliest connection deadline, -1 if none.
 *   metrics_http_free(m)                close every socket (also in a forked child); frees m. */
#ifndef CR_METRICS_HTTP_H
#define CR_METRICS_HTTP_H

#include <poll.h>
#include <stddef.h>

#include "common/config.h"

#define METRICS_HTTP_MAX_CONNS 8
#define METRICS_HTTP_MAX_POLLFDS (METRICS_HTTP_MAX_CONNS + 1)
#define METRICS_HTTP_TIMEOUT_MS 10000

typedef struct metrics_http metrics_http;

metrics_http *metrics_http_start(const cfg *c);
size_t metrics_http_pollfds(metrics_http *m, struct pollfd *pfd, size_t max);
void metrics_http_handle(metrics_http *m, const struct pollfd *pfd, size_t n);
int metrics_http_timeout_ms(const metrics_http *m);
void metrics_http_free(metrics_http *m);

#endif
