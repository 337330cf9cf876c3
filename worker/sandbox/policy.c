/* The sandbox user, rlimits, the kernel paths every sandbox masks or makes read-only, and the CPU
 * quota (see policy.h). */
#include "policy.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Docker's, runc's and containerd's (Kubernetes) default lists, with /proc/interrupts (thermal
 * event counts: a side channel; runtimes mask it since 2025), podman's /sys/dev/block and
 * /sys/fs/selinux, and the kernel's debug and security file systems. The per-CPU
 * thermal_throttle directories the runtimes mask too are gone with the host's
 * /sys/devices/system/cpu, which no container sees (cpus.h; gVisor has its own). */
const char *const sandbox_masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/dev/block",
    "/sys/fs/selinux",
    "/sys/kernel/debug",
    "/sys/kernel/security",
    NULL,
};
const char *const sandbox_readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

int sandbox_init_path(char init[PATH_MAX], char *err, size_t errlen)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(err, errlen, "readlink /proc/self/exe: %s", strerror(errno));
        return -1;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    *slash = '\0';
    if (snprintf(init, PATH_MAX, "%s/cr-init", exe) >= PATH_MAX || access(init, X_OK) < 0) {
        snprintf(err, errlen, "%s: not found (cr-init is installed beside the worker)", init);
        return -1;
    }
    return 0;
}

uid_t sandbox_uid(const cfg *c, int slot)
{
    return (uid_t)c->sandbox_uid_base + (uid_t)slot;
}

size_t sandbox_rlimits(const sandbox_rlimit_params *p, sandbox_rlimit out[SANDBOX_NRLIMITS])
{
    const rlim_t inf = RLIM_INFINITY;
    rlim_t cpu_s = p->cpu_time_ms > 0 ? (rlim_t)((p->cpu_time_ms + 999) / 1000) : inf;
    rlim_t fsize = (rlim_t)p->tmp_mb << 20;
    const sandbox_rlimit all[SANDBOX_NRLIMITS] = {
        {RLIMIT_NOFILE, "RLIMIT_NOFILE", "nofile", SANDBOX_NOFILE, SANDBOX_NOFILE},
        {RLIMIT_NPROC, "RLIMIT_NPROC", "nproc", (rlim_t)p->pids, (rlim_t)p->pids},
        {RLIMIT_CORE, "RLIMIT_CORE", "core", 0, 0},
        {RLIMIT_FSIZE, "RLIMIT_FSIZE", "fsize", fsize, fsize},
        {RLIMIT_STACK, "RLIMIT_STACK", "stack", SANDBOX_STACK, inf},
        {RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", "memlock", SANDBOX_MEMLOCK, SANDBOX_MEMLOCK},
        {RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE", "msgqueue", SANDBOX_MSGQUEUE, SANDBOX_MSGQUEUE},
        {RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING", "sigpending", SANDBOX_SIGPENDING,
         SANDBOX_SIGPENDING},
        {RLIMIT_RTPRIO, "RLIMIT_RTPRIO", "rtprio", 0, 0},
        {RLIMIT_NICE, "RLIMIT_NICE", "nice", 0, 0},
        {RLIMIT_CPU, "RLIMIT_CPU", "cpu", cpu_s, cpu_s == inf ? inf : cpu_s + 1},
        {RLIMIT_AS, "RLIMIT_AS", NULL, inf, inf},
        {RLIMIT_DATA, "RLIMIT_DATA", "data", inf, inf},
        {RLIMIT_RSS, "RLIMIT_RSS", "rss", inf, inf},
        {RLIMIT_LOCKS, "RLIMIT_LOCKS", "locks", inf, inf},
        {RLIMIT_RTTIME, "RLIMIT_RTTIME", "rttime", inf, inf},
    };
    memcpy(out, all, sizeof all);
    return SANDBOX_NRLIMITS;
}

long sandbox_cpu_quota_us(double cpus)
{
    long quota = (long)(cpus * SANDBOX_CPU_PERIOD_US);
    return quota < SANDBOX_CPU_MIN_QUOTA_US ? SANDBOX_CPU_MIN_QUOTA_US : quota;
}
