/* The default WORKER_ID (host name plus a suffix kept in STATE_DIR) and the owner token. */
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/redis_model.h"
#include "common/util.h"
#include "worker/heartbeat.h"

#define SUFFIX_HEX 8

static void host_name(char *out, size_t len)
{
    snprintf(out, len, "localhost");
    if (gethostname(out, len - 1) < 0)
        snprintf(out, len, "localhost");
    out[len - 1] = '\0';
    /* WORKER_ID's alphabet: letters, digits, '.', '_', '-' */
    for (char *s = out; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *s))
            *s = '_';
}

/* The suffix kept in path: 0 with SUFFIX_HEX hex digits in out, -1 when the file holds
 * something else. */
static int read_suffix(const char *path, char out[SUFFIX_HEX + 1])
{
    cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    char buf[SUFFIX_HEX + 2];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < SUFFIX_HEX || strspn(buf, "0123456789abcdef") < SUFFIX_HEX)
        return -1;
    memcpy(out, buf, SUFFIX_HEX);
    out[SUFFIX_HEX] = '\0';
    return 0;
}

char *identity_default_worker_id(const cfg *c, char *err, size_t errlen)
{
    if (mkdir_p(c->state_dir, 0755) < 0) {
        set_error(err, errlen, "STATE_DIR: cannot create %s: %s", c->state_dir, strerror(errno));
        return NULL;
    }
    cleanup_free char *path = xasprintf("%s/worker-id", c->state_dir);
    char suffix[SUFFIX_HEX + 1];
    if (read_suffix(path, suffix) < 0) {
        /* Written to a temporary name and linked into place: link() fails when another
         * supervisor starting at the same moment was first, and then its suffix wins. */
        char fresh[SUFFIX_HEX + 1];
        random_hex(fresh, SUFFIX_HEX / 2);
        cleanup_free char *tmp = xasprintf("%s.%d", path, (int)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            set_error(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            return NULL;
        }
        char line[SUFFIX_HEX + 2];
        snprintf(line, sizeof line, "%s\n", fresh);
        int w = write_all(fd, line, SUFFIX_HEX + 1);
        close(fd);
        int linked = w == 0 ? link(tmp, path) : -1;
        int link_errno = errno;
        unlink(tmp);
        if (w < 0 || (linked < 0 && link_errno != EEXIST)) {
            set_error(err, errlen, "cannot write %s: %s", path, strerror(link_errno));
            return NULL;
        }
        if (read_suffix(path, suffix) < 0) {
            set_error(err, errlen, "%s does not hold %d hex digits: remove it", path, SUFFIX_HEX);
            return NULL;
        }
    }
    char host[64];
    host_name(host, sizeof host);
    return xasprintf("%s-%s", host, suffix);
}

/* FNV-1a: a short stable digest of STATE_DIR for the token's place. */
static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* "<host>/<boot id, 8 hex>/<STATE_DIR digest>/": where this supervisor runs. */
static void place(const cfg *c, char *out, size_t len)
{
    char host[64];
    host_name(host, sizeof host);
    char boot[9] = "00000000";
    cleanup_fd int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[64];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n >= 8)
            memcpy(boot, buf, 8);
    }
    char dir[4096];
    const char *d = realpath(c->state_dir, dir) ? dir : c->state_dir;
    snprintf(out, len, "%s/%s/%08x/", host, boot, fnv1a(d));
}

void identity_token(const cfg *c, char out[IDENTITY_TOKEN_MAX])
{
    char where[128];
    place(c, where, sizeof where);
    char rnd[17];
    random_hex(rnd, 8);
    snprintf(out, IDENTITY_TOKEN_MAX, "%s%d/%s", where, (int)getpid(), rnd);
}

/* KEYS[1] owner key; ARGV[1] our token, ARGV[2] our place, ARGV[3] stale ms.
 * Returns {1} when taken, {0, their token, their ttl ms} when someone elsewhere holds it. */
static const char *const SCRIPT_CLAIM_ID =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if not cur or cur == ARGV[1] or string.sub(cur, 1, #ARGV[2]) == ARGV[2] then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])\n"
    "  return {1}\n"
    "end\n"
    "return {0, cur, redis.call('PTTL', KEYS[1])}\n";

/* One attempt: 1 taken, 0 held elsewhere (other, *ttl set), -1 Redis unreachable. */
static int try_claim(rconn *rc, const cfg *c, const char *token, const char *where, char *other,
                     size_t otherlen, long long *ttl)
{
    cleanup_free char *owner = key_owner(c->redis_prefix, c->worker_id);
    char stale[32];
    snprintf(stale, sizeof stale, "%lld", (long long)heartbeat_stale_ms(c));
    const char *argv[] = {"EVAL", SCRIPT_CLAIM_ID, "1", owner, token, where, stale};
    redisReply *r = rconn_commandv(rc, (int)(sizeof argv / sizeof *argv), argv, NULL);
    if (!r)
        return -1;
    int res = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER) {
        if (r->element[0]->integer == 1) {
            res = 1;
        } else if (r->elements == 3 && r->element[1]->type == REDIS_REPLY_STRING &&
                   r->element[2]->type == REDIS_REPLY_INTEGER) {
            snprintf(other, otherlen, "%s", r->element[1]->str);
            *ttl = r->element[2]->integer;
            res = 0;
        }
    }
    if (res < 0)
        log_error("WORKER_ID claim failed: %s",
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return res;
}

int identity_claim(rconn *rc, const cfg *c, const char *token, char *other, size_t otherlen,
                   volatile sig_atomic_t *stop)
{
    char where[128];
    place(c, where, sizeof where);
    long long ttl = 0, last_ttl = -1;
    int64_t give_up = now_mono_ms() + heartbeat_stale_ms(c) + 2000;
    bool told = false;
    for (;;) {
        int r = try_claim(rc, c, token, where, other, otherlen, &ttl);
        if (r != 0)
            return r;
        /* Held from elsewhere: a renewal (the time left grew) proves its owner alive. */
        if ((last_ttl >= 0 && ttl > last_ttl) || now_mono_ms() > give_up || (stop && *stop))
            return 0;
        if (!told)
            log_warn("WORKER_ID %s is held by %s; waiting up to %lld ms to see whether that "
                     "supervisor is alive",
                     c->worker_id, other, ttl);
        told = true;
        last_ttl = ttl;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
