/* AWS credentials (environment, shared file, IMDSv2) and SigV4-signed EC2 Query API calls
 * through libcurl (see aws.h). */
#include "aws.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "worker/net/curl_dl.h"

#define CALL_TIMEOUT_MS 10000  /* an EC2 call; the worker process waits for it */
#define ANSWER_MAX (16u << 20) /* bytes of an EC2 answer */
#define IMDS_TIMEOUT_MS 3000   /* each metadata request */
#define IMDS_TOKEN_TTL_S 21600 /* the IMDSv2 session token asked for */
#define REFRESH_BEFORE_MS                                                                          \
    300000 /* temporary credentials are fetched again this long before                             \
            * they expire */

/* The credentials in use. Wiped when replaced or freed. */
typedef struct creds {
    char *key_id, *secret, *token; /* owned; token NULL without a session */
    int64_t expires_ms;            /* wall clock; 0: they do not expire */
    const char *source;            /* "environment", "shared credentials file", "instance
                                    * metadata" */
} creds;

struct aws {
    const cfg *c;   /* borrowed */
    char *region;   /* owned */
    char *endpoint; /* owned; without a trailing '/' */
    char *signing;  /* owned; "aws:amz:<region>:ec2" */
    CURL *h;        /* owned; kept for its connections */
    creds cr;
    char *imds_token;         /* owned; the IMDSv2 session token, NULL before one */
    int64_t imds_token_until; /* monotonic */
    char errbuf[CURL_ERROR_SIZE];
};

static void wipe(char **s)
{
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

static void creds_clear(creds *c)
{
    wipe(&c->key_id);
    wipe(&c->secret);
    wipe(&c->token);
    c->expires_ms = 0;
    c->source = NULL;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int aws_create(const cfg *c, aws **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!c->aws_region)
        return set_error(err, errlen, "AWS_REGION is not set");
    if (strspn(c->aws_region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(c->aws_region))
        return set_error(err, errlen, "AWS_REGION: '%s' is not a region name", c->aws_region);
    if (curl_dl_load("remote", err, errlen) < 0)
        return -1;
    aws *a = xcalloc(1, sizeof *a);
    a->c = c;
    a->region = xstrdup(c->aws_region);
    const char *ep = env("AWS_ENDPOINT_URL_EC2");
    if (!ep)
        ep = c->aws_endpoint_url;
    a->endpoint = ep ? xstrdup(ep) : xasprintf("https://ec2.%s.amazonaws.com", a->region);
    size_t n = strlen(a->endpoint);
    while (n && a->endpoint[n - 1] == '/')
        a->endpoint[--n] = '\0';
    if (strncmp(a->endpoint, "https://", 8) != 0 && strncmp(a->endpoint, "http://", 7) != 0) {
        set_error(err, errlen, "AWS_ENDPOINT_URL: '%s' is not an http(s) URL", a->endpoint);
        aws_free(a);
        return -1;
    }
    a->signing = xasprintf("aws:amz:%s:ec2", a->region);
    a->h = curl_dl.easy_init();
    if (!a->h)
        abort();
    *out = a;
    return 0;
}

void aws_free(aws *a)
{
    if (!a)
        return;
    creds_clear(&a->cr);
    wipe(&a->imds_token);
    if (a->h)
        curl_dl.easy_cleanup(a->h);
    free(a->region);
    free(a->endpoint);
    free(a->signing);
    free(a);
}

const char *aws_creds_source(const aws *a)
{
    return a->cr.source ? a->cr.source : "none yet";
}

void aws_form_add(char **form, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t old = *form ? strlen(*form) : 0;
    size_t need = old + 1 + 3 * (strlen(name) + strlen(value)) + 2;
    char *s = xrealloc(*form, need);
    char *o = s + old;
    *o++ = '&';
    for (int part = 0; part < 2; part++) {
        for (const unsigned char *p = (const unsigned char *)(part ? value : name); *p; p++) {
            if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
                *o++ = (char)*p;
            } else {
                *o++ = '%';
                *o++ = hex[*p >> 4];
                *o++ = hex[*p & 15];
            }
        }
        if (!part)
            *o++ = '=';
    }
    *o = '\0';
    *form = s;
}

/* ---- one HTTP request ---- */

typedef struct body {
    char *buf;
    size_t len, max;
} body;

static size_t collect(char *data, size_t size, size_t nmemb, void *arg)
{
    body *b = arg;
    size_t n = size * nmemb;
    if (b->len + n > b->max)
        return 0;
    b->buf = xrealloc(b->buf, b->len + n + 1);
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

/* A request on a's handle; the HTTP status (0 without a response), the body in *b. */
static long request(aws *a, const char *method, const char *url, struct curl_slist *hdr,
                    const char *post, long timeout_ms, bool sign, body *b, char *err, size_t errlen)
{
    CURL *h = a->h;
    curl_dl.easy_reset(h);
    a->errbuf[0] = '\0';
    curl_dl.easy_setopt(h, CURLOPT_URL, url);
    curl_dl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_dl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_dl.easy_setopt(h, CURLOPT_ERRORBUFFER, a->errbuf);
    curl_dl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                        (long)a->c->remote_connect_timeout * 1000 < timeout_ms
                            ? (long)a->c->remote_connect_timeout * 1000
                            : timeout_ms);
    curl_dl.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_dl.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_dl.easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_dl.easy_setopt(h, CURLOPT_WRITEDATA, b);
    if (env("AWS_CA_BUNDLE"))
        curl_dl.easy_setopt(h, CURLOPT_CAINFO, env("AWS_CA_BUNDLE"));
    if (strcmp(method, "PUT") == 0)
        curl_dl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    if (post) {
        curl_dl.easy_setopt(h, CURLOPT_POSTFIELDS, post);
        curl_dl.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(post));
    }
    if (sign) {
        if (curl_dl.easy_setopt(h, CURLOPT_AWS_SIGV4, a->signing) != CURLE_OK) {
            set_error(err, errlen, "this libcurl cannot sign AWS requests (needs 7.75 or later)");
            return 0;
        }
        curl_dl.easy_setopt(h, CURLOPT_USERNAME, a->cr.key_id);
        curl_dl.easy_setopt(h, CURLOPT_PASSWORD, a->cr.secret);
    }
    CURLcode rc = curl_dl.easy_perform(h);
    long status = 0;
    curl_dl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (sign) { /* the secret does not stay in the handle */
        curl_dl.easy_setopt(h, CURLOPT_USERNAME, NULL);
        curl_dl.easy_setopt(h, CURLOPT_PASSWORD, NULL);
    }
    if (rc != CURLE_OK) {
        set_error(err, errlen, "%s: %s", url, a->errbuf[0] ? a->errbuf : curl_dl.easy_strerror(rc));
        return 0;
    }
    return status;
}

