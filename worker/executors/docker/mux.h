/* Demultiplexing the Docker Engine's attach/logs stream of a container without a TTY: frames of
 * an 8-byte header (stream type: 1 stdout, 2 stderr; 3 zero bytes; big-endian payload length)
 * and the payload. Frames may be split anywhere between network reads.
 *
 * API:
 *   docker_mux_feed(&m, data, len)  consume bytes; false once stdout or stderr went over the cap
 *                                   (what fits the cap is kept, the rest dropped).
 *   docker_mux_clear(&m)            free the buffers.
 * A docker_mux starts as (docker_mux){.cap = N}; out/err are owned until taken. */
#ifndef CR_DOCKER_MUX_H
#define CR_DOCKER_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The state of one stream being demultiplexed. */
typedef struct docker_mux {
    size_t cap; /* bytes kept per stream; more than this is over the cap */
    char *out;  /* owned; stdout kept so far (at most cap bytes) */
    size_t out_len;
    char *err; /* owned; stderr kept so far (at most cap bytes) */
    size_t err_len;
    size_t out_total;     /* stdout bytes seen, kept or not */
    size_t err_total;     /* stderr bytes seen, kept or not */
    bool over;            /* stdout or stderr went over cap */
    unsigned char hdr[8]; /* header being read */
    size_t hdr_len;       /* header bytes read so far */
    uint32_t left;        /* payload bytes of the current frame still to come */
    int stream;           /* stream type of the current frame */
} docker_mux;

bool docker_mux_feed(docker_mux *m, const char *data, size_t len);
void docker_mux_clear(docker_mux *m);

#endif
