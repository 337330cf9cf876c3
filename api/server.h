/* The HTTP server: one listening socket bound once, API_THREADS event loops (threads) that all
 * accept on it, each with its own evhttp, Redis connections and long-poll registry.
 *
 * API:
 *   server_create(cfg, langs)  bind the port and build every loop; die()s on start-up errors.
 *   server_run(s)              start the threads, wait for SIGTERM/SIGINT, drain and join them.
 *   server_free(s)             accepts NULL.
 * A loop's requests, Redis callbacks and timers all run on that loop's thread; the only
 * cross-thread call is the stop event the main thread activates. */
#ifndef CR_API_SERVER_H
#define CR_API_SERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/redis_async.h"
#include "api/waiters.h"
#include "common/config.h"
#include "common/languages.h"

struct req_ctx;

/* One event loop and everything it owns. Built by server_create on the main thread, run by its
 * own thread until stopped, torn down by that thread after its loop ends. */
typedef struct api_loop {
    int index;                         /* 0..API_THREADS-1, for logs */
    const cfg *cfg;                    /* borrowed, read-only */
    const lang_table *langs;           /* borrowed, read-only */
    struct event_base *base;           /* owned */
    struct evhttp *http;               /* owned */
    int listen_fd;                     /* owned dup of the shared listening socket until
                                          accepting starts (then evhttp owns it); -1 after */
    struct evhttp_bound_socket *bound; /* accepting socket; NULL before start and once the
                                          loop stopped accepting */
    struct event *accept_timer;        /* owned; starts accepting even if Redis is still down */
    struct event *accept_pause;        /* owned; re-enables accepting after accept() failed for
                                          want of file descriptors or memory */
    int64_t accept_warned_ms;          /* monotonic time of the last such warning, 0 before */
    aconn *cmd;                        /* owned; commands */
    aconn *sub;                        /* owned; SUBSCRIBE {prefix}done */
    aconn *sentinel;                   /* owned; +switch-master watch, NULL without sentinels */
    waiters *waiters;                  /* owned; long-polls of this loop */
    struct req_ctx *requests;          /* live request contexts (each owned by its request) */
    size_t n_requests;                 /* length of requests */
    size_t n_unsent;                   /* replies handed to libevent, not yet fully written */
    char *queue_key;                   /* owned; {prefix}queue */
    char *done_channel;                /* owned; {prefix}done */
    char *probe_channel;               /* owned; {prefix}probe:<random>, this loop's alone */
    struct event *probe_timer;         /* owned; liveness probe every second (liveness.h) */
    int64_t probe_sent_ms;             /* monotonic time of the probe in flight, 0 when none */
    int64_t cmd_ok_ms;                 /* last probe answered on the command connection */
    int64_t sub_seen_ms;               /* last probe message (or subscription) on sub */
    char *enqueue_sha;                 /* owned; SCRIPT LOAD result, NULL until known */
    struct req_ctx *repl_waiting;      /* enqueues acknowledged, waiting for the next WAIT */
    struct req_ctx *repl_batch;        /* enqueues the WAIT in flight covers */
    bool repl_in_flight;               /* a WAIT is in flight on cmd */
    bool subscribed;                   /* sub has confirmed the SUBSCRIBE */
    bool recheck_needed;               /* a connection dropped: re-read waiting tasks once both
                                          connections are back */
    bool stopping;                     /* shutdown began: no new long-polls, no new accepts */
    struct event *stop_ev;             /* owned; activated by the main thread */
    struct event *drain_timer;         /* owned; ends a shutdown that takes too long */
    pthread_t thread;
} api_loop;

typedef struct api_server api_server;

api_server *server_create(const cfg *c, const lang_table *langs);
int server_run(api_server *s);
void server_free(api_server *s);

/* Called by request.c when a request ends, so a stopping loop can exit once drained. */
void server_loop_check_drained(api_loop *loop);
/* Begin accepting connections (idempotent). Called when the command connection first comes
 * up, or after a start-up grace period: requests that arrive before wait in the kernel's
 * backlog instead of getting 503 while the first connect is still in flight. */
void server_loop_start_accepting(api_loop *loop);

#endif
