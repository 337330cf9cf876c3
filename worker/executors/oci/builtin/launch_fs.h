/* The builtin runtime's file system view of a container, built by the container's first process
 * inside its fresh mount namespace (still root, before it drops its privileges): the image's
 * rootfs bound read-only (nosuid, nodev), /proc, a /dev tmpfs with the six usual device nodes,
 * devpts, /dev/shm, mqueue, cr-init's status file under /dev/.cr (cr-init itself is executed
 * from a sealed memfd: no host path of it appears in the container), read-only /sys with the
 * container's own cgroups under /sys/fs/cgroup (the hierarchies it joined, nothing else), its
 * CPUs only under /sys/devices/system/cpu and in /proc/cpuinfo and /proc/stat, a
 * size-capped /tmp, the workspace at /workspace, the masked and read-only kernel paths of
 * worker/sandbox/policy.h; then pivot_root into it and the host's tree detached. The same view an
 * OCI runtime makes from oci/spec.c's config.json.
 *
 *   launch_fs_scan(&cg, &hs, err, errlen)
 *                                     once per process, before any container: note the host's
 *                                     cgroup hierarchies in hs (they are mounted again,
 *                                     ns-rooted, in each container); 0/-1
 *   launch_fs_build(&fs, err, errlen) in the container's first process; 0, or -1 with err set
 *                                     (the process then exits: nothing to undo, the namespace
 *                                     dies with it) */
#ifndef CR_LAUNCH_FS_H
#define CR_LAUNCH_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/sandbox/cgroup.h"
#include "worker/sandbox/cpus.h"

#define LAUNCH_FS_MAX_HIERARCHIES 16

/* The host's cgroup hierarchies a container joins, as each container mounts them again below its
 * /sys/fs/cgroup: on cgroup v1 (or hybrid) the ones holding memory, pids, cpu and cpuacct (data:
 * their controllers, such as "memory" or "cpu,cpuacct"), and no other (the container is not in
 * a cgroup of its own there: they would show the worker's); on a v2 host the whole of
 * /sys/fs/cgroup (name ""). Filled once by launch_fs_scan, read-only afterwards. */
typedef struct launch_fs_hierarchies {
    struct {
        char name[64];  /* directory below /sys/fs/cgroup */
        char data[128]; /* v1 mount data */
        bool v2;
    } h[LAUNCH_FS_MAX_HIERARCHIES];
    size_t n;
} launch_fs_hierarchies;

typedef struct launch_fs {
    const char *rootfs;                   /* host path of the image's rootfs, symlinks resolved */
    const char *workspace;                /* host path of the job's workspace tmpfs */
    const char *status;                   /* host path of this step's status file */
    int tmp_mb;                           /* size of /tmp and /dev/shm */
    const launch_fs_hierarchies *cgroups; /* the host's, mounted at /sys/fs/cgroup */
    const sandbox_cpu_view *cpus;         /* what it sees of its CPUs: a tmpfs of its files at
                                           * /sys/devices/system/cpu, /proc/cpuinfo and
                                           * /proc/stat from files in /dev/.cr */
} launch_fs;

int launch_fs_scan(const cgroup_host *cg, launch_fs_hierarchies *hs, char *err, size_t errlen);
int launch_fs_build(const launch_fs *fs, char *err, size_t errlen);

#endif
