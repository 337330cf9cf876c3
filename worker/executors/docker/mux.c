/* The stream demultiplexer of the docker backend (see mux.h). */
#include "mux.h"

#include <string.h>

#include "common/util.h"

/* Keep what fits of n payload bytes of stream s. */
static void keep(docker_mux *m, int s, const char *p, size_t n)
{
    char **buf = s == 2 ? &m->err : &m->out;
    size_t *len = s == 2 ? &m->err_len : &m->out_len;
    size_t *total = s == 2 ? &m->err_total : &m->out_total;
    *total += n;
    if (*total > m->cap)
        m->over = true;
    size_t room = m->cap - *len;
    if (n > room)
        n = room;
    if (n == 0)
        return;
    *buf = xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

bool docker_mux_feed(docker_mux *m, const char *data, size_t len)
{
    while (len > 0) {
        if (m->left == 0) {
            size_t n = sizeof m->hdr - m->hdr_len;
            if (n > len)
                n = len;
            memcpy(m->hdr + m->hdr_len, data, n);
            m->hdr_len += n, data += n, len -= n;
            if (m->hdr_len < sizeof m->hdr)
                break;
            m->hdr_len = 0;
            m->stream = m->hdr[0];
            m->left = (uint32_t)m->hdr[4] << 24 | (uint32_t)m->hdr[5] << 16 |
                      (uint32_t)m->hdr[6] << 8 | m->hdr[7];
            continue;
        }
        size_t n = len < m->left ? len : m->left;
        if (m->stream == 1 || m->stream == 2)
            keep(m, m->stream, data, n);
        m->left -= (uint32_t)n, data += n, len -= n;
    }
    return !m->over;
}

void docker_mux_clear(docker_mux *m)
{
    if (!m)
        return;
    free(m->out);
    free(m->err);
    *m = (docker_mux){.cap = m->cap};
}
