/* Base64 (RFC 4648, standard alphabet, padded) for the request's "base64" option. */
#ifndef CR_B64_H
#define CR_B64_H

#include <stddef.h>

/* Encode len bytes; returns a NUL-terminated string the caller owns. */
char *b64_encode(const void *data, size_t len);
/* Decode a NUL-less string of slen chars; -1 on invalid input. *out (caller owns) is
 * NUL-terminated for convenience, *outlen excludes the NUL. */
int b64_decode(const char *s, size_t slen, char **out, size_t *outlen);

#endif
