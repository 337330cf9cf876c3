/* The executor-host agent: start-up checks, the listening socket, the job processes, the event
 * loop, and the drain on SIGTERM (see agent.h). */
#include "agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/net_listen.h"
#include "common/util.h"
#include "worker/agent/http.h"
#include "worker/agent/slots.h"
#include "worker/net/token.h"

#define MAX_HEADERS_BYTES (16 * 1024)
#define LISTEN_BACKLOG 256
#define STOP_GRACE_MS 10000 /* job processes still running at the stop get this long */

/* EXECUTOR_LISTEN "host:port" or "[v6 address]:port" split in place; die() when malformed. */
static void split_listen(char *text, char **host, char **port)
{
    char *colon = strrchr(text, ':');
    if (!colon || colon == text || !colon[1])
        die("EXECUTOR_LISTEN: '%s' is not host:port", text);
    *colon = '\0';
    *port = colon + 1;
    *host = text;
    size_t n = strlen(text);
    if (text[0] == '[' && n > 2 && text[n - 1] == ']') {
        text[n - 1] = '\0';
        *host = text + 1;
    }
    long p;
    if (parse_long(*port, 1, 65535, &p) < 0)
        die("EXECUTOR_LISTEN: '%s' is not a port from 1 to 65535", *port);
}

