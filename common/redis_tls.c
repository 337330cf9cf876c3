/* TLS to Redis: the client context of REDIS_TLS_*, one verifying session per connection, and
 * failures told in words. hiredis's TLS half (with libssl and libcrypto, its dependencies) is
 * loaded with dlopen on first use, so that processes without TLS never map OpenSSL. */
#include "redis_tls.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

#ifdef HIREDICT_MAJOR
/* hiredict's <hiredis/hiredis_ssl.h> shim only renames; the prototypes are in its own header. */
#include <hiredict/hiredict_ssl.h>
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

/* The library that holds redisInitiateSSL, by the SONAME the headers describe, and the symbol
 * (hiredict's shim renames redisX to redictX). */
#ifdef HIREDICT_SONAME
#define SSL_LIBRARY "libhiredict_ssl.so." STR(HIREDICT_SONAME)
#else
#define SSL_LIBRARY "libhiredis_ssl.so." STR(HIREDIS_SONAME)
#endif

/* The functions used, from the library and its dependencies (libssl, libcrypto). Filled once by
 * load_library, all or none, read-only afterwards. */
typedef struct tls_api {
    __typeof__(redisInitiateSSL) *initiate;
    __typeof__(TLS_client_method) *client_method;
    __typeof__(SSL_CTX_new) *ctx_new;
    __typeof__(SSL_CTX_free) *ctx_free;
    __typeof__(SSL_CTX_ctrl) *ctx_ctrl;
    __typeof__(SSL_CTX_set_options) *ctx_set_options;
    __typeof__(SSL_CTX_set_verify) *ctx_set_verify;
    __typeof__(SSL_CTX_load_verify_locations) *ctx_load_verify_locations;
    __typeof__(SSL_CTX_set_default_verify_paths) *ctx_set_default_verify_paths;
    __typeof__(SSL_CTX_use_certificate_chain_file) *ctx_use_certificate_chain_file;
    __typeof__(SSL_CTX_use_PrivateKey_file) *ctx_use_private_key_file;
    __typeof__(SSL_CTX_check_private_key) *ctx_check_private_key;
    __typeof__(SSL_new) *new;
    __typeof__(SSL_free) *free;
    __typeof__(SSL_ctrl) *ctrl;
    __typeof__(SSL_set1_host) *set1_host;
    __typeof__(SSL_set_hostflags) *set_hostflags;
    __typeof__(SSL_get0_param) *get0_param;
    __typeof__(X509_VERIFY_PARAM_set1_ip_asc) *param_set1_ip_asc;
    __typeof__(SSL_get_verify_result) *get_verify_result;
    __typeof__(X509_verify_cert_error_string) *verify_error_string;
    __typeof__(ERR_get_error) *err_get;
    __typeof__(ERR_peek_last_error) *err_peek_last;
    __typeof__(ERR_error_string_n) *err_string_n;
    __typeof__(ERR_reason_error_string) *err_reason;
    __typeof__(ERR_clear_error) *err_clear;
} tls_api;

static tls_api T;

#define AT(field) offsetof(tls_api, field)
static const struct {
    const char *name;
    size_t offset;
} SYMS[] = {
    {STR(redisInitiateSSL), AT(initiate)},
    {"TLS_client_method", AT(client_method)},
    {"SSL_CTX_new", AT(ctx_new)},
    {"SSL_CTX_free", AT(ctx_free)},
    {"SSL_CTX_ctrl", AT(ctx_ctrl)},
    {"SSL_CTX_set_options", AT(ctx_set_options)},
    {"SSL_CTX_set_verify", AT(ctx_set_verify)},
    {"SSL_CTX_load_verify_locations", AT(ctx_load_verify_locations)},
    {"SSL_CTX_set_default_verify_paths", AT(ctx_set_default_verify_paths)},
    {"SSL_CTX_use_certificate_chain_file", AT(ctx_use_certificate_chain_file)},
    {"SSL_CTX_use_PrivateKey_file", AT(ctx_use_private_key_file)},
    {"SSL_CTX_check_private_key", AT(ctx_check_private_key)},
    {"SSL_new", AT(new)},
    {"SSL_free", AT(free)},
    {"SSL_ctrl", AT(ctrl)},
    {"SSL_set1_host", AT(set1_host)},
    {"SSL_set_hostflags", AT(set_hostflags)},
    {"SSL_get0_param", AT(get0_param)},
    {"X509_VERIFY_PARAM_set1_ip_asc", AT(param_set1_ip_asc)},
    {"SSL_get_verify_result", AT(get_verify_result)},
    {"X509_verify_cert_error_string", AT(verify_error_string)},
    {"ERR_get_error", AT(err_get)},
    {"ERR_peek_last_error", AT(err_peek_last)},
    {"ERR_error_string_n", AT(err_string_n)},
    {"ERR_reason_error_string", AT(err_reason)},
    {"ERR_clear_error", AT(err_clear)},
};
_Static_assert(sizeof SYMS / sizeof SYMS[0] * sizeof(void (*)(void)) == sizeof(tls_api),
               "every field of tls_api has its symbol in SYMS");

