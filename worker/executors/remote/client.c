/* The remote backend's HTTP client of executor-host agents (see client.h). */
#include "client.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/net/curl_dl.h"

#define CAPACITY_MAX (1024 * 1024) /* bytes of a capacity report */
#define PROBE_ANSWER_MS 2000       /* a capacity report comes within this once connected */

struct rclient {
    const cfg *c; /* borrowed */
    char *auth;   /* owned; "Authorization: Bearer <token>", NULL without a token; wiped */
    CURL *h;      /* owned; reused by every call, so its connections stay open */
    char errbuf[CURL_ERROR_SIZE];
};

/* One call's response and progress. */
typedef struct call {
    char *buf; /* owned; the body so far */
    size_t len, cap, max;
    bool too_big;      /* the body went over max */
    long stall_ms;     /* nothing moving this long: hung */
    int64_t moved_ms;  /* monotonic time bytes last moved */
    curl_off_t dl, ul; /* byte counts then */
    bool stalled;      /* the stall check stopped the call */
} call;

const char *rcall_str(rcall r)
{
    switch (r) {
    case RCALL_OK:
        return "ok";
    case RCALL_REFUSED:
        return "refused";
    case RCALL_TLS:
        return "tls";
    case RCALL_BUSY:
        return "busy";
    case RCALL_UNREACHABLE:
        return "unreachable";
    case RCALL_FAILED:
        return "failed";
    case RCALL_REJECTED:
        return "rejected";
    }
    return "?";
}

int rclient_create(const cfg *c, const char *token, rclient **out, char *err, size_t errlen)
{
    *out = NULL;
    if (curl_dl_load("remote", err, errlen) < 0)
        return -1;
    rclient *rc = xcalloc(1, sizeof *rc);
    rc->c = c;
    if (token)
        rc->auth = xasprintf("Authorization: Bearer %s", token);
    rc->h = curl_dl.easy_init();
    if (!rc->h)
        abort(); /* allocation */
    *out = rc;
    return 0;
}

void rclient_free(rclient *rc)
{
    if (!rc)
        return;
    if (rc->h)
        curl_dl.easy_cleanup(rc->h);
    if (rc->auth) {
        explicit_bzero(rc->auth, strlen(rc->auth));
        free(rc->auth);
    }
    free(rc);
}

int rclient_target_parse(const char *url, const char *tls_name, rclient_target *t, char *err,
                         size_t errlen)
{
    memset(t, 0, sizeof *t);
    bool tls = strncmp(url, "https://", 8) == 0;
    if (!tls && strncmp(url, "http://", 7) != 0)
        return set_error(err, errlen, "'%s' is not an http:// or https:// URL", url);
    const char *hp = url + (tls ? 8 : 7);
    size_t n = strcspn(hp, "/?#");
    if (hp[n] && strcmp(hp + n, "/") != 0)
        return set_error(err, errlen, "'%s': give the agent's base URL only (scheme, host, port)",
                         url);
    if (n == 0 || memchr(hp, '@', n))
        return set_error(err, errlen, "'%s' has no host (or has user information)", url);
    const char *host = hp, *host_end, *port = NULL;
    if (hp[0] == '[') {
        host_end = memchr(hp, ']', n);
        if (!host_end)
            return set_error(err, errlen, "'%s': unclosed '['", url);
        host_end++;
        if (host_end < hp + n && *host_end == ':')
            port = host_end + 1;
    } else {
        const char *colon = memchr(hp, ':', n);
        host_end = colon ? colon : hp + n;
        port = colon ? colon + 1 : NULL;
    }
    long p = tls ? 443 : 80;
    if (port) {
        cleanup_free char *ps = xstrndup(port, (size_t)(hp + n - port));
        if (parse_long(ps, 1, 65535, &p) < 0)
            return set_error(err, errlen, "'%s': bad port", url);
    }
    if (host_end == host)
        return set_error(err, errlen, "'%s' has no host", url);
    t->url = xstrndup(url, (size_t)(hp + n - url));
    if (tls && tls_name) {
        t->base = xasprintf("https://%s:%ld", tls_name, p);
        t->connect_to = xasprintf("%s:%ld:%.*s:%ld", tls_name, p, (int)(host_end - host), host, p);
    } else {
        t->base = xstrdup(t->url);
    }
    return 0;
}