static bool is_loopback(const struct sockaddr *a)
{
    if (a->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
    return false;
}

/* Resolve EXECUTOR_LISTEN (caller frees with freeaddrinfo); *loopback_only tells whether every
 * address it names is a loopback one. die() naming the variable on failure. */
static struct addrinfo *resolve_listen(const cfg *c, bool *loopback_only)
{
    cleanup_free char *text = xstrdup(c->executor_listen);
    char *host, *port;
    split_listen(text, &host, &port);
    struct addrinfo *res;
    int rc = net_resolve_passive(host, port, &res);
    if (rc != 0)
        die("EXECUTOR_LISTEN: cannot resolve '%s': %s", host, gai_strerror(rc));
    *loopback_only = true;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        *loopback_only &= is_loopback(a->ai_addr);
    return res;
}

/* Listen on the first of the addresses that works; die() naming the variable when none does. */
static int bind_listen(const cfg *c, struct addrinfo *res)
{
    int fd = net_listen_first(res, LISTEN_BACKLOG);
    if (fd < 0)
        die("EXECUTOR_LISTEN: cannot listen on %s: %s", c->executor_listen, strerror(errno));
    return fd;
}

/* STATE_DIR/agent-<WORKER_ID>.lock, held while the agent lives: a second agent with this id on
 * this host would clean up (and so kill) the first one's sandboxes. */
static int take_lock(const cfg *c)
{
    if (mkdir_p(c->state_dir, 0755) < 0)
        die("STATE_DIR: cannot create %s: %s", c->state_dir, strerror(errno));
    cleanup_free char *path = xasprintf("%s/agent-%s.lock", c->state_dir, c->worker_id);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        die("cannot open the lock file %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        die(errno == EWOULDBLOCK ? "another agent with WORKER_ID=%s runs on this host (it holds "
                                   "%s); give each its own WORKER_ID"
                                 : "cannot lock the lock file of WORKER_ID=%s (%s)",
            c->worker_id, path);
    return fd;
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    agent *ag = arg;
    if (ag->draining) {
        log_warn("second %s: stopping now, %zu job(s) unanswered",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT", ag->n_jobs);
        event_base_loopexit(ag->base, NULL);
        return;
    }
    ag->draining = true;
    log_info("%s: draining (%zu job(s) running; no new ones)",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", ag->n_jobs);
    agent_http_check_drained(ag);
}

static void flush_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    agent *ag = arg;
    log_warn("%zu reply(ies) not written after the drain; closing their connections", ag->n_unsent);
    event_base_loopexit(ag->base, NULL);
}

static void on_child(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    agent *ag = arg;
    slots_reap(ag->slots);
}

/* A handler rather than SIG_IGN: SIG_IGN would be inherited by the job processes' exec. */
static void on_sigpipe(int sig)
{
    (void)sig;
}

int agent_run(const cfg *c, const lang_table *langs, const executor *ex)
{
    (void)langs; /* the job processes load their own table */
    if (strcmp(ex->name, "oci") != 0 && strcmp(ex->name, "docker") != 0)
        die("EXECUTOR: an executor host runs its jobs itself: set oci or docker, not %s", ex->name);
    agent ag = {.c = c, .ex = ex};
    char err[512];
    if (net_token_load(c, &ag.token, err, sizeof err) < 0)
        die("%s", err);
    bool loopback_only;
    struct addrinfo *addrs = resolve_listen(c, &loopback_only);
    if (!ag.token && !(c->executor_allow_no_token && loopback_only))
        die("EXECUTOR_AUTH_TOKEN: an agent needs a token (or EXECUTOR_AUTH_TOKEN_FILE); only one "
            "listening on loopback alone may run without, with EXECUTOR_ALLOW_NO_TOKEN=1 "
            "(EXECUTOR_LISTEN is %s)",
            c->executor_listen);
    if (ag.token && c->executor_allow_no_token)
        log_warn("EXECUTOR_ALLOW_NO_TOKEN is set but a token is given: the token is required");
    int listen_fd = bind_listen(c, addrs);
    freeaddrinfo(addrs);
    int lock_fd = take_lock(c);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    ag.base = event_base_new();
    if (!ag.base)
        die("cannot create an event loop");
    struct event *ev_term = evsignal_new(ag.base, SIGTERM, on_stop, &ag);
    struct event *ev_int = evsignal_new(ag.base, SIGINT, on_stop, &ag);
    struct event *ev_chld = evsignal_new(ag.base, SIGCHLD, on_child, &ag);
    ag.flush_timer = evtimer_new(ag.base, flush_timeout_cb, &ag);
    if (!ev_term || !ev_int || !ev_chld || !ag.flush_timer || event_add(ev_term, NULL) < 0 ||
        event_add(ev_int, NULL) < 0 || event_add(ev_chld, NULL) < 0)
        die("cannot watch signals");
    ag.slots = slots_create(ag.base, c, ex, agent_http_answer);
    int status = 0;
    if (slots_start(ag.slots, err, sizeof err) < 0) {
        log_error("executor %s cannot start: %s", ex->name, err);
        status = 1;
    }
    if (status == 0 && !ag.draining) {
        ag.http = evhttp_new(ag.base);
        if (!ag.http)
            die("cannot create an HTTP server");
        evhttp_set_gencb(ag.http, agent_http_handle, &ag);
        evhttp_set_allowed_methods(ag.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
        evhttp_set_max_headers_size(ag.http, MAX_HEADERS_BYTES);
        evhttp_set_max_body_size(ag.http, c->max_body_bytes + AGENT_BODY_SLACK);
        /* Reading a request and writing a reply; a running job is not cut by it (libevent does
         * not read while a request is handled, and the newlines keep the writes going). */
        evhttp_set_timeout(ag.http, c->client_timeout);
        if (!evhttp_accept_socket_with_handle(ag.http, listen_fd))
            die("EXECUTOR_LISTEN: cannot accept on %s", c->executor_listen);
        listen_fd = -1; /* evhttp's now */
        log_info("agent %s listening on %s: %zu slot(s), executor %s%s", c->worker_id,
                 c->executor_listen, slots_total(ag.slots), ex->name,
                 ag.token ? "" : ", no token (loopback only)");
        event_base_dispatch(ag.base);
    }
    if (ag.n_jobs)
        agent_http_stop_jobs(&ag);
    if (ag.http)
        evhttp_free(ag.http); /* closes the listener and every connection */
    if (listen_fd >= 0)
        close(listen_fd);
    slots_stop(ag.slots, STOP_GRACE_MS);
    slots_free(ag.slots);
    event_free(ev_term);
    event_free(ev_int);
    event_free(ev_chld);
    event_free(ag.flush_timer);
    event_base_free(ag.base);
    net_token_free(ag.token);
    close(lock_fd);
    log_info("agent %s stopped", c->worker_id);
    return status;
}
