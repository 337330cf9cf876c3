/* The pure parsing behind the HTTP routes, apart from any libevent request object so that a fuzz
 * target (tests/fuzz/fuzz_route.c) can call it alone: which route a path names, the ?wait=S
 * query parameter, and the Authorization header.
 *
 * API:
 *   route_match(path, &id)          the route of a decoded URI path; for /results/{id}, *id
 *                                   points into path (validate it with task_id_valid).
 *   route_label(r)                  the route as its metrics label shows it ("/results/{task_id}",
 *                                   "other" for R_NONE).
 *   route_parse_wait(query, &ms)    0 with *ms = 0 when query is NULL or has no wait; 0 with S
 *                                   seconds in ms for wait=S, S a number from 0 to
 *                                   ROUTE_MAX_WAIT_S; -1 otherwise (malformed query included).
 *   route_bearer_ok(header, keys, n)  true when n == 0 (authentication off) or header is
 *                                   "Bearer <key>" for one of the keys (constant-time compare). */
#ifndef CR_API_ROUTE_PARSE_H
#define CR_API_ROUTE_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define ROUTE_MAX_WAIT_S 30

/* The routes of the API (see routes.h). */
enum route {
    R_NONE,      /* no such route: 404 */
    R_RUN,       /* /run-code */
    R_RESULTS,   /* /results/{id} */
    R_LANGUAGES, /* /languages */
    R_HEALTH,    /* /health */
    R_OPENAPI,   /* /openapi.json */
    R_METRICS,   /* /metrics */
    R_COUNT
};

enum route route_match(const char *path, const char **id);
const char *route_label(enum route r);
int route_parse_wait(const char *query, int *wait_ms);
bool route_bearer_ok(const char *header, char *const *keys, size_t n_keys);

#endif
