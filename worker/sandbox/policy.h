/* The sandbox contract every backend applies, whatever starts the container (the builtin
 * runtime, an OCI runtime from config.json, the Docker Engine): who the program runs as, its
 * file and CPU limits, and the kernel paths it must neither read nor write. The rest of the
 * policy lives beside this file: seccomp.h (the system call filter), env.h (the environment),
 * cgroup.h and cgroup_limits.h (the container's cgroup: limits, accounting, removal). */
#ifndef CR_SANDBOX_POLICY_H
#define CR_SANDBOX_POLICY_H

#include <limits.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "common/config.h"

#define SANDBOX_HOSTNAME "sandbox"
#define SANDBOX_NOFILE 1024 /* RLIMIT_NOFILE, soft and hard */
#define SANDBOX_STACK                                                                              \
    (8 << 20)                         /* RLIMIT_STACK soft (hard: unlimited, the program may       \
                                       * raise it: the memory cap bounds what it uses) */
#define SANDBOX_MEMLOCK (8 << 20)     /* RLIMIT_MEMLOCK (the kernel's default since 5.16) */
#define SANDBOX_MSGQUEUE 819200       /* RLIMIT_MSGQUEUE bytes (the kernel's default) */
#define SANDBOX_SIGPENDING 4096       /* RLIMIT_SIGPENDING queued signals */
#define SANDBOX_OOM_SCORE_ADJ 1000    /* the OOM killer takes the program before anything else */
#define SANDBOX_CPU_PERIOD_US 100000  /* CFS period of the CPU quota */
#define SANDBOX_CPU_MIN_QUOTA_US 1000 /* the kernel refuses a smaller quota */

/* The user a worker slot's programs run as, uid and gid alike (no supplementary groups):
 * SANDBOX_UID_BASE + slot. One user per concurrent slot, as isolate has one per box: the
 * kernel's per-user budgets (POSIX message queues, inotify instances and watches, pending
 * signals, pipe pages, in-flight unix descriptors, RLIMIT_NPROC) are then each job's own, and a
 * job cannot spend them for a job running beside it. The user owns the job's workspace; it
 * has no entry in the images' /etc/passwd (nor does isolate's). */
uid_t sandbox_uid(const cfg *c, int slot);

/* One resource limit of a step, soft and hard (RLIM_INFINITY: unlimited). */
typedef struct sandbox_rlimit {
    int resource;       /* RLIMIT_* */
    const char *oci;    /* its name in config.json, "RLIMIT_NOFILE" */
    const char *docker; /* its name in Docker's HostConfig.Ulimits, "nofile"; NULL: Docker has
                         * none (RLIMIT_AS, inherited from the engine's shim there) */
    rlim_t soft, hard;
} sandbox_rlimit;

#define SANDBOX_NRLIMITS 16 /* every RLIMIT_* Linux has */

/* What a step's rlimits depend on. */
typedef struct sandbox_rlimit_params {
    int pids;         /* the step's task limit: RLIMIT_NPROC, which counts the slot user's tasks
                       * (the step's own: the user is the slot's alone) */
    int tmp_mb;       /* RLIMIT_FSIZE, in MiB: the workspace and /tmp size */
    long cpu_time_ms; /* the step's CPU-time limit: RLIMIT_CPU is its seconds (rounded up) soft,
                       * SIGXCPU, and one more hard, SIGKILL; <= 0: unlimited */
} sandbox_rlimit_params;

/* Every rlimit of a step, set explicitly so that nothing is inherited from the worker's own
 * environment (a systemd unit's, a shell's ulimit): NOFILE 1024, NPROC the task limit, CORE
 * 0, FSIZE the workspace size, STACK 8 MiB soft, MEMLOCK 8 MiB, MSGQUEUE 800 KiB, SIGPENDING
 * 4096, RTPRIO 0 (no real-time scheduling: SCHED_FIFO would escape the CPU quota), NICE 0 (no
 * raised priority), CPU the CPU-time limit; AS, DATA, RSS, LOCKS and RTTIME unlimited. Fills
 * out and returns SANDBOX_NRLIMITS. */
size_t sandbox_rlimits(const sandbox_rlimit_params *p, sandbox_rlimit out[SANDBOX_NRLIMITS]);

/* cr-init, the PID 1 of every sandbox (worker/init/cr_init.c), beside the running executable
 * (the worker, or a test tool): its path into init; 0, or -1 (err) when it is not there. */
int sandbox_init_path(char init[PATH_MAX], char *err, size_t errlen);

/* Kernel interfaces a program must not read (masked: an empty read-only tmpfs over a
 * directory, /dev/null over a file) or write (read-only), NULL-terminated. Paths the kernel
 * does not have are skipped. */
extern const char *const sandbox_masked_paths[];
extern const char *const sandbox_readonly_paths[];

/* The CPU quota per SANDBOX_CPU_PERIOD_US of cpus cores, at least SANDBOX_CPU_MIN_QUOTA_US. */
long sandbox_cpu_quota_us(double cpus);

#endif
