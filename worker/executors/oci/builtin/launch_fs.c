/* Building a container's root file system in its own mount namespace, for the builtin runtime
 * (see launch_fs.h). Runs in the container's first process: no allocation after the scan, every
 * failure is reported as "what path: why". */
#include "launch_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "worker/sandbox/cgroup.h"
#include "common/util.h"
#include "worker/executors/oci/spec.h"
#include "worker/sandbox/policy.h"

#define CR_DIR "/dev/.cr"
/* the source or type of a bind, remount or propagation change: ignored by the kernel, but a
 * string rather than NULL keeps valgrind's checks quiet */
#define NONE "none"

/* Mount options that say how, not which controllers: left out of a v1 hierarchy's data. */
static bool generic_option(const char *o)
{
    static const char *const generic[] = {"rw",          "ro",
                                          "nosuid",      "nodev",
                                          "noexec",      "relatime",
                                          "noatime",     "nodiratime",
                                          "strictatime", "clone_children",
                                          "nsdelegate",  "memory_recursiveprot"};
    for (size_t i = 0; i < sizeof generic / sizeof *generic; i++)
        if (strcmp(o, generic[i]) == 0)
            return true;
    return strncmp(o, "release_agent=", 14) == 0;
}

static void note_v1(const struct mntent *e, char *data, size_t size)
{
    char opts[256];
    snprintf(opts, sizeof opts, "%s", e->mnt_opts);
    char *save = NULL;
    for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (generic_option(o))
            continue;
        size_t len = strlen(data);
        snprintf(data + len, size - len, "%s%s", len ? "," : "", o);
    }
}

/* Whether dir is where one of the hierarchies a container joins is mounted. */
static bool joined(const cgroup_host *cg, const char *dir)
{
    for (size_t i = 0; i < CGROUP_V1_N; i++)
        if (cg->v1[i] && strcmp(cg->v1[i], dir) == 0)
            return true;
    return false;
}

int launch_fs_scan(const cgroup_host *cg, launch_fs_hierarchies *hs, char *err, size_t errlen)
{
    *hs = (launch_fs_hierarchies){.n = 0};
    if (cg->v2) {
        hs->h[hs->n++].v2 = true;
        return 0;
    }
    FILE *f = setmntent("/proc/self/mounts", "re");
    if (!f) {
        snprintf(err, errlen, "/proc/self/mounts: %s", strerror(errno));
        return -1;
    }
    struct mntent m, *e;
    char buf[4096];
    while ((e = getmntent_r(f, &m, buf, sizeof buf)) && hs->n < LAUNCH_FS_MAX_HIERARCHIES) {
        /* only the hierarchies a container joins (memory, pids, cpu, cpuacct): any other one,
         * and the hybrid layout's cgroup2, would show the worker's cgroup there, host-wide
         * files (cpu.stat, pressure) of the root on most hosts */
        const char *name = e->mnt_dir + strlen("/sys/fs/cgroup/");
        if (strcmp(e->mnt_type, "cgroup") != 0 || !joined(cg, e->mnt_dir) ||
            strncmp(e->mnt_dir, "/sys/fs/cgroup/", 15) != 0 || !*name || strchr(name, '/') ||
            strlen(name) >= sizeof hs->h[0].name)
            continue;
        hs->h[hs->n].v2 = false;
        snprintf(hs->h[hs->n].name, sizeof hs->h[hs->n].name, "%s", name);
        note_v1(e, hs->h[hs->n].data, sizeof hs->h[hs->n].data);
        hs->n++;
    }
    endmntent(f);
    return 0;
}

