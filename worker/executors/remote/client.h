/* The remote backend's HTTP client of executor-host agents (worker/agent/agent.h): one libcurl
 * handle per worker process, whose connections to the hosts are kept open between jobs.
 * TLS is libcurl's: certificates are verified against REMOTE_CA_FILE (or the system's CAs), for
 * the URL's host or REMOTE_TLS_NAME. The token goes in every request's Authorization header.
 *
 *   rclient_create(cfg, token, &rc, err, errlen)   load libcurl; the token is copied (may be NULL)
 *   rclient_free(rc)                               accepts NULL
 *   rclient_target_parse(url, tls_name, &t, err, errlen)   check an agent's base URL
 *       (http[s]://host[:port]) and work out how to reach it; rclient_target_clear(&t)
 *   rclient_job(rc, target, body, len, limits, &answer, err, errlen)
 *       POST /v1/jobs: the outcome; with RCALL_OK, *answer is the agent's answer object
 *       ({"status": "SUCCESS"|"FAILURE", "result": ...}, caller owns it). A host that sends
 *       nothing (not even its newline heartbeat) for REMOTE_STALL_TIMEOUT is taken for hung.
 *   rclient_capacity(rc, target, &cap, err, errlen)   GET /v1/capacity; *cap on RCALL_OK
 * err says what went wrong in words a FAILURE message can carry (never the token). */
#ifndef CR_REMOTE_CLIENT_H
#define CR_REMOTE_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "common/config.h"

typedef struct rclient rclient;

/* How to reach one agent. With REMOTE_TLS_NAME and https, requests name that host and connect to
 * the URL's address (libcurl's CONNECT_TO), so its certificate is checked for that name. */
typedef struct rclient_target {
    char *url;        /* owned; the base URL as configured, no trailing '/' (logs, messages) */
    char *base;       /* owned; the base URL requests use */
    char *connect_to; /* owned; "name:port:host:port" or NULL */
} rclient_target;

/* How a call to an agent went, and what it means for the job and the host. */
typedef enum rcall {
    RCALL_OK,          /* 200 and an answer */
    RCALL_REFUSED,     /* 401/403: our token is wrong or missing (configuration: no retry) */
    RCALL_TLS,         /* the host's certificate is not trusted (configuration: no retry) */
    RCALL_BUSY,        /* 503: no free slot, or draining (try another host; not an attempt) */
    RCALL_UNREACHABLE, /* no connection (refused, timed out): the job never reached it */
    RCALL_FAILED,      /* the host took the job and failed it: died, hung, cut the connection,
                        * answered garbage or an error (an attempt: try another host) */
    RCALL_REJECTED,    /* 400, 413 or another 4xx: the host refuses this job (FAILURE) */
} rcall;

const char *rcall_str(rcall r);

/* Bounds of one job call. */
typedef struct rclient_limits {
    long timeout_ms;   /* the whole call (the job's own limits and a margin) */
    size_t max_answer; /* bytes of answer accepted */
} rclient_limits;

int rclient_create(const cfg *c, const char *token, rclient **out, char *err, size_t errlen);
void rclient_free(rclient *rc);
int rclient_target_parse(const char *url, const char *tls_name, rclient_target *t, char *err,
                         size_t errlen);
void rclient_target_clear(rclient_target *t);
rcall rclient_job(rclient *rc, const rclient_target *t, const char *body, size_t len,
                  const rclient_limits *lim, json_t **answer, char *err, size_t errlen);
rcall rclient_capacity(rclient *rc, const rclient_target *t, json_t **cap, char *err,
                       size_t errlen);

#endif