void rclient_target_clear(rclient_target *t)
{
    free(t->url);
    free(t->base);
    free(t->connect_to);
    memset(t, 0, sizeof *t);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    call *k = arg;
    size_t n = size * nmemb;
    if (k->len + n > k->max) {
        k->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (k->len + n + 1 > k->cap) {
        k->cap = (k->len + n + 1) * 2 > k->max + 1 ? k->max + 1 : (k->len + n + 1) * 2;
        k->buf = xrealloc(k->buf, k->cap);
    }
    memcpy(k->buf + k->len, data, n);
    k->len += n;
    k->buf[k->len] = '\0';
    return n;
}

/* libcurl calls it about once a second (and whenever bytes move): a host that sends nothing
 * for stall_ms is given up. */
static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)ultotal;
    call *k = arg;
    int64_t now = now_mono_ms();
    if (dlnow != k->dl || ulnow != k->ul) {
        k->dl = dlnow, k->ul = ulnow;
        k->moved_ms = now;
        return 0;
    }
    if (now - k->moved_ms > k->stall_ms) {
        k->stalled = true;
        return 1;
    }
    return 0;
}

/* One request; the curl code, *status (0 without a response) and whether a new connection was
 * made for it. */
static CURLcode perform(rclient *rc, const rclient_target *t, const char *path, const char *body,
                        size_t len, long timeout_ms, call *k, long *status, bool fresh,
                        bool *reused)
{
    const cfg *c = rc->c;
    CURL *h = rc->h;
    curl_dl.easy_reset(h); /* options only: the connection cache stays */
    cleanup_free char *url = xasprintf("%s%s", t->base, path);
    struct curl_slist *hdr = NULL, *to = NULL;
    if (rc->auth)
        hdr = curl_dl.slist_append(hdr, rc->auth);
    hdr = curl_dl.slist_append(hdr, "Content-Type: application/json");
    hdr = curl_dl.slist_append(hdr, "Expect:");
    if (t->connect_to)
        to = curl_dl.slist_append(NULL, t->connect_to);
    rc->errbuf[0] = '\0';
    curl_dl.easy_setopt(h, CURLOPT_URL, url);
    curl_dl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_dl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_dl.easy_setopt(h, CURLOPT_ERRORBUFFER, rc->errbuf);
    curl_dl.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_dl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->remote_connect_timeout * 1000);
    curl_dl.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_dl.easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_dl.easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_dl.easy_setopt(h, CURLOPT_WRITEDATA, k);
    curl_dl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_dl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_dl.easy_setopt(h, CURLOPT_XFERINFODATA, k);
    curl_dl.easy_setopt(h, CURLOPT_MAXCONNECTS, 32L);
    if (fresh)
        curl_dl.easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    if (c->remote_ca_file)
        curl_dl.easy_setopt(h, CURLOPT_CAINFO, c->remote_ca_file);
    if (to)
        curl_dl.easy_setopt(h, CURLOPT_CONNECT_TO, to);
    if (body) {
        curl_dl.easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_dl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    k->moved_ms = now_mono_ms();
    CURLcode rcode = curl_dl.easy_perform(h);
    *status = 0;
    curl_dl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    long connects = 0;
    curl_dl.easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    *reused = connects == 0;
    curl_dl.slist_free_all(hdr);
    curl_dl.slist_free_all(to);
    return rcode;
}

/* The error text of a call that got no usable response. */
static rcall transport_outcome(rclient *rc, const rclient_target *t, CURLcode code, const call *k,
                               char *err, size_t errlen)
{
    const char *detail = rc->errbuf[0] ? rc->errbuf : curl_dl.easy_strerror(code);
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        snprintf(err, errlen, "executor host %s unreachable: %s", t->url, detail);
        return RCALL_UNREACHABLE;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
        snprintf(err, errlen,
                 "executor host %s: TLS failed (%s); check REMOTE_CA_FILE and the host's "
                 "certificate",
                 t->url, detail);
        return RCALL_TLS;
    default:
        break;
    }
    if (k->stalled) {
        snprintf(err, errlen, "executor host %s sent nothing for %ld s: taken for hung", t->url,
                 k->stall_ms / 1000);
        return RCALL_FAILED;
    }
    if (k->too_big) {
        snprintf(err, errlen, "executor host %s: the answer is larger than %zu bytes", t->url,
                 k->max);
        return RCALL_REJECTED;
    }
    if (code == CURLE_OPERATION_TIMEDOUT && k->dl == 0 && k->ul == 0) {
        snprintf(err, errlen, "executor host %s unreachable: %s", t->url, detail);
        return RCALL_UNREACHABLE; /* the connect timed out */
    }
    snprintf(err, errlen, "executor host %s failed: %s", t->url, detail);
    return RCALL_FAILED;
}

