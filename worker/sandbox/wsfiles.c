/* Link-safe file operations on a session's workspace from the host (see wsfiles.h). */
#include "wsfiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_DEPTH 64

static int fail(exec_file_error *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(exec_file_error *e, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->errnum = errnum;
    return -1;
}

/* Why opening a component failed, for the client. */
static int open_failed(exec_file_error *e, const char *path, const char *comp, int errnum)
{
    switch (errnum) {
    case ELOOP:
        return fail(e, ELOOP, "%s: '%s' is a symbolic link (links are not followed)", path, comp);
    case ENOTDIR:
        return fail(e, ENOTDIR, "%s: '%s' is not a directory", path, comp);
    case ENOENT:
        return fail(e, ENOENT, "%s: no such file", path);
    case EXDEV:
        return fail(e, EXDEV, "%s: '%s' is on another file system", path, comp);
    default:
        return fail(e, errnum, "%s: %s", path, strerror(errnum));
    }
}

/* A directory under dirfd, not a link, on device dev; -1 with errno. */
static int open_dir(int dirfd, const char *name, dev_t dev)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || st.st_dev != dev) {
        close(fd);
        errno = EXDEV;
        return -1;
    }
    return fd;
}

/* The directory holding path's last component, opened component by component from the
 * workspace (missing ones made when uid >= 0); *leaf points at the last component in path.
 * Returns the descriptor, or -1 (e). */
static int walk(const char *ws, const char *path, long uid, const char **leaf, dev_t *dev,
                exec_file_error *e)
{
    int fd = open(ws, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return fail(e, EIO, "the workspace is gone: %s", strerror(errno));
    }
    *dev = st.st_dev;
    char comp[256];
    const char *p = path;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (p[n] == '\0') {
            *leaf = p;
            return fd;
        }
        if (n >= sizeof comp) {
            close(fd);
            return fail(e, ENAMETOOLONG, "%s: a component is too long", path);
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        int sub = open_dir(fd, comp, *dev);
        if (sub < 0 && errno == ENOENT && uid >= 0) {
            if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
                int saved = errno;
                close(fd);
                return fail(e, saved == ENOSPC || saved == EDQUOT ? ENOSPC : saved,
                            "%s: cannot make directory '%s': %s", path, comp, strerror(saved));
            }
            /* made by us an instant ago, or by the program in between: either way not
             * followed (AT_SYMLINK_NOFOLLOW), and opened with O_NOFOLLOW below */
            fchownat(fd, comp, (uid_t)uid, (gid_t)uid, AT_SYMLINK_NOFOLLOW);
            sub = open_dir(fd, comp, *dev);
        }
        int saved = errno;
        struct stat lst;
        if (sub < 0 && (saved == ENOTDIR || saved == ELOOP) &&
            fstatat(fd, comp, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode))
            saved = ELOOP; /* O_DIRECTORY says ENOTDIR for a link: say what it is */
        close(fd);
        if (sub < 0)
            return open_failed(e, path, comp, saved);
        fd = sub;
        p += n + 1;
    }
}

/* The regular file leaf in dir, opened for writing: made (owned by uid) when missing; a link,
 * FIFO or socket there is removed (unlinkat: the entry itself, never what it points to) and
 * replaced; a directory is refused. -1 (e) when it cannot be had. */
static int open_for_put(int dir, const char *path, const char *leaf, uid_t uid, dev_t dev,
                        exec_file_error *e)
{
    for (int tries = 0; tries < 3; tries++) {
        int fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            if (fchown(fd, uid, uid) < 0) {
                int saved = errno;
                close(fd);
                return fail(e, saved, "%s: %s", path, strerror(saved));
            }
            return fd;
        }
        if (errno != EEXIST)
            return open_failed(e, path, leaf, errno);
        struct stat st;
        if (fstatat(dir, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile: make it */
        if (S_ISDIR(st.st_mode))
            return fail(e, EISDIR, "%s is a directory", path);
        if (!S_ISREG(st.st_mode)) {
            if (unlinkat(dir, leaf, 0) < 0 && errno != ENOENT)
                return fail(e, errno, "%s: cannot replace it: %s", path, strerror(errno));
            continue;
        }
        /* O_NONBLOCK: whatever was swapped in meanwhile must not block us */
        fd = openat(dir, leaf, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat now;
        if (fd >= 0 && fstat(fd, &now) == 0 && S_ISREG(now.st_mode) && now.st_dev == dev &&
            now.st_ino == st.st_ino)
            return fd;
        if (fd >= 0)
            close(fd);
    }
    return fail(e, EAGAIN, "%s keeps changing under us", path);
}

int wsfiles_put(const char *ws, const char *path, const char *data, size_t len, uid_t uid,
                exec_file_error *e)
{
    const char *leaf;
    dev_t dev;
    cleanup_fd int dir = walk(ws, path, (long)uid, &leaf, &dev, e);
    if (dir < 0)
        return -1;
    cleanup_fd int fd = open_for_put(dir, path, leaf, uid, dev, e);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, 0) < 0 || write_all(fd, data, len) < 0) {
        int saved = errno;
        if (ftruncate(fd, 0) < 0) /* give the space back */
            saved = saved ? saved : errno;
        if (saved == ENOSPC || saved == EDQUOT)
            return fail(e, ENOSPC, "%s: the workspace is full", path);
        return fail(e, saved, "%s: %s", path, strerror(saved));
    }
    return 0;
}