/* The client context: made once at start-up, shared read-only by every connection (OpenSSL
 * lets threads make sessions from one SSL_CTX). */
struct redis_tls {
    SSL_CTX *ctx;      /* owned */
    char *server_name; /* owned; REDIS_TLS_SERVER_NAME, or NULL: each server's own address */
};

static int load_library(char *err, size_t errlen)
{
    static bool loaded; /* once per process, before any thread (see redis_tls_load) */
    if (loaded)
        return 0;
    /* RTLD_LOCAL: nothing else resolves against it; its own references to hiredis resolve to
     * the hiredis this program is linked with. Never closed. */
    void *lib = dlopen(SSL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return set_error(err, errlen,
                         "REDIS_URL: rediss:// needs hiredis's TLS library %s "
                         "(deploy/install-deps.sh installs it): %s",
                         SSL_LIBRARY, dlerror());
    tls_api t;
    for (size_t i = 0; i < sizeof SYMS / sizeof SYMS[0]; i++) {
        void *p = dlsym(lib, SYMS[i].name);
        if (!p) {
            dlclose(lib);
            return set_error(err, errlen, "REDIS_URL: rediss://: %s or OpenSSL has no %s",
                             SSL_LIBRARY, SYMS[i].name);
        }
        memcpy((char *)&t + SYMS[i].offset, &p, sizeof p); /* POSIX: same representation */
    }
    T = t;
    loaded = true;
    return 0;
}

/* OpenSSL's oldest queued error in words (and the queue emptied), for start-up messages. */
static const char *ssl_error(char *buf, size_t len)
{
    unsigned long e = T.err_get();
    if (e)
        T.err_string_n(e, buf, len);
    else
        snprintf(buf, len, "unknown error");
    T.err_clear();
    return buf;
}

int redis_tls_load(cfg *c, char *err, size_t errlen)
{
    if (!c->redis_tls || c->redis_tls_ctx)
        return 0;
    if (load_library(err, errlen) < 0)
        return -1;
    char why[256];
    SSL_CTX *ctx = T.ctx_new(T.client_method());
    if (!ctx)
        return set_error(err, errlen, "REDIS_URL: cannot make a TLS context: %s",
                         ssl_error(why, sizeof why));
    redis_tls *t = xcalloc(1, sizeof *t);
    t->ctx = ctx;
    t->server_name = c->redis_tls_server_name ? xstrdup(c->redis_tls_server_name) : NULL;
    /* TLS 1.2 at least; the peer's certificate must check out (chain and, per session, name). */
    T.ctx_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
    T.ctx_set_verify(ctx, SSL_VERIFY_PEER, NULL);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* A server that closes without close_notify (killed, failed over) is an ordinary closed
     * connection: RESP frames itself, so a cut reply is seen as incomplete anyway. */
    T.ctx_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    if (c->redis_tls_ca_file) {
        if (T.ctx_load_verify_locations(ctx, c->redis_tls_ca_file, NULL) != 1) {
            set_error(err, errlen, "REDIS_TLS_CA_FILE: no CA certificate in '%s': %s",
                      c->redis_tls_ca_file, ssl_error(why, sizeof why));
            goto fail;
        }
    } else if (T.ctx_set_default_verify_paths(ctx) != 1) {
        set_error(err, errlen, "REDIS_TLS_CA_FILE: unset, and the system's CAs cannot be used: %s",
                  ssl_error(why, sizeof why));
        goto fail;
    }
    if (c->redis_tls_cert_file) {
        if (T.ctx_use_certificate_chain_file(ctx, c->redis_tls_cert_file) != 1) {
            set_error(err, errlen, "REDIS_TLS_CERT_FILE: no certificate in '%s': %s",
                      c->redis_tls_cert_file, ssl_error(why, sizeof why));
            goto fail;
        }
        if (T.ctx_use_private_key_file(ctx, c->redis_tls_key_file, SSL_FILETYPE_PEM) != 1 ||
            T.ctx_check_private_key(ctx) != 1) {
            set_error(err, errlen,
                      "REDIS_TLS_KEY_FILE: '%s' is not the private key of REDIS_TLS_CERT_FILE "
                      "'%s': %s",
                      c->redis_tls_key_file, c->redis_tls_cert_file, ssl_error(why, sizeof why));
            goto fail;
        }
    }
    c->redis_tls_ctx = t;
    return 0;
fail:
    redis_tls_free(t);
    return -1;
}

void redis_tls_free(redis_tls *t)
{
    if (!t)
        return;
    T.ctx_free(t->ctx);
    free(t->server_name);
    free(t);
}

/* Why ssl failed, into buf; NULL when OpenSSL knows no reason. Empties the error queue. */
static const char *explain(SSL *ssl, char *buf, size_t len)
{
    long v = T.get_verify_result(ssl);
    unsigned long e = T.err_peek_last();
    const char *out = buf;
    if (v != X509_V_OK) {
        snprintf(buf, len, "certificate verify failed: %s", T.verify_error_string(v));
    } else if (e) {
        const char *reason = T.err_reason(e);
        if (reason) {
            snprintf(buf, len, "TLS: %s", reason);
        } else {
            char full[200];
            T.err_string_n(e, full, sizeof full);
            snprintf(buf, len, "TLS: %s", full);
        }
    } else {
        out = NULL;
    }
    T.err_clear();
    return out;
}

/* What the server's certificate must name: an address (IP SAN) or a host name (DNS SAN, sent as
 * SNI too). 0, or -1 when OpenSSL refuses the name. */
static int expect_name(SSL *ssl, const char *name)
{
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        return T.param_set1_ip_asc(T.get0_param(ssl), name) == 1 ? 0 : -1;
    T.set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (T.ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)name) != 1)
        return -1;
    return T.set1_host(ssl, name) == 1 ? 0 : -1;
}

