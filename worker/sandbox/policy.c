/* The kernel paths every sandbox masks or makes read-only, and the CPU quota (see policy.h). */
#include "policy.h"

#include <stddef.h>

const char *const sandbox_masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/kernel/debug",
    "/sys/kernel/security",
    NULL,
};
const char *const sandbox_readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

uid_t sandbox_uid(const cfg *c, int slot)
{
    return (uid_t)c->sandbox_uid_base + (uid_t)slot;
}

long sandbox_cpu_quota_us(double cpus)
{
    long quota = (long)(cpus * SANDBOX_CPU_PERIOD_US);
    return quota < SANDBOX_CPU_MIN_QUOTA_US ? SANDBOX_CPU_MIN_QUOTA_US : quota;
}
