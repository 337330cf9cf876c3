/* The Docker Engine API client of the docker backend (see client.h): a control handle
 * used with curl_easy_perform (its connection is kept alive between calls) and a stream handle
 * driven by a curl multi handle, so that an attach can stay open while the container starts.
 * libcurl is loaded by the first docker_client_create and called through curl_dl (curl_dl.h). */
#include "client.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/net/curl_dl.h"

#define CALL_TIMEOUT_MS 60000 /* a control request that takes longer: the engine is stuck */
#define POLL_MS 100           /* longest sleep between two looks at the stream */

struct docker_client {
    char *host;            /* owned; DOCKER_HOST as given */
    char *base;            /* owned; "http://localhost/v1.41" or "https://host:port/v1.41" */
    char *socket;          /* owned; unix socket path, NULL for tcp */
    char *ca, *cert, *key; /* owned; TLS files, NULL without DOCKER_TLS_VERIFY */
    CURL *h;               /* owned; control handle */
    CURL *s;               /* owned; stream handle */
    CURLM *m;              /* owned; drives s */
    bool s_added;          /* s is in m */
    bool s_done;           /* s finished (result in s_result) */
    CURLcode s_result;
    bool s_head;      /* the response head of s came */
    bool s_stopped;   /* the sink asked to stop */
    long s_status;    /* HTTP status of s */
    docker_sink sink; /* borrowed; where the body of s goes when the status is 200 */
    void *sink_arg;
    docker_response *s_res;        /* borrowed; collects a non-200 body of s */
    char errbuf[CURL_ERROR_SIZE];  /* control handle's error text */
    char serrbuf[CURL_ERROR_SIZE]; /* stream handle's error text */
};

static bool tls_wanted(void)
{
    const char *v = getenv("DOCKER_TLS_VERIFY");
    return v && *v && strcmp(v, "0") != 0;
}

int docker_client_create(const char *host, docker_client **out, char *err, size_t errlen)
{
    if (curl_dl_load("docker", err, errlen) < 0) /* the first client of the process loads libcurl */
        return -1;
    cleanup_ptr(docker_client) docker_client *c = xcalloc(1, sizeof *c);
    c->host = xstrdup(host);
    if (strncmp(host, "unix://", 7) == 0 && host[7] == '/') {
        c->socket = xstrdup(host + 7);
        c->base = xstrdup("http://localhost/" DOCKER_API_VERSION);
    } else if (strncmp(host, "tcp://", 6) == 0 && host[6]) {
        const char *hp = host + 6;
        size_t n = strcspn(hp, "/");
        bool tls = tls_wanted();
        c->base = xasprintf("%s://%.*s/" DOCKER_API_VERSION, tls ? "https" : "http", (int)n, hp);
        if (tls) {
            const char *dir = getenv("DOCKER_CERT_PATH");
            cleanup_free char *def = NULL;
            if (!dir || !*dir)
                dir = def = xasprintf("%s/.docker", getenv("HOME") ? getenv("HOME") : "/root");
            c->ca = xasprintf("%s/ca.pem", dir);
            c->cert = xasprintf("%s/cert.pem", dir);
            c->key = xasprintf("%s/key.pem", dir);
            if (access(c->ca, R_OK) || access(c->cert, R_OK) || access(c->key, R_OK)) {
                snprintf(err, errlen,
                         "DOCKER_TLS_VERIFY is set but %s/{ca,cert,key}.pem are not all "
                         "readable (DOCKER_CERT_PATH)",
                         dir);
                return -1;
            }
        }
    } else {
        snprintf(err, errlen, "DOCKER_HOST %s: expected unix:///path or tcp://host:port", host);
        return -1;
    }
    c->h = curl_dl.easy_init();
    c->s = curl_dl.easy_init();
    c->m = curl_dl.multi_init();
    if (!c->h || !c->s || !c->m) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    *out = steal_pointer(&c);
    return 0;
}

void docker_client_free(docker_client *c)
{
    if (!c)
        return;
    docker_stream_close(c);
    if (c->m)
        curl_dl.multi_cleanup(c->m);
    if (c->s)
        curl_dl.easy_cleanup(c->s);
    if (c->h)
        curl_dl.easy_cleanup(c->h);
    free(c->host);
    free(c->base);
    free(c->socket);
    free(c->ca);
    free(c->cert);
    free(c->key);
    free(c);
}

const char *docker_client_host(const docker_client *c)
{
    return c->host;
}

bool docker_client_local(const docker_client *c)
{
    return c->socket != NULL;
}

char *docker_escape(const char *s)
{
    char *e = curl_dl.easy_escape(NULL, s, 0);
    if (!e)
        abort();
    char *r = xstrdup(e);
    curl_dl.free(e);
    return r;
}

