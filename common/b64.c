/* Base64 encoding and strict decoding (standard alphabet, padding required). */
#include "b64.h"

#include <stdint.h>

#include "common/util.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    char *out = xmalloc((len + 2) / 3 * 4 + 1), *p = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = alphabet[v >> 6 & 63];
        *p++ = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *p++ = alphabet[v >> 18 & 63];
        *p++ = alphabet[v >> 12 & 63];
        *p++ = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        *p++ = '=';
    }
    *p = 0;
    return out;
}

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int b64_decode(const char *s, size_t slen, char **out, size_t *outlen)
{
    if (slen % 4)
        return -1;
    size_t pad = 0;
    if (slen && s[slen - 1] == '=')
        pad = slen >= 2 && s[slen - 2] == '=' ? 2 : 1;
    char *buf = xmalloc(slen / 4 * 3 + 1);
    size_t n = 0;
    for (size_t i = 0; i < slen; i += 4) {
        int v[4];
        bool last = i + 4 == slen;
        for (int k = 0; k < 4; k++) {
            size_t pos = i + (size_t)k;
            if (last && s[pos] == '=' && pos >= slen - pad) {
                v[k] = 0;
                continue;
            }
            v[k] = value_of(s[pos]);
            if (v[k] < 0) {
                free(buf);
                return -1;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        buf[n++] = (char)(w >> 16);
        if (!(last && pad == 2))
            buf[n++] = (char)(w >> 8 & 255);
        if (!(last && pad >= 1))
            buf[n++] = (char)(w & 255);
    }
    buf[n] = 0;
    *out = buf;
    *outlen = n;
    return 0;
}
