/* Length-prefixed frames between the agent and its job processes (see frame.h). */
#include "frame.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

int frame_write(int fd, const void *data, size_t len)
{
    uint64_t n = len;
    if (write_all(fd, &n, sizeof n) < 0 || write_all(fd, data, len) < 0)
        return -1;
    return 0;
}

/* Exactly len bytes: 1, 0 on end of stream before the first byte, -1 otherwise. */
static int read_exact(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            if (got == 0)
                return 0;
            errno = EPIPE;
            return -1;
        }
        got += (size_t)r;
    }
    return 1;
}

int frame_read(int fd, size_t max, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    uint64_t n;
    int r = read_exact(fd, &n, sizeof n);
    if (r <= 0)
        return r;
    if (n > max) {
        errno = EMSGSIZE;
        return -1;
    }
    cleanup_free char *buf = xmalloc((size_t)n + 1);
    r = read_exact(fd, buf, (size_t)n);
    if (r != 1) {
        if (r == 0)
            errno = EPIPE; /* cut inside the frame */
        return -1;
    }
    buf[n] = '\0';
    *data = steal_pointer(&buf);
    *len = (size_t)n;
    return 1;
}

int frame_take(struct evbuffer *buf, size_t max, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    uint64_t n;
    if (evbuffer_copyout(buf, &n, sizeof n) < (ev_ssize_t)sizeof n)
        return 0;
    if (n > max)
        return -1;
    if (evbuffer_get_length(buf) < sizeof n + n)
        return 0;
    evbuffer_drain(buf, sizeof n);
    char *out = xmalloc((size_t)n + 1);
    evbuffer_remove(buf, out, (size_t)n);
    out[n] = '\0';
    *data = out;
    *len = (size_t)n;
    return 1;
}
