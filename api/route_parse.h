/* The pure parsing behind the HTTP routes, apart from any libevent request object so that a fuzz
 * target (tests/fuzz/fuzz_route.c) can call it alone: which route a path names, the ?wait=S
 * query parameter, and the Authorization header.
 *
 * API:
 *   route_match(path, &id)          the route of a URI path; for /results/{id}, *id points into
 *                                   path (validate it with task_id_valid); for
 *                                   /api/v1/sessions/{rest}, *id points at rest.
 *   route_session(rest, &s)         split the rest of a session path: the session id (not yet
 *                                   validated), and what below it is named: the session itself,
 *                                   /execute, /files, /files/{path} (path still percent-encoded);
 *                                   -1 for anything else (404).
 *   route_methods(r, sub, &allow)   the methods a route takes (a mask of EVHTTP_REQ_*; GET brings
 *                                   HEAD), and the Allow header naming them.
 *   route_parse_flag(query, name, &on)  0 with *on for name=1|true|yes (on) or 0|false|no|""
 *                                   (off), absent: off; -1 for another value or a bad query.
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
    R_NONE,         /* no such route: 404 */
    R_RUN,          /* /run-code */
    R_RESULTS,      /* /results/{id} */
    R_LANGUAGES,    /* /languages */
    R_HEALTH,       /* /health */
    R_OPENAPI,      /* /openapi.json */
    R_ENVIRONMENTS, /* /api/v1/environments */
    R_SESSIONS,     /* /api/v1/sessions */
    R_SESSION,      /* /api/v1/sessions/{id}[/...], see route_session */
    R_METRICS,      /* /metrics */
    R_COUNT
};

/* What a session path names below the session. */
enum route_sub {
    RS_SESSION, /* /api/v1/sessions/{id} */
    RS_EXECUTE, /* .../execute */
    RS_FILES,   /* .../files */
    RS_FILE,    /* .../files/{path} */
};

/* A session path split by route_session; pointers into the path. */
typedef struct route_session_parts {
    const char *id; /* the session id, id_len bytes */
    size_t id_len;
    enum route_sub sub;
    const char *file; /* RS_FILE: the path below the workspace, percent-encoded, not empty */
} route_session_parts;

enum route route_match(const char *path, const char **id);
const char *route_label(enum route r);
int route_session(const char *rest, route_session_parts *out);
unsigned route_methods(enum route r, enum route_sub sub, const char **allow);
int route_parse_flag(const char *query, const char *name, bool *on);
int route_parse_wait(const char *query, int *wait_ms);
bool route_bearer_ok(const char *header, char *const *keys, size_t n_keys);

#endif
