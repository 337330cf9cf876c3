/* The supervisor's /metrics endpoint: accept, read a request head, answer it whole from memory,
 * write it as the socket takes it, close (see metrics_http.h). */
#include "metrics_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/net_listen.h"
#include "common/util.h"

#define HEAD_MAX 8192
#define LISTEN_BACKLOG 64

/* One client connection: read its head into in, then write out, then close. */
typedef struct conn {
    int fd;              /* owned; -1 when the slot is free */
    char in[HEAD_MAX];   /* the request head as read so far */
    size_t in_len;       /* bytes in in */
    char *out;           /* owned; the whole answer once the head is read, NULL before */
    size_t out_len;      /* bytes of out */
    size_t out_off;      /* bytes of out sent */
    int64_t deadline_ms; /* monotonic: closed when not done by then */
} conn;

struct metrics_http {
    const cfg *c;                       /* borrowed */
    int listen_fd;                      /* owned */
    conn conns[METRICS_HTTP_MAX_CONNS]; /* fd -1: free */
};

/* Listen on METRICS_HOST:METRICS_PORT or die() naming the variables. */
static int listen_on(const cfg *c)
{
    struct addrinfo *res;
    char port[16];
    snprintf(port, sizeof port, "%d", c->metrics_port);
    int rc = net_resolve_passive(c->metrics_host, port, &res);
    if (rc != 0)
        die("METRICS_HOST: cannot resolve '%s': %s", c->metrics_host, gai_strerror(rc));
    int fd = net_listen_first(res, LISTEN_BACKLOG);
    int saved = errno;
    freeaddrinfo(res);
    if (fd < 0)
        die("METRICS_HOST/METRICS_PORT: cannot listen on %s:%d: %s", c->metrics_host,
            c->metrics_port, strerror(saved));
    return fd;
}

metrics_http *metrics_http_start(const cfg *c)
{
    if (c->metrics_port == 0)
        return NULL;
    metrics_http *m = xcalloc(1, sizeof *m);
    m->c = c;
    m->listen_fd = listen_on(c);
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
        m->conns[i].fd = -1;
    log_info("metrics on http://%s:%d/metrics", c->metrics_host, c->metrics_port);
    return m;
}

static void conn_close(conn *k)
{
    close_fd(&k->fd);
    free(k->out);
    k->out = NULL;
    k->in_len = k->out_len = k->out_off = 0;
}

void metrics_http_free(metrics_http *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
        if (m->conns[i].fd >= 0)
            conn_close(&m->conns[i]);
    close_fd(&m->listen_fd);
    free(m);
}

static size_t open_conns(const metrics_http *m)
{
    size_t k = 0;
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
        k += m->conns[i].fd >= 0;
    return k;
}

size_t metrics_http_pollfds(metrics_http *m, struct pollfd *pfd, size_t max)
{
    if (!m)
        return 0;
    size_t n = 0;
    /* all slots taken: leave new connections in the backlog */
    if (n < max && open_conns(m) < METRICS_HTTP_MAX_CONNS)
        pfd[n++] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS && n < max; i++)
        if (m->conns[i].fd >= 0)
            pfd[n++] =
                (struct pollfd){.fd = m->conns[i].fd, .events = m->conns[i].out ? POLLOUT : POLLIN};
    return n;
}

int metrics_http_timeout_ms(const metrics_http *m)
{
    if (!m)
        return -1;
    int64_t now = now_mono_ms(), best = -1;
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
        if (m->conns[i].fd >= 0) {
            int64_t left = m->conns[i].deadline_ms > now ? m->conns[i].deadline_ms - now : 0;
            if (best < 0 || left < best)
                best = left;
        }
    return (int)best;
}

/* The answer: status line, headers, body (NULL: none), in k->out. HEAD gets the headers only. */
static void answer(conn *k, int code, const char *reason, const char *extra_headers,
                   const char *type, const char *body, size_t len, bool head)
{
    char *h = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n%s\r\n",
                        code, reason, type, len, extra_headers);
    size_t hl = strlen(h);
    k->out_len = hl + (head ? 0 : len);
    k->out = xmalloc(k->out_len + 1);
    memcpy(k->out, h, hl);
    if (!head && len)
        memcpy(k->out + hl, body, len);
    free(h);
}

static void answer_text(conn *k, int code, const char *reason, const char *extra, const char *msg,
                        bool head)
{
    answer(k, code, reason, extra, "text/plain; charset=utf-8", msg, strlen(msg), head);
}

