/* A small HTTP client for the Docker Engine API (pinned to API v1.41, Docker 20.10 and later)
 * over libcurl: DOCKER_HOST unix:///path (default) or tcp://host:port, with TLS when
 * DOCKER_TLS_VERIFY is set (CA, certificate and key from DOCKER_CERT_PATH/{ca,cert,key}.pem,
 * default ~/.docker), as the Docker CLI reads them. One client per worker process: its handles
 * are reused across jobs, so the control connection stays open (keep-alive). libcurl is not
 * linked: the first docker_client_create loads it (curl_dl.h), so other executors never map it.
 *
 * API:
 *   docker_client_create(host, &c, err, errlen)   load libcurl (first time), parse host, read
 *                                                 the TLS variables
 *   docker_client_free(c)                         accepts NULL
 *   docker_call(c, method, path, json, &res, ...) one request with a JSON body (or NULL); path
 *                                                 is below the version prefix ("/containers/..")
 *   docker_call_raw(c, method, path, type, data, len, &res, ...)   the same with another body
 *   docker_call_until(c, method, path, deadline, &res, &timed_out, ...)
 *                                                 a body-less request that may take until
 *                                                 deadline (monotonic ms); -1 with timed_out
 *   docker_response_json(&res)                    the body parsed (new reference) or NULL
 *   docker_response_message(&res)                 the engine's error text (caller frees)
 *   docker_stream_open/pump/close                 a streamed POST (attach) on a second handle,
 *                                                 driven while control requests go on
 * Calls return -1 (err) only when no HTTP response came; an HTTP error status is for the caller
 * to judge (res.status). */
#ifndef CR_DOCKER_CLIENT_H
#define CR_DOCKER_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define DOCKER_API_VERSION "v1.41"

typedef struct docker_client docker_client; /* opaque; one per worker process */

/* An HTTP response. body is owned (NUL-terminated); docker_response_clear frees it. */
typedef struct docker_response {
    long status; /* HTTP status */
    char *body;  /* owned */
    size_t len;
} docker_response;

/* Receives streamed body bytes; returning false stops the stream (DOCKER_STREAM_STOPPED). */
typedef bool (*docker_sink)(const char *data, size_t len, void *arg);

/* How docker_stream_pump returned. */
typedef enum docker_stream_end {
    DOCKER_STREAM_EOF,      /* the engine ended the stream (the container's output closed) */
    DOCKER_STREAM_DEADLINE, /* the deadline came first; the stream is still open */
    DOCKER_STREAM_STOPPED,  /* the sink asked to stop; the stream is closed */
} docker_stream_end;

int docker_client_create(const char *host, docker_client **out, char *err, size_t errlen);
void docker_client_free(docker_client *c);
CLEANUP_FUNC(docker_client, docker_client_free)
/* The DOCKER_HOST the client talks to (borrowed). */
const char *docker_client_host(const docker_client *c);
/* True when the engine is on this host (unix socket): its cgroups can be read here. */
bool docker_client_local(const docker_client *c);
/* s escaped for a URL query (caller frees). Needs libcurl: only after a client was created. */
char *docker_escape(const char *s);

int docker_call(docker_client *c, const char *method, const char *path, json_t *body,
                docker_response *res, char *err, size_t errlen);
int docker_call_raw(docker_client *c, const char *method, const char *path, const char *type,
                    const void *data, size_t len, docker_response *res, char *err, size_t errlen);
int docker_call_until(docker_client *c, const char *method, const char *path, int64_t deadline,
                      docker_response *res, bool *timed_out, char *err, size_t errlen);
json_t *docker_response_json(const docker_response *r);
char *docker_response_message(const docker_response *r);
void docker_response_clear(docker_response *r);

/* POST path and wait (up to timeout_ms) for the response head. With status 200 the body goes
 * to sink from then on (pump it); any other status comes back whole in res, stream closed. */
int docker_stream_open(docker_client *c, const char *path, docker_sink sink, void *arg,
                       long timeout_ms, docker_response *res, char *err, size_t errlen);
/* Move the open stream along until it ends or deadline (monotonic ms) passes. */
int docker_stream_pump(docker_client *c, int64_t deadline, docker_stream_end *how, char *err,
                       size_t errlen);
/* Drop the stream (closing its connection if still open); harmless when none is open. */
void docker_stream_close(docker_client *c);

#endif
