/* Frames between the agent and its job processes, over a socketpair: an 8-byte length in host
 * byte order (both ends are the same binary on the same host), then that many bytes.
 *
 *   frame_write(fd, data, len)          blocking; 0, or -1 with errno
 *   frame_read(fd, max, &data, &len)    blocking; 1 a frame (data owned by the caller, with a NUL
 *                                       after its len bytes), 0 end of stream between frames,
 *                                       -1 error, a stream cut inside a frame or a frame over max
 *   frame_take(buf, max, &data, &len)   from an evbuffer being filled: 1 a frame taken (caller
 *                                       frees data), 0 not whole yet, -1 a frame over max */
#ifndef CR_AGENT_FRAME_H
#define CR_AGENT_FRAME_H

#include <event2/buffer.h>
#include <stddef.h>

/* Nothing either side sends comes near it: a job is bounded by MAX_BODY_BYTES, a result by the
 * output caps. */
#define FRAME_MAX ((size_t)1 << 31)

int frame_write(int fd, const void *data, size_t len);
int frame_read(int fd, size_t max, char **data, size_t *len);
int frame_take(struct evbuffer *buf, size_t max, char **data, size_t *len);

#endif
