/* The sandbox contract every backend applies, whatever starts the container (the builtin
 * runtime, an OCI runtime from config.json, the Docker Engine): who the program runs as, its
 * file and CPU limits, and the kernel paths it must neither read nor write. The rest of the
 * policy lives beside this file: seccomp.h (the system call filter), env.h (the environment),
 * cgroup.h and cgroup_limits.h (the container's cgroup: limits, accounting, removal). */
#ifndef CR_SANDBOX_POLICY_H
#define CR_SANDBOX_POLICY_H

#include <sys/types.h>

#include "common/config.h"

#define SANDBOX_HOSTNAME "sandbox"
#define SANDBOX_NOFILE 1024           /* RLIMIT_NOFILE, soft and hard */
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

/* Kernel interfaces a program must not read (masked: an empty read-only tmpfs over a
 * directory, /dev/null over a file) or write (read-only), NULL-terminated. Paths the kernel
 * does not have are skipped. */
extern const char *const sandbox_masked_paths[];
extern const char *const sandbox_readonly_paths[];

/* The CPU quota per SANDBOX_CPU_PERIOD_US of cpus cores, at least SANDBOX_CPU_MIN_QUOTA_US. */
long sandbox_cpu_quota_us(double cpus);

#endif
