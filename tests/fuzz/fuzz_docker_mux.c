/* Fuzz target: the Docker attach-stream demultiplexer (worker/executors/docker/mux.c). The
 * stream is fed in pieces cut at fuzzer-chosen places, as network reads cut it, and the result
 * is compared with a whole-buffer reference demultiplexer: same bytes kept per stream, totals,
 * cap respected, over-the-cap flag.
 * Input: byte 0 = cap (0..255), byte 1 = seed of the cut points, the rest = the stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/executors/docker/mux.h"

/* The frames of the whole stream, read in one go; a frame cut short by the end counts what
 * arrived. */
static void reference(const uint8_t *d, size_t n, size_t cap, char *out, size_t *out_len,
                      size_t *out_total, char *err, size_t *err_len, size_t *err_total)
{
    *out_len = *out_total = *err_len = *err_total = 0;
    size_t i = 0;
    while (n - i >= 8) {
        int stream = d[i];
        size_t len =
            (size_t)d[i + 4] << 24 | (size_t)d[i + 5] << 16 | (size_t)d[i + 6] << 8 | d[i + 7];
        i += 8;
        if (len > n - i)
            len = n - i;
        if (stream == 1 || stream == 2) {
            char *buf = stream == 1 ? out : err;
            size_t *kept = stream == 1 ? out_len : err_len;
            size_t *total = stream == 1 ? out_total : err_total;
            for (size_t k = 0; k < len; k++)
                if (*kept < cap)
                    buf[(*kept)++] = (char)d[i + k];
            *total += len;
        }
        i += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t cap = data[0];
    unsigned seed = data[1];
    data += 2, size -= 2;

    docker_mux m = {.cap = cap};
    bool ok = true;
    size_t at = 0;
    while (at < size) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 16) % 23; /* 1..23 bytes: splits headers and payloads */
        if (piece > size - at)
            piece = size - at;
        ok = docker_mux_feed(&m, (const char *)data + at, piece);
        at += piece;
    }
    if (size == 0)
        ok = docker_mux_feed(&m, "", 0);

    char out[256], err[256];
    size_t out_len, out_total, err_len, err_total;
    reference(data, size, cap, out, &out_len, &out_total, err, &err_len, &err_total);
    bool over = out_total > cap || err_total > cap;
    if (m.out_len != out_len || m.err_len != err_len || m.out_total != out_total ||
        m.err_total != err_total || m.over != over || ok != !over)
        abort();
    if ((out_len && memcmp(m.out, out, out_len) != 0) || (err_len && memcmp(m.err, err, err_len)))
        abort();
    if ((m.out && m.out[m.out_len] != '\0') || (m.err && m.err[m.err_len] != '\0'))
        abort();
    docker_mux_clear(&m);
    if (m.out || m.err || m.cap != cap)
        abort();
    return 0;
}
