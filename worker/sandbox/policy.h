/* The sandbox contract every backend applies, whatever starts the container (the builtin
 * runtime, an OCI runtime from config.json, the Docker Engine): who the program runs as, its
 * file and CPU limits, and the kernel paths it must neither read nor write. The rest of the
 * policy lives beside this file: seccomp.h (the system call filter), env.h (the environment),
 * cgroup.h and cgroup_limits.h (the container's cgroup: limits, accounting, removal). */
#ifndef CR_SANDBOX_POLICY_H
#define CR_SANDBOX_POLICY_H

#define SANDBOX_UID 65534          /* "nobody" in Debian images; owns the workspace */
#define SANDBOX_GID 65534          /* its group; no supplementary groups */
#define SANDBOX_USER "65534:65534" /* the same as Docker's "User" */
#define SANDBOX_HOSTNAME "sandbox"
#define SANDBOX_NOFILE 1024           /* RLIMIT_NOFILE, soft and hard */
#define SANDBOX_OOM_SCORE_ADJ 1000    /* the OOM killer takes the program before anything else */
#define SANDBOX_CPU_PERIOD_US 100000  /* CFS period of the CPU quota */
#define SANDBOX_CPU_MIN_QUOTA_US 1000 /* the kernel refuses a smaller quota */

/* Kernel interfaces a program must not read (masked: an empty read-only tmpfs over a
 * directory, /dev/null over a file) or write (read-only), NULL-terminated. Paths the kernel
 * does not have are skipped. */
extern const char *const sandbox_masked_paths[];
extern const char *const sandbox_readonly_paths[];

/* The CPU quota per SANDBOX_CPU_PERIOD_US of cpus cores, at least SANDBOX_CPU_MIN_QUOTA_US. */
long sandbox_cpu_quota_us(double cpus);

#endif