/* The options every request of a handle needs: where and how to connect. */
static void base_options(docker_client *c, CURL *h, const char *path, char *errbuf)
{
    curl_dl.easy_reset(h); /* keeps the live connection */
    cleanup_free char *url = xasprintf("%s%s", c->base, path);
    curl_dl.easy_setopt(h, CURLOPT_URL, url);
    if (c->socket)
        curl_dl.easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
    if (c->ca) {
        curl_dl.easy_setopt(h, CURLOPT_CAINFO, c->ca);
        curl_dl.easy_setopt(h, CURLOPT_SSLCERT, c->cert);
        curl_dl.easy_setopt(h, CURLOPT_SSLKEY, c->key);
    }
    curl_dl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_dl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    errbuf[0] = '\0';
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    docker_response *r = arg;
    size_t len = size * n;
    r->body = xrealloc(r->body, r->len + len + 1);
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static void transport_error(docker_client *c, CURLcode rc, const char *errbuf, const char *method,
                            const char *path, char *err, size_t errlen)
{
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
        snprintf(err, errlen, "cannot reach the Docker engine at %s (DOCKER_HOST): %s", c->host,
                 *errbuf ? errbuf : curl_dl.easy_strerror(rc));
    else
        snprintf(err, errlen, "Docker engine at %s: %s %s: %s", c->host, method, path,
                 *errbuf ? errbuf : curl_dl.easy_strerror(rc));
}

/* One control request; *timed_out (when not NULL) tells a timeout apart from other failures. */
static int perform(docker_client *c, const char *method, const char *path, const char *type,
                   const void *data, size_t len, long timeout_ms, docker_response *res,
                   bool *timed_out, char *err, size_t errlen)
{
    *res = (docker_response){0};
    if (timed_out)
        *timed_out = false;
    base_options(c, c->h, path, c->errbuf);
    curl_dl.easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
    struct curl_slist *hdrs = curl_dl.slist_append(NULL, "Expect:");
    if (type) {
        cleanup_free char *ct = xasprintf("Content-Type: %s", type);
        hdrs = curl_dl.slist_append(hdrs, ct);
    }
    if (data || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_dl.easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_dl.easy_setopt(c->h, CURLOPT_POSTFIELDS, data ? data : "");
    }
    curl_dl.easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
    curl_dl.easy_setopt(c->h, CURLOPT_WRITEFUNCTION, collect);
    curl_dl.easy_setopt(c->h, CURLOPT_WRITEDATA, res);
    curl_dl.easy_setopt(c->h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    CURLcode rc = curl_dl.easy_perform(c->h);
    curl_dl.easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
    curl_dl.slist_free_all(hdrs);
    if (rc == CURLE_OPERATION_TIMEDOUT && timed_out)
        *timed_out = true;
    if (rc != CURLE_OK) {
        transport_error(c, rc, c->errbuf, method, path, err, errlen);
        docker_response_clear(res);
        return -1;
    }
    curl_dl.easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &res->status);
    if (!res->body)
        res->body = xstrdup("");
    log_debug("docker: %s %s -> %ld", method, path, res->status);
    return 0;
}

int docker_call_raw(docker_client *c, const char *method, const char *path, const char *type,
                    const void *data, size_t len, docker_response *res, char *err, size_t errlen)
{
    return perform(c, method, path, type, data, len, CALL_TIMEOUT_MS, res, NULL, err, errlen);
}

int docker_call_until(docker_client *c, const char *method, const char *path, int64_t deadline,
                      docker_response *res, bool *timed_out, char *err, size_t errlen)
{
    return perform(c, method, path, NULL, NULL, 0, (long)(deadline - now_mono_ms()), res, timed_out,
                   err, errlen);
}

int docker_call(docker_client *c, const char *method, const char *path, json_t *body,
                docker_response *res, char *err, size_t errlen)
{
    cleanup_free char *doc = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !doc)
        abort(); /* jansson fails only when out of memory */
    return docker_call_raw(c, method, path, doc ? "application/json" : NULL, doc,
                           doc ? strlen(doc) : 0, res, err, errlen);
}

json_t *docker_response_json(const docker_response *r)
{
    return r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
}

