/* The server: bind the listening socket once, build API_THREADS loops that accept on it (each on
 * its own dup of the socket), run them on threads, and on SIGTERM/SIGINT drain and join them. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "api/failover.h"
#include "api/liveness.h"
#include "api/longpoll.h"
#include "api/request.h"
#include "api/route_parse.h"
#include "api/routes.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/net_listen.h"
#include "common/redis_model.h"
#include "common/util.h"

#define MAX_HEADERS_BYTES (16 * 1024)
#define DRAIN_TIMEOUT_S 10
#define LISTEN_BACKLOG 1024
#define ACCEPT_GRACE_MS 2000 /* longest wait for Redis before accepting anyway */
#define ACCEPT_PAUSE_MS 250  /* accepting stops this long when accept() runs out of fds */
#define ACCEPT_WARN_EVERY_MS 10000

struct api_server {
    const cfg *cfg;  /* borrowed */
    int listen_fd;   /* the bound socket; each loop accepts on its own dup */
    api_loop *loops; /* owned array of n */
    int n;
};

/* Resolve API_HOST and bind API_PORT; die() naming the variables on failure. */
static int bind_socket(const cfg *c)
{
    struct addrinfo *res;
    char port[16];
    snprintf(port, sizeof port, "%d", c->api_port);
    int rc = net_resolve_passive(c->api_host, port, &res);
    if (rc != 0)
        die("API_HOST: cannot resolve '%s': %s", c->api_host, gai_strerror(rc));
    int fd = net_listen_first(res, LISTEN_BACKLOG);
    int saved = errno;
    freeaddrinfo(res);
    if (fd < 0)
        die("API_HOST/API_PORT: cannot listen on %s:%d: %s", c->api_host, c->api_port,
            strerror(saved));
    return fd;
}

static void cmd_down(aconn *rc, void *arg)
{
    metric_set(M_REDIS_CONNECTED, 0, MV_CONN_COMMAND);
    longpoll_down(rc, arg);
}

void server_loop_check_drained(api_loop *loop)
{
    if (loop->stopping && loop->n_requests == 0 && loop->n_unsent == 0)
        event_base_loopexit(loop->base, NULL);
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    api_loop *loop = arg;
    log_warn("loop %d: %zu requests still open after %d s, closing them", loop->index,
             loop->n_requests, DRAIN_TIMEOUT_S);
    event_base_loopexit(loop->base, NULL);
}

/* The loop whose thread this is: libevent hands the listener's error callback the evhttp, not
 * our loop. Set once by each loop thread before it dispatches. */
static __thread api_loop *thread_loop;

/* accept() failed. libevent retries by itself only on EAGAIN-like errors; on anything else
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM: out of descriptors or memory) its listener stays readable,
 * so without this it would spin on the CPU and log a line per try. Stop accepting for a moment
 * instead: connections wait in the kernel's backlog until descriptors are free again. */
static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    api_loop *loop = thread_loop;
    if (!loop || loop->stopping)
        return;
    evconnlistener_disable(lev);
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    evtimer_add(loop->accept_pause, &tv);
    int64_t now = now_mono_ms();
    if (!loop->accept_warned_ms || now - loop->accept_warned_ms >= ACCEPT_WARN_EVERY_MS) {
        loop->accept_warned_ms = now;
        log_warn("loop %d: cannot accept connections: %s; pausing accepts for %d ms at a time "
                 "(raise the open-file limit, or lower CLIENT_TIMEOUT)",
                 loop->index, evutil_socket_error_to_string(err), ACCEPT_PAUSE_MS);
    }
}

static void accept_pause_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    api_loop *loop = arg;
    if (loop->bound && !loop->stopping)
        evconnlistener_enable(evhttp_bound_socket_get_listener(loop->bound));
}

void server_loop_start_accepting(api_loop *loop)
{
    if (loop->listen_fd < 0 || loop->stopping)
        return;
    evtimer_del(loop->accept_timer);
    loop->bound = evhttp_accept_socket_with_handle(loop->http, loop->listen_fd);
    if (!loop->bound) {
        log_error("loop %d: cannot accept on the listening socket", loop->index);
        close(loop->listen_fd);
    } else {
        evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(loop->bound), accept_error_cb);
    }
    loop->listen_fd = -1; /* evhttp closes it when the bound socket is freed */
    log_debug("loop %d: accepting connections", loop->index);
}

static void accept_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    server_loop_start_accepting(arg);
}

