/* The OCI runtime-spec config.json of one sandbox step: read-only image rootfs, workspace bound
 * at /workspace, size-capped /tmp, fresh namespaces (no network), the slot's uid without
 * capabilities, no_new_privs, seccomp, masked /proc paths, rlimits and cgroup limits; the
 * program runs under cr-init (bound into /dev, a tmpfs of the container: the image stays as is).
 *
 *   oci_spec_build(&p)                         the document (new reference, caller owns); an
 *                                              unlimited rlimit is -1 there (jansson has no
 *                                              unsigned 64-bit numbers)
 *   oci_spec_write(bundle_dir, &p, err, len)   write bundle_dir/config.json, unlimited rlimits
 *                                              as 2^64 - 1 (RLIM_INFINITY); 0/-1 */
#ifndef CR_OCI_SPEC_H
#define CR_OCI_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "worker/sandbox/cpus.h"

#define OCI_INIT_PATH "/dev/.cr/init"     /* where cr-init is, in the container */
#define OCI_STATUS_PATH "/dev/.cr/status" /* where cr-init reports how the program ended */

/* What differs from one step to the next; every pointer is borrowed. */
typedef struct oci_spec_params {
    char *const *argv;       /* program and arguments, resolved in the image's PATH */
    char *const *env;        /* the language's "NAME=value" entries (NULL-terminated, or NULL),
                              * set after the defaults (worker/sandbox/env.h) */
    const char *init;        /* host path of cr-init, bound read-only at OCI_INIT_PATH: the
                              * container's PID 1, running argv (worker/init/cr_init.c) */
    const char *status;      /* host path of the step's status file, bound at OCI_STATUS_PATH */
    const char *rootfs;      /* host path of the image's rootfs, mounted read-only */
    const char *workspace;   /* host path of the job's workspace, bound rw at /workspace */
    const char *cgroup_path; /* linux.cgroupsPath, "/code-runner/<container id>" */
    uid_t uid;               /* the program's uid and gid (worker/sandbox/policy.h) */
    int memory_mb;           /* memory cap; memory+swap is capped at the same value */
    int pids;                /* pids.max and RLIMIT_NPROC */
    bool guest_kernel;       /* gVisor: pids counts in the guest (RLIMIT_NPROC, which its kernel
                              * keeps per sandbox), the host's pids.max only backs it up */
    double cpus;             /* CPU quota in cores (period 100 ms) */
    long cpu_time_ms;        /* CPU-time limit: RLIMIT_CPU (worker/sandbox/policy.h); 0: none */
    const sandbox_cpu_view *cpus_view; /* the CPUs it runs on (linux.resources.cpu.cpus) and
                                        * what it sees of them (worker/sandbox/cpus.h) */
    const char *cpus_dir; /* host directory of cpus_view's files (sandbox_cpus_write), bound
                           * at /sys/devices/system/cpu, /proc/cpuinfo and /proc/stat; NULL:
                           * not bound (gVisor shows the cpuset's CPUs itself) */
    int tmp_mb;           /* size of the /tmp and /dev/shm tmpfs, and RLIMIT_FSIZE */
} oci_spec_params;

json_t *oci_spec_build(const oci_spec_params *p);
int oci_spec_write(const char *bundle_dir, const oci_spec_params *p, char *err, size_t errlen);

#endif
