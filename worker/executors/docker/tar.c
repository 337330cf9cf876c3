/* The in-memory tar writer of the docker backend (see tar.h): 512-byte ustar headers,
 * a pax "path" record when a name does not fit the 100-byte field, contents padded to 512. */
#include "tar.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

#define BLOCK 512

/* The ustar header, field by field (POSIX.1-1988 layout). */
struct ustar {
    char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8], typeflag;
    char linkname[100], magic[6], version[2], uname[32], gname[32], devmajor[8], devminor[8];
    char prefix[155], pad[12];
};
_Static_assert(sizeof(struct ustar) == BLOCK, "ustar header is one block");

/* Room for n more bytes, zero-filled. */
static char *grow(docker_tar *t, size_t n)
{
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap : 8 * BLOCK;
        while (cap < t->len + n)
            cap *= 2;
        t->buf = xrealloc(t->buf, cap);
        t->cap = cap;
    }
    char *p = t->buf + t->len;
    memset(p, 0, n);
    t->len += n;
    return p;
}

/* An octal field of width w (w-1 digits and a NUL), as every tar reader accepts. */
static void octal(char *field, size_t w, unsigned long long v)
{
    /* Written right to left; a value too large for the field keeps its low digits (callers
     * check sizes against the field first). */
    field[w - 1] = 0;
    for (size_t i = w - 1; i-- > 0; v >>= 3)
        field[i] = (char)('0' + (v & 7));
}

static void header(docker_tar *t, const char *name, size_t size, char type, unsigned mode,
                   unsigned uid, unsigned gid)
{
    struct ustar h;
    memset(&h, 0, sizeof h);
    /* may fill the field without a NUL, as ustar allows */
    memcpy(h.name, name, strnlen(name, sizeof h.name));
    octal(h.mode, sizeof h.mode, mode & 07777);
    octal(h.uid, sizeof h.uid, uid);
    octal(h.gid, sizeof h.gid, gid);
    octal(h.size, sizeof h.size, size);
    octal(h.mtime, sizeof h.mtime, (unsigned long long)time(NULL));
    h.typeflag = type;
    memcpy(h.magic, "ustar", 6);
    memcpy(h.version, "00", 2);
    memset(h.chksum, ' ', sizeof h.chksum);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof h; i++)
        sum += ((unsigned char *)&h)[i];
    snprintf(h.chksum, sizeof h.chksum, "%06o", sum); /* six digits, NUL, space */
    h.chksum[7] = ' ';
    memcpy(grow(t, BLOCK), &h, BLOCK);
}

static void contents(docker_tar *t, const void *data, size_t len)
{
    if (len)
        memcpy(grow(t, len), data, len);
    if (len % BLOCK)
        grow(t, BLOCK - len % BLOCK);
}

/* A pax record is "<len> path=<name>\n" where <len> counts the whole record, itself included. */
static char *pax_path(const char *name, size_t *out_len)
{
    size_t body = strlen(" path=\n") + strlen(name), n = body + 1;
    while (snprintf(NULL, 0, "%zu", n) + body != n)
        n++;
    *out_len = n;
    return xasprintf("%zu path=%s\n", n, name);
}

void docker_tar_add(docker_tar *t, const char *name, const void *data, size_t len, unsigned mode,
                    unsigned uid, unsigned gid)
{
    if (strlen(name) > sizeof((struct ustar *)0)->name) {
        size_t plen;
        cleanup_free char *rec = pax_path(name, &plen);
        header(t, "PaxHeaders/long-name", plen, 'x', 0644, 0, 0);
        contents(t, rec, plen);
    }
    header(t, name, len, '0', mode, uid, gid);
    contents(t, data, len);
}

void docker_tar_finish(docker_tar *t)
{
    grow(t, 2 * BLOCK);
}

void docker_tar_clear(docker_tar *t)
{
    if (!t)
        return;
    free(t->buf);
    *t = (docker_tar){0};
}