int wsfiles_get(const char *ws, const char *path, size_t max, char **data, size_t *len,
                exec_file_error *e)
{
    *data = NULL;
    *len = 0;
    const char *leaf;
    dev_t dev;
    cleanup_fd int dir = walk(ws, path, -1, &leaf, &dev, e);
    if (dir < 0)
        return -1;
    cleanup_fd int fd = openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return open_failed(e, path, leaf, errno);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return fail(e, errno, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fail(e, EISDIR, "%s is a directory", path);
    if (!S_ISREG(st.st_mode) || st.st_dev != dev)
        return fail(e, EINVAL, "%s is not a regular file", path);
    if ((size_t)st.st_size > max)
        return fail(e, EFBIG, "%s is %lld bytes, over the %zu a download may have", path,
                    (long long)st.st_size, max);
    cleanup_free char *buf = xmalloc(max + 1);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, max + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(e, errno, "%s: %s", path, strerror(errno));
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > max) /* it grew while we read */
            return fail(e, EFBIG, "%s is over the %zu bytes a download may have", path, max);
    }
    buf[got] = '\0';
    *data = steal_pointer(&buf);
    *len = got;
    return 0;
}

/* One entry found by the listing. */
typedef struct entry {
    char *path; /* owned */
    const char *type;
    long long size;
} entry;

typedef struct listing {
    entry *v; /* owned */
    size_t n, cap;
    bool truncated;
} listing;

static void add(listing *l, const char *path, const char *type, long long size)
{
    if (l->n == WSFILES_LIST_MAX) {
        l->truncated = true;
        return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (entry){.path = xstrdup(path), .type = type, .size = size};
}

/* Every entry of directory fd (prefix its path, "" at the top), never through a link nor onto
 * another file system. */
static void scan(int fd, const char *prefix, dev_t dev, int depth, listing *l)
{
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dupfd >= 0 ? fdopendir(dupfd) : NULL;
    if (!d) {
        if (dupfd >= 0)
            close(dupfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) && !l->truncated) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        cleanup_free char *path =
            *prefix ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
        const char *type = S_ISREG(st.st_mode)   ? "file"
                           : S_ISDIR(st.st_mode) ? "directory"
                           : S_ISLNK(st.st_mode) ? "symlink"
                                                 : "other";
        add(l, path, type, S_ISDIR(st.st_mode) ? 0 : (long long)st.st_size);
        if (!S_ISDIR(st.st_mode) || st.st_dev != dev || depth >= MAX_DEPTH)
            continue;
        int sub = open_dir(fd, de->d_name, dev);
        if (sub >= 0) {
            scan(sub, path, dev, depth + 1, l);
            close(sub);
        }
    }
    closedir(d);
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

int wsfiles_list(const char *ws, json_t **files, exec_file_error *e)
{
    *files = NULL;
    cleanup_fd int fd = open(ws, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return fail(e, EIO, "the workspace is gone: %s", strerror(errno));
    listing l = {0};
    scan(fd, "", st.st_dev, 0, &l);
    qsort(l.v, l.n, sizeof *l.v, by_path);
    json_t *a = json_array();
    for (size_t i = 0; i < l.n; i++) {
        json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "path", l.v[i].path, "type",
                                           l.v[i].type, "size", (json_int_t)l.v[i].size));
        free(l.v[i].path);
    }
    free(l.v);
    *files = a;
    return 0;
}