/* The child's "path: why" report. */
static int fail(char *err, size_t errlen, const char *what, const char *path)
{
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

/* buf = rootfs + rel; rel starts with '/'. */
static const char *at(char buf[PATH_MAX], const launch_fs *fs, const char *rel)
{
    snprintf(buf, PATH_MAX, "%s%s", fs->rootfs, rel);
    return buf;
}

static int mount_at(const launch_fs *fs, const char *rel, const char *src, const char *type,
                    unsigned long flags, const char *data, char *err, size_t errlen)
{
    char p[PATH_MAX];
    if (mount(src, at(p, fs, rel), type, flags, data) < 0)
        return fail(err, errlen, "mount", p);
    return 0;
}

/* Bind host path src onto rel (a file made for it when missing), then set flags on the bind. */
static int bind_at(const launch_fs *fs, const char *rel, const char *src, unsigned long flags,
                   char *err, size_t errlen)
{
    char p[PATH_MAX];
    at(p, fs, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EISDIR)
        return fail(err, errlen, "create", p);
    if (fd >= 0)
        close(fd);
    if (mount(src, p, NONE, MS_BIND, NULL) < 0)
        return fail(err, errlen, "bind", p);
    if (flags && mount(NONE, p, NONE, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
        return fail(err, errlen, "remount", p);
    return 0;
}

static int make_dir(const launch_fs *fs, const char *rel, mode_t mode, char *err, size_t errlen)
{
    char p[PATH_MAX];
    if (mkdir(at(p, fs, rel), mode) < 0 && errno != EEXIST)
        return fail(err, errlen, "mkdir", p);
    return 0;
}

/* /dev: a small tmpfs with null, zero, full, random, urandom and tty, the usual links, devpts,
 * shm, mqueue, and cr-init's status file. */
static int build_dev(const launch_fs *fs, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        unsigned major, minor;
    } nodes[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                 {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};
    static const char *const links[][2] = {
        {"/proc/self/fd", "/dev/fd"},       {"/proc/self/fd/0", "/dev/stdin"},
        {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
        {"pts/ptmx", "/dev/ptmx"},
    };
    char p[PATH_MAX], opts[64];
    if (mount_at(fs, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k",
                 err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++)
        if (mknod(at(p, fs, nodes[i].name), S_IFCHR | 0666,
                  makedev(nodes[i].major, nodes[i].minor)) < 0)
            return fail(err, errlen, "mknod", p);
    for (size_t i = 0; i < sizeof links / sizeof *links; i++)
        if (symlink(links[i][0], at(p, fs, links[i][1])) < 0)
            return fail(err, errlen, "symlink", p);
    snprintf(opts, sizeof opts, "mode=1777,size=%dm", fs->tmp_mb);
    if (make_dir(fs, "/dev/pts", 0755, err, errlen) < 0 ||
        mount_at(fs, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620", err, errlen) < 0 ||
        make_dir(fs, "/dev/shm", 01777, err, errlen) < 0 ||
        mount_at(fs, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts, err,
                 errlen) < 0 ||
        make_dir(fs, "/dev/mqueue", 0755, err, errlen) < 0 ||
        mount_at(fs, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err,
                 errlen) < 0 ||
        make_dir(fs, CR_DIR, 0755, err, errlen) < 0)
        return -1;
    return bind_at(fs, OCI_STATUS_PATH, fs->status, MS_NOSUID | MS_NODEV | MS_NOEXEC, err, errlen);
}

/* /sys read-only, and under /sys/fs/cgroup the container's own cgroups (the namespace roots
 * them at the container's cgroup), read-only too: the JVM and others size themselves by them. */
static int build_sys(const launch_fs *fs, char *err, size_t errlen)
{
    const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount_at(fs, "/sys", "sysfs", "sysfs", ro, NULL, err, errlen) < 0)
        return -1;
    const launch_fs_hierarchies *hs = fs->cgroups;
    if (hs->n == 1 && !hs->h[0].name[0]) /* a pure v2 host */
        return mount_at(fs, "/sys/fs/cgroup", "cgroup2", "cgroup2", ro, NULL, err, errlen);
    if (mount_at(fs, "/sys/fs/cgroup", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "mode=755,size=64k", err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < hs->n; i++) {
        const bool v2 = hs->h[i].v2;
        const char *data = hs->h[i].data;
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "/sys/fs/cgroup/%s", hs->h[i].name);
        if (make_dir(fs, rel, 0755, err, errlen) < 0 ||
            mount_at(fs, rel, v2 ? "cgroup2" : "cgroup", v2 ? "cgroup2" : "cgroup", ro,
                     v2 ? NULL : data, err, errlen) < 0)
            return -1;
    }
    return mount_at(fs, "/sys/fs/cgroup", NONE, NONE, MS_REMOUNT | ro, "mode=755,size=64k", err,
                    errlen);
}

/* A new file rel (in the container's tree) holding text, read-only for all. */
static int put_file(const launch_fs *fs, const char *rel, const char *text, char *err,
                    size_t errlen)
{
    char p[PATH_MAX];
    int fd = open(at(p, fs, rel), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
    if (fd < 0)
        return fail(err, errlen, "create", p);
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n <= 0) {
            close(fd);
            return fail(err, errlen, "write", p);
        }
        done += (size_t)n;
    }
    close(fd);
    return 0;
}

/* What the step sees of its CPUs (worker/sandbox/cpus.h): a small tmpfs over
 * /sys/devices/system/cpu holding online, possible, present, offline and an empty cpuN
 * directory per CPU, read-only; /proc/cpuinfo and /proc/stat bound from files of /dev/.cr. */
static int build_cpus(const launch_fs *fs, char *err, size_t errlen)
{
    const sandbox_cpu_view *v = fs->cpus;
    const char *dir = "/sys/devices/system/cpu";
    static const char *const lists[] = {"online", "possible", "present"};
    char rel[PATH_MAX];
    if (mount_at(fs, dir, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k",
                 err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
        snprintf(rel, sizeof rel, "%s/%s", dir, lists[i]);
        if (put_file(fs, rel, v->list, err, errlen) < 0)
            return -1;
    }
    snprintf(rel, sizeof rel, "%s/offline", dir);
    if (put_file(fs, rel, "\n", err, errlen) < 0)
        return -1;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        snprintf(rel, sizeof rel, "%s/cpu%d", dir, c);
        if (CPU_ISSET(c, &v->set) && make_dir(fs, rel, 0755, err, errlen) < 0)
            return -1;
    }
    if (mount_at(fs, dir, NONE, NONE, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "mode=755,size=64k", err, errlen) < 0)
        return -1;
    static const char *const procs[][2] = {{CR_DIR "/cpuinfo", "/proc/cpuinfo"},
                                           {CR_DIR "/stat", "/proc/stat"}};
    const char *texts[] = {v->cpuinfo, v->stat};
    for (size_t i = 0; i < 2; i++) {
        char src[PATH_MAX], dst[PATH_MAX];
        if (!texts[i])
            continue; /* the host's could not be read: left as it is */
        if (put_file(fs, procs[i][0], texts[i], err, errlen) < 0)
            return -1;
        at(src, fs, procs[i][0]), at(dst, fs, procs[i][1]);
        if (mount(src, dst, NONE, MS_BIND, NULL) < 0 ||
            mount(NONE, dst, NONE,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            return fail(err, errlen, "bind", dst);
    }
    return 0;
}

/* Masked: an empty read-only tmpfs over a directory, /dev/null over a file. Read-only: bound
 * onto themselves, then remounted read-only. Paths the kernel does not have are skipped. */
static int protect_kernel_paths(const launch_fs *fs, char *err, size_t errlen)
{
    char p[PATH_MAX], null[PATH_MAX];
    at(null, fs, "/dev/null");
    for (size_t i = 0; sandbox_masked_paths[i]; i++) {
        struct stat st;
        if (stat(at(p, fs, sandbox_masked_paths[i]), &st) < 0)
            continue;
        int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs",
                                             MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)
                                     : mount(null, p, NONE, MS_BIND, NULL);
        if (rc < 0)
            return fail(err, errlen, "mask", p);
    }
    for (size_t i = 0; sandbox_readonly_paths[i]; i++) {
        if (access(at(p, fs, sandbox_readonly_paths[i]), F_OK) < 0)
            continue;
        if (mount(p, p, NONE, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NONE, p, NONE,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            return fail(err, errlen, "read-only", p);
    }
    return 0;
}

int launch_fs_build(const launch_fs *fs, char *err, size_t errlen)
{
    char p[PATH_MAX];
    /* nothing mounted here reaches the host, nothing mounted on the host reaches here */
    if (mount(NONE, "/", NONE, MS_REC | MS_PRIVATE, NULL) < 0)
        return fail(err, errlen, "make private", "/");
    if (mount(fs->rootfs, fs->rootfs, NONE, MS_BIND, NULL) < 0)
        return fail(err, errlen, "bind", fs->rootfs);
    if (mount(NONE, fs->rootfs, NONE, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
              NULL) < 0)
        return fail(err, errlen, "remount read-only", fs->rootfs);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "mode=1777,size=%dm", fs->tmp_mb);
    if (mount_at(fs, "/proc", "proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL, err, errlen) <
            0 ||
        build_dev(fs, err, errlen) < 0 || build_sys(fs, err, errlen) < 0 ||
        (fs->cpus && build_cpus(fs, err, errlen) < 0) ||
        mount_at(fs, "/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, tmp, err, errlen) < 0)
        return -1;
    /* the workspace tmpfs is nosuid,nodev on the host; a bind keeps those flags */
    if (mount(fs->workspace, at(p, fs, "/workspace"), NONE, MS_BIND, NULL) < 0)
        return fail(err, errlen, "bind", p);
    if (protect_kernel_paths(fs, err, errlen) < 0)
        return -1;
    if (chdir(fs->rootfs) < 0)
        return fail(err, errlen, "chdir", fs->rootfs);
    /* the new root over the old one, then the old one (the host's tree) detached */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return fail(err, errlen, "pivot_root", fs->rootfs);
    if (umount2(".", MNT_DETACH) < 0)
        return fail(err, errlen, "detach", "the host's root");
    if (chdir("/workspace") < 0)
        return fail(err, errlen, "chdir", "/workspace");
    return 0;
}