char *docker_response_message(const docker_response *r)
{
    json_t *j = docker_response_json(r);
    const char *m = json_string_value(json_object_get(j, "message"));
    char *s = m ? xstrdup(m) : r->body && r->len ? xstrndup(r->body, r->len) : NULL;
    json_decref(j);
    if (!s)
        s = xasprintf("HTTP status %ld", r->status);
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

void docker_response_clear(docker_response *r)
{
    if (!r)
        return;
    free(r->body);
    *r = (docker_response){0};
}

/* --- the stream handle ------------------------------------------------------------------- */

static size_t stream_header(char *data, size_t size, size_t n, void *arg)
{
    docker_client *c = arg;
    size_t len = size * n;
    if (len <= 2 && (data[0] == '\r' || data[0] == '\n')) { /* the blank line ending the head */
        curl_dl.easy_getinfo(c->s, CURLINFO_RESPONSE_CODE, &c->s_status);
        if (c->s_status >= 200) /* 1xx heads are followed by the real one */
            c->s_head = true;
    }
    return len;
}

static size_t stream_body(char *data, size_t size, size_t n, void *arg)
{
    docker_client *c = arg;
    size_t len = size * n;
    if (c->s_status != 200)
        return collect(data, size, n, c->s_res);
    if (!c->sink(data, len, c->sink_arg)) {
        c->s_stopped = true;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    return len;
}

/* One round of curl_multi_perform, noting when the stream finished. */
static void drive(docker_client *c)
{
    int running;
    curl_dl.multi_perform(c->m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_dl.multi_info_read(c->m, &left)))
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->s) {
            c->s_done = true;
            c->s_result = msg->data.result;
        }
}

static void wait_a_little(docker_client *c, int64_t deadline)
{
    int64_t left = deadline - now_mono_ms();
    int ms = left < 0 ? 0 : left > POLL_MS ? POLL_MS : (int)left;
    curl_dl.multi_poll(c->m, NULL, 0, ms, NULL);
}

int docker_stream_open(docker_client *c, const char *path, docker_sink sink, void *arg,
                       long timeout_ms, docker_response *res, char *err, size_t errlen)
{
    docker_stream_close(c);
    *res = (docker_response){0};
    base_options(c, c->s, path, c->serrbuf);
    curl_dl.easy_setopt(c->s, CURLOPT_POST, 1L);
    curl_dl.easy_setopt(c->s, CURLOPT_POSTFIELDSIZE, 0L);
    curl_dl.easy_setopt(c->s, CURLOPT_POSTFIELDS, "");
    curl_dl.easy_setopt(c->s, CURLOPT_HEADERFUNCTION, stream_header);
    curl_dl.easy_setopt(c->s, CURLOPT_HEADERDATA, c);
    curl_dl.easy_setopt(c->s, CURLOPT_WRITEFUNCTION, stream_body);
    curl_dl.easy_setopt(c->s, CURLOPT_WRITEDATA, c);
    c->sink = sink, c->sink_arg = arg, c->s_res = res;
    c->s_done = c->s_head = c->s_stopped = false;
    c->s_status = 0;
    curl_dl.multi_add_handle(c->m, c->s);
    c->s_added = true;
    int64_t deadline = now_mono_ms() + timeout_ms;
    while (!c->s_done && !(c->s_head && c->s_status == 200)) {
        if (now_mono_ms() >= deadline) {
            snprintf(err, errlen, "Docker engine at %s: POST %s: no answer within %ld ms", c->host,
                     path, timeout_ms);
            docker_stream_close(c);
            return -1;
        }
        drive(c);
        if (!c->s_done && !(c->s_head && c->s_status == 200))
            wait_a_little(c, deadline);
    }
    if (c->s_done && !c->s_head) {
        transport_error(c, c->s_result, c->serrbuf, "POST", path, err, errlen);
        docker_stream_close(c);
        return -1;
    }
    res->status = c->s_status;
    if (c->s_status != 200) {
        while (!c->s_done && now_mono_ms() < deadline) { /* the rest of the error body */
            drive(c);
            if (!c->s_done)
                wait_a_little(c, deadline);
        }
        if (!res->body)
            res->body = xstrdup("");
        docker_stream_close(c);
    }
    return 0;
}

int docker_stream_pump(docker_client *c, int64_t deadline, docker_stream_end *how, char *err,
                       size_t errlen)
{
    if (!c->s_added) {
        snprintf(err, errlen, "no Docker stream is open");
        return -1;
    }
    for (;;) {
        drive(c);
        if (c->s_done) {
            CURLcode rc = c->s_result;
            bool stopped = c->s_stopped;
            docker_stream_close(c);
            if (stopped) {
                *how = DOCKER_STREAM_STOPPED;
                return 0;
            }
            if (rc != CURLE_OK && rc != CURLE_PARTIAL_FILE && rc != CURLE_RECV_ERROR) {
                transport_error(c, rc, c->serrbuf, "POST", "(stream)", err, errlen);
                return -1;
            }
            *how = DOCKER_STREAM_EOF;
            return 0;
        }
        if (now_mono_ms() >= deadline) {
            *how = DOCKER_STREAM_DEADLINE;
            return 0;
        }
        wait_a_little(c, deadline);
    }
}

void docker_stream_close(docker_client *c)
{
    if (c && c->s_added) {
        curl_dl.multi_remove_handle(c->m, c->s);
        c->s_added = false;
    }
}
