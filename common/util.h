/* Small helpers every file uses: allocation that aborts on failure, die() for start-up errors,
 * strict number parsing, cleanup attributes, monotonic time, random hex. */
#ifndef CR_UTIL_H
#define CR_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string; the caller owns it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "program: message" to stderr and exit(1). Start-up and sandbox children only. */
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);

/* Whole-string decimal parsing within [min, max]; 0 on success, -1 otherwise. */
int parse_long(const char *s, long min, long max, long *out);
int parse_double(const char *s, double min, double max, double *out);

/* Milliseconds of CLOCK_MONOTONIC / CLOCK_REALTIME. */
int64_t now_mono_ms(void);
int64_t now_wall_ms(void);

/* Compare two byte strings in time that depends only on their lengths. */
bool const_time_eq(const char *a, size_t alen, const char *b, size_t blen);

/* mkdir -p: each missing component with mode; 0, or -1 with errno. */
int mkdir_p(const char *path, mode_t mode);

/* nbytes (at most 64) random bytes from the kernel as 2*nbytes lower-case hex digits and a NUL
 * in out (2*nbytes+1 bytes). */
void random_hex(char *out, size_t nbytes);

/* Format a message into err (errlen bytes) and return -1: "return set_error(err, errlen, ...)". */
int set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* write(2)/read(2) until done, retrying on EINTR; -1 on error. */
int write_all(int fd, const void *buf, size_t len);

/* Scope-bound ownership, in the manner of bubblewrap's utils.h. A variable declared with one of
 * these attributes is released when it goes out of scope, on every return path, so that code
 * building something in several steps can return -1 from any step and leave nothing behind;
 * once everything is built, steal_pointer() or steal_fd() hands it out and leaves NULL or -1,
 * which the cleanup then ignores.
 *   cleanup_free char *s            free(s)
 *   cleanup_fd int fd               close_fd(&fd): closed if >= 0 (errno kept), then -1
 *   cleanup_pipe int p[2]           both ends, the same way
 *   cleanup_ptr(T) T *p             T's own destructor, declared once with CLEANUP_FUNC(T, fn)
 *                                   (fn must accept NULL) */
static inline void close_fd(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
    *fd = -1;
}
static inline void cleanup_freep(void *p)
{
    void **pp = p;
    free(*pp);
    *pp = NULL;
}
static inline void cleanup_pipep(int (*p)[2])
{
    close_fd(&(*p)[0]);
    close_fd(&(*p)[1]);
}
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_fd __attribute__((cleanup(close_fd)))
#define cleanup_pipe __attribute__((cleanup(cleanup_pipep)))
#define CLEANUP_FUNC(type, fn)                                                                     \
    static inline void cleanup_##type##_ptr(type **p)                                              \
    {                                                                                              \
        fn(*p);                                                                                    \
        *p = NULL;                                                                                 \
    }
#define cleanup_ptr(type) __attribute__((cleanup(cleanup_##type##_ptr)))

static inline void *steal_pointer_any(void *pp)
{
    void **p = pp;
    void *v = *p;
    *p = NULL;
    return v;
}
/* *pp, leaving NULL there. Typed: the value has the type of *pp, so that handing a
 * docker_client * out where a sandbox * is expected does not compile. */
#define steal_pointer(pp) ((__typeof__(*(pp)))steal_pointer_any(pp))
/* *fd, leaving -1 there. */
static inline int steal_fd(int *fd)
{
    int v = *fd;
    *fd = -1;
    return v;
}

#endif
