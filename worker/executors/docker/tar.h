/* A tar archive built in memory (POSIX ustar, a pax header for names over 100 bytes): the body of
 * PUT /containers/{id}/archive that puts the job's files into its workspace. Binary-safe.
 *
 * API:
 *   docker_tar_add(&t, name, data, len, mode, uid, gid)   append one regular file
 *   docker_tar_finish(&t)                                  append the end-of-archive blocks
 *   docker_tar_clear(&t)                                   free the buffer; t is empty again
 * A docker_tar starts zeroed: docker_tar t = {0}. */
#ifndef CR_DOCKER_TAR_H
#define CR_DOCKER_TAR_H

#include <stddef.h>

/* An archive being built; buf is owned and freed by docker_tar_clear. */
typedef struct docker_tar {
    char *buf;  /* owned; the archive so far */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} docker_tar;

void docker_tar_add(docker_tar *t, const char *name, const void *data, size_t len, unsigned mode,
                    unsigned uid, unsigned gid);
void docker_tar_finish(docker_tar *t);
void docker_tar_clear(docker_tar *t);

#endif