int redis_tls_start(const redis_tls *t, redisContext *ctx, const char *host, char *err,
                    size_t errlen)
{
    char why[256];
    SSL *ssl = T.new(t->ctx);
    if (!ssl)
        return set_error(err, errlen, "cannot start TLS: %s", ssl_error(why, sizeof why));
    const char *name = t->server_name ? t->server_name : host;
    if (expect_name(ssl, name) < 0) {
        set_error(err, errlen, "cannot verify the name '%s': %s", name, ssl_error(why, sizeof why));
        T.free(ssl);
        return -1;
    }
    if (T.initiate(ctx, ssl) != REDIS_OK) { /* then ssl is still ours */
        const char *reason = explain(ssl, why, sizeof why);
        set_error(err, errlen, "%s", reason ? reason : ctx->errstr);
        T.free(ssl);
        return -1;
    }
    ctx->privdata = ssl; /* borrowed, for redis_tls_why: ctx frees it (free_privdata stays NULL) */
    return 0;
}

const char *redis_tls_why(const redisContext *ctx, bool setup, char *buf, size_t len)
{
    if (!ctx || !ctx->privdata)
        return NULL;
    if (explain(ctx->privdata, buf, len))
        return buf;
    /* TLS 1.3 ends the client's handshake before the server checks the client's certificate:
     * its refusal is an alert after that, which a reset can overtake. */
    bool cut = ctx->err == REDIS_ERR_EOF ||
               (ctx->err == REDIS_ERR_IO && (strcmp(ctx->errstr, strerror(ECONNRESET)) == 0 ||
                                             strcmp(ctx->errstr, strerror(EPIPE)) == 0));
    if (!setup || !cut)
        return NULL;
    snprintf(buf, len,
             "%s, before the server's first reply (a server that requires a client certificate "
             "closes so when it has none it trusts: REDIS_TLS_CERT_FILE)",
             ctx->errstr[0] ? ctx->errstr : "closed");
    return buf;
}