/* ---- credentials ---- */

static bool from_env(creds *c)
{
    const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    if (!id || !secret)
        return false;
    c->key_id = xstrdup(id);
    c->secret = xstrdup(secret);
    c->token = env("AWS_SESSION_TOKEN") ? xstrdup(env("AWS_SESSION_TOKEN")) : NULL;
    c->source = "environment";
    return true;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* The profile's keys from the shared credentials file (an INI file). */
static bool from_file(creds *c)
{
    const char *path = env("AWS_SHARED_CREDENTIALS_FILE");
    cleanup_free char *def = NULL;
    if (!path) {
        const char *home = env("HOME");
        if (!home)
            return false;
        path = def = xasprintf("%s/.aws/credentials", home);
    }
    const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[4096];
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        char *l = trim(line);
        if (*l == '#' || *l == ';' || !*l)
            continue;
        if (*l == '[') {
            char *close = strchr(l, ']');
            in = close && (size_t)(close - l - 1) == strlen(profile) &&
                 strncmp(l + 1, profile, strlen(profile)) == 0;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in || !eq)
            continue;
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        char **dst = strcmp(k, "aws_access_key_id") == 0       ? &c->key_id
                     : strcmp(k, "aws_secret_access_key") == 0 ? &c->secret
                     : strcmp(k, "aws_session_token") == 0     ? &c->token
                                                               : NULL;
        if (dst) {
            wipe(dst);
            *dst = xstrdup(v);
        }
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
    if (!c->key_id || !c->secret) {
        creds_clear(c);
        return false;
    }
    c->source = "shared credentials file";
    return true;
}

static const char *imds_base(void)
{
    return env("AWS_EC2_METADATA_SERVICE_ENDPOINT") ? env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                                                    : "http://169.254.169.254";
}

/* An IMDSv2 session token (kept until shortly before it expires). */
static int imds_token(aws *a, char *err, size_t errlen)
{
    if (a->imds_token && now_mono_ms() < a->imds_token_until)
        return 0;
    wipe(&a->imds_token);
    cleanup_free char *url = xasprintf("%s/latest/api/token", imds_base());
    char ttl[64];
    snprintf(ttl, sizeof ttl, "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TOKEN_TTL_S);
    struct curl_slist *hdr = curl_dl.slist_append(NULL, ttl);
    body b = {.max = 4096};
    long st = request(a, "PUT", url, hdr, NULL, IMDS_TIMEOUT_MS, false, &b, err, errlen);
    curl_dl.slist_free_all(hdr);
    if (st != 200 || !b.len) {
        if (st)
            set_error(err, errlen, "instance metadata: token request answered %ld", st);
        free(b.buf);
        return -1;
    }
    a->imds_token = b.buf;
    a->imds_token_until = now_mono_ms() + (IMDS_TOKEN_TTL_S - 60) * 1000L;
    return 0;
}

static char *imds_get(aws *a, const char *path, char *err, size_t errlen)
{
    cleanup_free char *url = xasprintf("%s/latest/meta-data/%s", imds_base(), path);
    cleanup_free char *tok = xasprintf("X-aws-ec2-metadata-token: %s", a->imds_token);
    struct curl_slist *hdr = curl_dl.slist_append(NULL, tok);
    explicit_bzero(tok, strlen(tok));
    body b = {.max = 65536};
    long st = request(a, "GET", url, hdr, NULL, IMDS_TIMEOUT_MS, false, &b, err, errlen);
    curl_dl.slist_free_all(hdr);
    if (st != 200) {
        if (st)
            set_error(err, errlen, "instance metadata: %s answered %ld", path, st);
        if (st == 401) /* the session token expired early: ask for a new one next time */
            wipe(&a->imds_token);
        free(b.buf);
        return NULL;
    }
    return b.buf ? b.buf : xstrdup("");
}

/* "2026-11-29T23:52:12Z" (or with fractions) as wall ms; 0 when unreadable. */
static int64_t iso_ms(const char *s)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end)
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

static bool from_imds(aws *a, creds *c, char *err, size_t errlen)
{
    const char *off = env("AWS_EC2_METADATA_DISABLED");
    if (off && strcasecmp(off, "true") == 0)
        return false;
    if (imds_token(a, err, errlen) < 0)
        return false;
    cleanup_free char *roles = imds_get(a, "iam/security-credentials/", err, errlen);
    if (!roles)
        return false;
    char *nl = strchr(roles, '\n');
    if (nl)
        *nl = '\0';
    if (!*trim(roles)) {
        set_error(err, errlen, "instance metadata: the instance has no IAM role");
        return false;
    }
    cleanup_free char *path = xasprintf("iam/security-credentials/%s", trim(roles));
    char *doc = imds_get(a, path, err, errlen);
    if (!doc)
        return false;
    json_t *j = json_loads(doc, 0, NULL);
    explicit_bzero(doc, strlen(doc));
    free(doc);
    const char *id = json_string_value(json_object_get(j, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(j, "SecretAccessKey"));
    const char *token = json_string_value(json_object_get(j, "Token"));
    bool ok = id && secret;
    if (ok) {
        c->key_id = xstrdup(id);
        c->secret = xstrdup(secret);
        c->token = token ? xstrdup(token) : NULL;
        c->expires_ms = iso_ms(json_string_value(json_object_get(j, "Expiration")));
        c->source = "instance metadata";
    } else {
        set_error(err, errlen, "instance metadata: no AccessKeyId/SecretAccessKey for role %s",
                  trim(roles));
    }
    json_decref(j);
    return ok;
}

/* Credentials to sign with: the current ones while valid, else the chain again. */
static int ensure_creds(aws *a, char *err, size_t errlen)
{
    if (a->cr.key_id &&
        (a->cr.expires_ms == 0 || now_wall_ms() < a->cr.expires_ms - REFRESH_BEFORE_MS))
        return 0;
    creds_clear(&a->cr);
    char why[512] = "";
    if (from_env(&a->cr) || from_file(&a->cr) || from_imds(a, &a->cr, why, sizeof why)) {
        log_info("AWS credentials from the %s", a->cr.source);
        return 0;
    }
    return set_error(err, errlen,
                     "no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID, "
                     "AWS_SECRET_ACCESS_KEY), the shared credentials file or the instance "
                     "metadata service%s%s",
                     *why ? ": " : "", why);
}

int aws_call(aws *a, const char *action, const char *params, xml_node **root, char *err,
             size_t errlen)
{
    *root = NULL;
    if (ensure_creds(a, err, errlen) < 0)
        return -1;
    cleanup_free char *form =
        xasprintf("Action=%s&Version=%s%s", action, AWS_EC2_API_VERSION, params ? params : "");
    struct curl_slist *hdr = curl_dl.slist_append(
        NULL, "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
    cleanup_free char *tok = NULL;
    if (a->cr.token) { /* an x-amz-* header: libcurl signs it with the others */
        tok = xasprintf("X-Amz-Security-Token: %s", a->cr.token);
        hdr = curl_dl.slist_append(hdr, tok);
    }
    cleanup_free char *url = xasprintf("%s/", a->endpoint);
    body b = {.max = ANSWER_MAX};
    char why[512] = "";
    long st = request(a, "POST", url, hdr, form, CALL_TIMEOUT_MS, true, &b, why, sizeof why);
    curl_dl.slist_free_all(hdr);
    if (tok)
        explicit_bzero(tok, strlen(tok));
    if (!st) {
        free(b.buf);
        return set_error(err, errlen, "EC2 %s: %s", action, why);
    }
    xml_node *doc = NULL;
    char xerr[256];
    if (xml_parse(b.buf ? b.buf : "", b.len, &doc, xerr, sizeof xerr) < 0) {
        free(b.buf);
        return set_error(err, errlen, "EC2 %s: HTTP %ld and an unreadable answer (%s)", action, st,
                         xerr);
    }
    free(b.buf);
    if (st != 200) {
        const xml_node *e = xml_find(doc, "Errors/Error");
        set_error(err, errlen, "EC2 %s: %s: %s (HTTP %ld)", action,
                  *xml_text(xml_child(e, "Code")) ? xml_text(xml_child(e, "Code")) : "error",
                  xml_text(xml_child(e, "Message")), st);
        if (strstr(err, "xpired")) /* ExpiredToken: fetch credentials again next time */
            creds_clear(&a->cr);
        xml_free(doc);
        return -1;
    }
    *root = doc;
    return 0;
}