/* The "error" of a JSON error body, or the status line's meaning. */
static void http_error(const call *k, const rclient_target *t, long status, char *err,
                       size_t errlen)
{
    json_t *j = k->buf ? json_loadb(k->buf, k->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(j, "error"));
    snprintf(err, errlen, "executor host %s answered %ld: %s", t->url, status,
             msg ? msg : "no reason given");
    json_decref(j);
}

static rcall status_outcome(long status)
{
    if (status == 401 || status == 403)
        return RCALL_REFUSED;
    if (status == 503)
        return RCALL_BUSY;
    if (status >= 400 && status < 500)
        return RCALL_REJECTED;
    return RCALL_FAILED;
}

/* A request, once more on a fresh connection when a kept-alive one turned out dead before
 * anything came back (the host closed it meanwhile, or restarted). */
static rcall call_agent(rclient *rc, const rclient_target *t, const char *path, const char *body,
                        size_t len, long timeout_ms, call *k, long *status, char *err,
                        size_t errlen)
{
    for (int attempt = 0;; attempt++) {
        bool reused;
        k->len = 0;
        k->dl = k->ul = 0;
        k->stalled = k->too_big = false;
        CURLcode code =
            perform(rc, t, path, body, len, timeout_ms, k, status, attempt > 0, &reused);
        if (code == CURLE_OK)
            return RCALL_OK;
        bool nothing_back = *status == 0 && k->dl == 0 && !k->stalled;
        if (attempt == 0 && reused && nothing_back &&
            (code == CURLE_SEND_ERROR || code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING)) {
            log_debug("executor host %s: kept-alive connection was dead; reconnecting", t->url);
            continue;
        }
        return transport_outcome(rc, t, code, k, err, errlen);
    }
}

rcall rclient_job(rclient *rc, const rclient_target *t, const char *body, size_t len,
                  const rclient_limits *lim, json_t **answer, char *err, size_t errlen)
{
    *answer = NULL;
    call k = {.max = lim->max_answer, .stall_ms = (long)rc->c->remote_stall_timeout * 1000};
    long status;
    rcall r = call_agent(rc, t, "/v1/jobs", body, len, lim->timeout_ms, &k, &status, err, errlen);
    if (r == RCALL_OK && status != 200) {
        r = status_outcome(status);
        http_error(&k, t, status, err, errlen);
    } else if (r == RCALL_OK) {
        json_error_t e;
        json_t *a = json_loadb(k.buf ? k.buf : "", k.len, 0, &e); /* newlines, then the answer */
        const char *st = json_string_value(json_object_get(a, "status"));
        const char *why = json_string_value(json_object_get(a, "error"));
        if (st && (strcmp(st, "SUCCESS") == 0 || strcmp(st, "FAILURE") == 0) &&
            json_object_get(a, "result")) {
            *answer = a;
            a = NULL;
        } else if (why) {
            snprintf(err, errlen, "executor host %s failed the job: %s", t->url, why);
            r = RCALL_FAILED;
        } else {
            snprintf(err, errlen, "executor host %s: unreadable answer (%s)", t->url,
                     k.buf && k.len ? e.text : "empty");
            r = RCALL_FAILED;
        }
        json_decref(a);
    }
    free(k.buf);
    return r;
}

rcall rclient_capacity(rclient *rc, const rclient_target *t, json_t **cap, char *err, size_t errlen)
{
    *cap = NULL;
    /* A healthy agent answers at once (its loop never waits on a job): a probe does not wait
     * for a hung one as long as a job call would. */
    call k = {.max = CAPACITY_MAX, .stall_ms = PROBE_ANSWER_MS};
    long status;
    long timeout = (long)rc->c->remote_connect_timeout * 1000 + PROBE_ANSWER_MS;
    rcall r = call_agent(rc, t, "/v1/capacity", NULL, 0, timeout, &k, &status, err, errlen);
    if (r == RCALL_OK && status != 200) {
        r = status_outcome(status);
        http_error(&k, t, status, err, errlen);
    } else if (r == RCALL_OK) {
        json_t *j = json_loadb(k.buf ? k.buf : "", k.len, 0, NULL);
        if (json_is_object(j) && json_is_integer(json_object_get(j, "slots")) &&
            json_is_array(json_object_get(j, "languages"))) {
            *cap = j;
        } else {
            json_decref(j);
            snprintf(err, errlen, "executor host %s: unreadable capacity report", t->url);
            r = RCALL_FAILED;
        }
    }
    free(k.buf);
    return r;
}