/* The value of header name in the head (lines after the first), NUL-terminated in place; NULL
 * when absent. */
static char *header_value(char *head, const char *name)
{
    size_t nl = strlen(name);
    for (char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            char *end = strstr(v, "\r\n");
            if (end) {
                while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                    end--;
                *end = '\0';
            }
            return v;
        }
    }
    return NULL;
}

/* A whole head is in k->in (NUL-terminated, up to its blank line): make the answer. */
static void respond(metrics_http *m, conn *k)
{
    char *head = k->in;
    char *sp1 = strchr(head, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    char *eol = strstr(head, "\r\n");
    if (!sp1 || !sp2 || !eol || sp2 > eol || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        answer_text(k, 400, "Bad Request", "", "malformed request\n", false);
        return;
    }
    bool get = sp1 - head == 3 && strncmp(head, "GET", 3) == 0;
    bool head_only = sp1 - head == 4 && strncmp(head, "HEAD", 4) == 0;
    size_t plen = strcspn(sp1 + 1, "? ");
    bool path_ok = plen == strlen("/metrics") && strncmp(sp1 + 1, "/metrics", plen) == 0;
    if (!path_ok) {
        answer_text(k, 404, "Not Found", "", "no such route: this port serves GET /metrics\n",
                    head_only);
        return;
    }
    if (!get && !head_only) {
        answer_text(k, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", "method not allowed\n",
                    false);
        return;
    }
    if (!metrics_authorized(m->c, header_value(head, "Authorization"))) {
        answer_text(k, 401, "Unauthorized", "WWW-Authenticate: Bearer\r\n",
                    "missing or invalid token (Authorization: Bearer <METRICS_TOKEN, or an API "
                    "key when it is unset>)\n",
                    head_only);
        return;
    }
    metrics_text t = {0};
    metrics_render(&t);
    answer(k, 200, "OK", "", METRICS_CONTENT_TYPE, t.s ? t.s : "", t.len, head_only);
    metrics_text_free(&t);
}

/* Read what the socket has; make the answer once the head is whole. false: close it. */
static bool on_readable(metrics_http *m, conn *k)
{
    for (;;) {
        ssize_t r = recv(k->fd, k->in + k->in_len, sizeof k->in - 1 - k->in_len, 0);
        if (r == 0)
            return false; /* the client went away before asking */
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        k->in_len += (size_t)r;
        k->in[k->in_len] = '\0';
        char *end = strstr(k->in, "\r\n\r\n");
        if (end) {
            end[2] = '\0'; /* keep the last header's CRLF */
            respond(m, k);
            return true;
        }
        if (k->in_len == sizeof k->in - 1) {
            answer_text(k, 431, "Request Header Fields Too Large", "", "request head too large\n",
                        false);
            return true;
        }
    }
}

/* Send what the socket takes. false: done or failed, close it. */
static bool on_writable(conn *k)
{
    while (k->out_off < k->out_len) {
        ssize_t w = send(k->fd, k->out + k->out_off, k->out_len - k->out_off, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        k->out_off += (size_t)w;
    }
    return false;
}

static void accept_all(metrics_http *m)
{
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++) {
        conn *k = &m->conns[i];
        if (k->fd >= 0)
            continue;
        k->fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (k->fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("metrics: accept: %s", strerror(errno));
            return;
        }
        k->deadline_ms = now_mono_ms() + METRICS_HTTP_TIMEOUT_MS;
    }
}

static conn *conn_of(metrics_http *m, int fd)
{
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
        if (m->conns[i].fd == fd)
            return &m->conns[i];
    return NULL;
}

void metrics_http_handle(metrics_http *m, const struct pollfd *pfd, size_t n)
{
    if (!m)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!pfd[i].revents)
            continue;
        if (pfd[i].fd == m->listen_fd) {
            accept_all(m);
            continue;
        }
        conn *k = conn_of(m, pfd[i].fd);
        if (!k)
            continue;
        bool keep = !(pfd[i].revents & (POLLERR | POLLNVAL));
        if (keep && !k->out)
            keep = on_readable(m, k); /* EOF (POLLHUP) reads as 0: closed */
        if (keep && k->out)
            keep = on_writable(k); /* at once: most answers fit the socket's buffer */
        if (!keep)
            conn_close(k);
    }
    int64_t now = now_mono_ms();
    for (size_t i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
        if (m->conns[i].fd >= 0 && now >= m->conns[i].deadline_ms)
            conn_close(&m->conns[i]);
}
