/* Link-safe host file operations for sandbox workspaces and bundles (see fs.h). */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_DEPTH 64 /* deeper trees are left for the next cleanup rather than recursed into */

int fs_mount_workspace(const char *dir, int size_mb, uid_t uid, char *err, size_t errlen)
{
    if (mkdir(dir, 0755) < 0) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    cleanup_free char *opts = xasprintf("size=%dm,nr_inodes=16384,mode=0755,uid=%u,gid=%u", size_mb,
                                        (unsigned)uid, (unsigned)uid);
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
        snprintf(err, errlen, "mount tmpfs on %s: %s", dir, strerror(errno));
        rmdir(dir);
        return -1;
    }
    return 0;
}

int fs_write_new(int dirfd, const char *name, const char *data, size_t len, uid_t uid, char *err,
                 size_t errlen)
{
    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        snprintf(err, errlen, "invalid file name '%s'", name);
        return -1;
    }
    cleanup_fd int fd =
        openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, data, len) < 0 || fchown(fd, uid, uid) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

/* Undo the octal escapes (\040 for a space, ...) of a /proc/self/mountinfo path, in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] && r[3]) {
            *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Mount points at or below path, deepest (last mounted) first; NULL-terminated, caller frees. */
static char **mounts_below(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    size_t n = 0, plen = strlen(path);
    char **v = xcalloc(1, sizeof *v);
    if (!f)
        return v;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char mp[4096];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
            continue;
        unescape(mp);
        if (strncmp(mp, path, plen) == 0 && (mp[plen] == '\0' || mp[plen] == '/')) {
            v = xrealloc(v, (n + 2) * sizeof *v);
            memmove(v + 1, v, n * sizeof *v); /* prepend: reverse mount order */
            v[0] = xstrdup(mp);
            v[++n] = NULL;
        }
    }
    free(line);
    fclose(f);
    return v;
}

void fs_umount_below(const char *path)
{
    char **v = mounts_below(path);
    for (size_t i = 0; v[i]; i++) {
        umount2(v[i], MNT_DETACH | UMOUNT_NOFOLLOW);
        free(v[i]);
    }
    free(v);
}

/* Delete the contents of directory fd (on device dev), never leaving that file system. */
static void remove_children(int fd, dev_t dev, int depth)
{
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dupfd >= 0 ? fdopendir(dupfd) : NULL;
    if (!d) {
        if (dupfd >= 0)
            close(dupfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISDIR(st.st_mode)) {
            unlinkat(fd, e->d_name, 0);
            continue;
        }
        if (st.st_dev != dev || depth >= MAX_DEPTH)
            continue; /* a mount point, or absurdly deep: leave it */
        int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        remove_children(sub, dev, depth + 1);
        close(sub);
        unlinkat(fd, e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

void fs_remove_tree(const char *path)
{
    fs_umount_below(path);
    cleanup_fd int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        unlink(path); /* not a directory (or gone): remove the name itself */
        return;
    }
    remove_children(fd, st.st_dev, 0);
    rmdir(path);
}