/* On the loop's thread: stop accepting, answer the long-polls, let in-flight requests end. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    api_loop *loop = arg;
    loop->stopping = true;
    if (loop->bound) {
        evhttp_del_accept_socket(loop->http, loop->bound);
        loop->bound = NULL;
    }
    if (loop->listen_fd >= 0) {
        close(loop->listen_fd);
        loop->listen_fd = -1;
    }
    evtimer_del(loop->accept_timer);
    evtimer_del(loop->accept_pause);
    longpoll_flush(loop);
    struct timeval tv = {DRAIN_TIMEOUT_S, 0};
    evtimer_add(loop->drain_timer, &tv);
    server_loop_check_drained(loop);
}

static void loop_init(api_loop *loop, int index, const cfg *c, const lang_table *langs,
                      int listen_fd)
{
    loop->index = index;
    loop->cfg = c;
    loop->langs = langs;
    loop->base = event_base_new();
    if (!loop->base)
        die("cannot create an event loop");
    loop->http = evhttp_new(loop->base);
    if (!loop->http)
        die("cannot create an HTTP server");
    evhttp_set_gencb(loop->http, routes_handle, loop);
    evhttp_set_allowed_methods(loop->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                               EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(loop->http, MAX_HEADERS_BYTES);
    /* libevent refuses larger bodies before reading them (Content-Length) or as soon as they
     * grow past it (chunked); its 413 page is made JSON in http_reply.c. */
    evhttp_set_max_body_size(loop->http, c->max_body_bytes);
    /* Applies to reading a request and writing a reply; libevent does not read while a request
     * is being handled, so a long-poll's wait is not cut by it. */
    evhttp_set_timeout(loop->http, c->client_timeout);
    loop->listen_fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
    if (loop->listen_fd < 0)
        die("dup of the listening socket: %s", strerror(errno));
    loop->waiters = waiters_create();
    loop->queue_key = key_queue(c->redis_prefix);
    loop->done_channel = key_done_channel(c->redis_prefix);
    char token[33];
    random_hex(token, 16);
    loop->probe_channel = key_probe_channel(c->redis_prefix, token);
    loop->recheck_needed = true;
    loop->stop_ev = event_new(loop->base, -1, 0, stop_cb, loop);
    loop->drain_timer = evtimer_new(loop->base, drain_timeout_cb, loop);
    loop->accept_timer = evtimer_new(loop->base, accept_timer_cb, loop);
    loop->accept_pause = evtimer_new(loop->base, accept_pause_cb, loop);
    if (!loop->stop_ev || !loop->drain_timer || !loop->accept_timer || !loop->accept_pause)
        abort();
    struct timeval tv = {ACCEPT_GRACE_MS / 1000, (ACCEPT_GRACE_MS % 1000) * 1000};
    evtimer_add(loop->accept_timer, &tv);
    loop->cmd = aconn_create(loop->base, c, "command", ACONN_MASTER, routes_cmd_up, cmd_down, loop);
    loop->sub = aconn_create(loop->base, c, "subscriber", ACONN_MASTER, longpoll_sub_up,
                             longpoll_down, loop);
    failover_watch_start(loop);
    liveness_start(loop);
}

/* On the loop's thread after its loop ended: close Redis (pending callbacks answer 503), end
 * any request still open, then free in reverse order. */
static void loop_teardown(api_loop *loop)
{
    liveness_stop(loop);
    aconn_free(loop->sentinel);
    loop->sentinel = NULL;
    aconn_free(loop->sub);
    loop->sub = NULL;
    aconn_free(loop->cmd);
    loop->cmd = NULL;
    while (loop->requests) {
        req_ctx *x = loop->requests;
        if (!x->req)
            break; /* cannot happen: pending callbacks ran in aconn_free */
        request_error_retry(x, 503, "shutting down", 1);
    }
    evhttp_free(loop->http); /* closes connections and the accepting socket */
    loop->http = NULL;
    waiters_free(loop->waiters);
    event_free(loop->stop_ev);
    event_free(loop->drain_timer);
    event_free(loop->accept_timer);
    event_free(loop->accept_pause);
    if (loop->listen_fd >= 0)
        close(loop->listen_fd);
    free(loop->queue_key);
    free(loop->done_channel);
    free(loop->probe_channel);
    free(loop->enqueue_sha);
    event_base_free(loop->base);
}

static void *loop_thread(void *arg)
{
    api_loop *loop = arg;
    thread_loop = loop;
    metrics_attach((size_t)loop->index); /* this loop's counters, summed at scrape time */
    event_base_dispatch(loop->base);
    loop_teardown(loop);
    return NULL;
}

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

api_server *server_create(const cfg *c, const lang_table *langs)
{
    /* Blocked before the port is bound (a signal may come as soon as clients can connect) and
     * inherited by the loop threads; server_run's sigwait() takes them. */
    sigset_t set;
    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (evthread_use_pthreads() < 0)
        die("cannot set up libevent threading");
    api_server *s = xcalloc(1, sizeof *s);
    s->cfg = c;
    s->listen_fd = bind_socket(c);
    s->n = c->api_threads;
    const char *routes[R_COUNT];
    for (int r = 0; r < R_COUNT; r++)
        routes[r] = route_label((enum route)r);
    metrics_dim_values(DIM_ROUTE, routes, R_COUNT);
    metrics_init(METRICS_API, (size_t)s->n); /* a shard per event loop */
    s->loops = xcalloc((size_t)s->n, sizeof *s->loops);
    for (int i = 0; i < s->n; i++)
        loop_init(&s->loops[i], i, c, langs, s->listen_fd);
    close(s->listen_fd); /* the loops hold their dups */
    s->listen_fd = -1;
    return s;
}

int server_run(api_server *s)
{
    sigset_t set;
    stop_signals(&set);
    int started = 0;
    for (; started < s->n; started++) {
        int rc = pthread_create(&s->loops[started].thread, NULL, loop_thread, &s->loops[started]);
        if (rc != 0) {
            log_error("cannot start loop thread %d: %s", started, strerror(rc));
            break;
        }
    }
    int sig = 0;
    if (started == s->n) {
        log_info("listening on %s:%d with %d event loops", s->cfg->api_host, s->cfg->api_port,
                 s->n);
        sigwait(&set, &sig);
        log_info("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    for (int i = 0; i < started; i++)
        event_active(s->loops[i].stop_ev, EV_READ, 0);
    for (int i = 0; i < started; i++)
        pthread_join(s->loops[i].thread, NULL);
    bool ok = started == s->n && sig != 0;
    log_info("stopped");
    return ok ? 0 : -1;
}

void server_free(api_server *s)
{
    if (!s)
        return;
    free(s->loops);
    free(s);
    metrics_free();
}
