/* Unit tests for worker/sandbox: the slot's user, every rlimit's value, the seccomp profile's
 * shape, a step's CPUs and CPU files, and a container cgroup made exclusively (a real cgroup of
 * this host: needs root). */
#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "tests/unit/check.h"
#include "common/util.h"
#include "worker/sandbox/cgroup.h"
#include "worker/sandbox/cgroup_limits.h"
#include "worker/sandbox/cpus.h"
#include "worker/sandbox/policy.h"
#include "worker/sandbox/seccomp.h"

static const sandbox_rlimit *find(const sandbox_rlimit *rl, size_t n, int resource)
{
    for (size_t i = 0; i < n; i++)
        if (rl[i].resource == resource)
            return &rl[i];
    return NULL;
}

/* Whether the profile has a rule with this action (errno_ret < 0: allow) naming name. */
static bool has_rule(json_t *profile, const char *name, int errno_ret, bool with_args)
{
    size_t i, j;
    json_t *r, *n;
    json_array_foreach(json_object_get(profile, "syscalls"), i, r)
    {
        bool allow = strcmp(json_string_value(json_object_get(r, "action")), "SCMP_ACT_ALLOW") == 0;
        if (allow != (errno_ret < 0) || (with_args != (json_object_get(r, "args") != NULL)) ||
            (!allow && json_integer_value(json_object_get(r, "errnoRet")) != errno_ret))
            continue;
        json_array_foreach(json_object_get(r, "names"), j, n)
        {
            if (strcmp(json_string_value(n), name) == 0)
                return true;
        }
    }
    return false;
}

int main(void)
{
    test("one user per slot");
    cfg c = {.sandbox_uid_base = 60000};
    check(sandbox_uid(&c, 0) == 60000 && sandbox_uid(&c, 3) == 60003);

    test("every rlimit, explicitly");
    sandbox_rlimit rl[SANDBOX_NRLIMITS];
    size_t n = sandbox_rlimits(
        &(sandbox_rlimit_params){.pids = 50, .tmp_mb = 64, .cpu_time_ms = 2500}, rl);
    check(n == SANDBOX_NRLIMITS);
    static const int all[] = {RLIMIT_NOFILE, RLIMIT_NPROC,   RLIMIT_CORE,     RLIMIT_FSIZE,
                              RLIMIT_STACK,  RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, RLIMIT_SIGPENDING,
                              RLIMIT_RTPRIO, RLIMIT_NICE,    RLIMIT_CPU,      RLIMIT_AS,
                              RLIMIT_DATA,   RLIMIT_RSS,     RLIMIT_LOCKS,    RLIMIT_RTTIME};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        check(find(rl, n, all[i]) != NULL);
    check(find(rl, n, RLIMIT_NPROC)->soft == 50 && find(rl, n, RLIMIT_NPROC)->hard == 50);
    check(find(rl, n, RLIMIT_FSIZE)->hard == 64 << 20);
    check(find(rl, n, RLIMIT_RTPRIO)->hard == 0 && find(rl, n, RLIMIT_NICE)->hard == 0);
    check(find(rl, n, RLIMIT_CORE)->hard == 0);
    /* CPU: seconds rounded up, SIGXCPU at the soft limit, SIGKILL one second later */
    check(find(rl, n, RLIMIT_CPU)->soft == 3 && find(rl, n, RLIMIT_CPU)->hard == 4);
    check(find(rl, n, RLIMIT_STACK)->soft == 8 << 20 &&
          find(rl, n, RLIMIT_STACK)->hard == RLIM_INFINITY);
    check(find(rl, n, RLIMIT_AS)->docker == NULL); /* Docker has no "as" ulimit */
    sandbox_rlimits(&(sandbox_rlimit_params){.pids = 1, .tmp_mb = 1, .cpu_time_ms = 0}, rl);
    check(find(rl, n, RLIMIT_CPU)->soft == RLIM_INFINITY);

    test("seccomp: an allow-list, ENOSYS for the rest");
    json_t *p = sandbox_seccomp_json(false);
    check_str(json_string_value(json_object_get(p, "defaultAction")), "SCMP_ACT_ERRNO");
    check(json_integer_value(json_object_get(p, "defaultErrnoRet")) == ENOSYS);
    check(has_rule(p, "read", -1, false) && has_rule(p, "execve", -1, false));
    check(has_rule(p, "mount", EPERM, false) && has_rule(p, "ptrace", EPERM, false));
    check(has_rule(p, "clone", -1, true) && has_rule(p, "clone", EPERM, true));
    check(has_rule(p, "socket", -1, true) && has_rule(p, "socket", EAFNOSUPPORT, true));
    check(has_rule(p, "clone3", ENOSYS, false) && !has_rule(p, "socket", -1, false));
    check(!has_rule(p, "statmount", -1, false) && !has_rule(p, "socketcall", -1, false));
    json_decref(p);
    p = sandbox_seccomp_json(true); /* gVisor says ENOSYS for clone3 itself */
    check(has_rule(p, "clone3", -1, false));
    json_decref(p);
    struct sock_fprog prog;
    char err[256] = "";
    check(sandbox_seccomp_bpf(&prog, err, sizeof err) == 0 && prog.len > 10);
    free(prog.filter);

    test("a step's CPUs: its slot's share, and what it sees of them");
    sandbox_cpus_host ch = {.n = 4, .cpu = {0, 2, 3, 5}};
    ch.cpuinfo = xstrdup("processor\t: 0\nmodel name\t: x\n\nprocessor\t: 2\nmodel name\t: x\n\n"
                         "processor\t: 3\nmodel name\t: x\n\nprocessor\t: 5\nmodel name\t: x\n\n");
    ch.stat = xstrdup("cpu  10 0 10 0 0 0 0 0 0 0\ncpu0 1 0 1 0 0 0 0 0 0 0\n"
                      "cpu2 2 0 2 0 0 0 0 0 0 0\ncpu3 3 0 3 7 0 0 0 0 0 0\n"
                      "cpu5 4 0 4 0 0 0 0 0 0 0\nintr 5 1 2\nbtime 1700000000\n");
    check(sandbox_cpus_count(&ch, 0.5) == 1 && sandbox_cpus_count(&ch, 1) == 1);
    check(sandbox_cpus_count(&ch, 1.01) == 2 && sandbox_cpus_count(&ch, 64) == 4);
    sandbox_cpu_view v;
    sandbox_cpus_view(&ch, 1, 0.5, &v); /* slot 1, one CPU: the second of the worker's */
    check(v.n == 1 && CPU_ISSET(2, &v.set) && CPU_COUNT(&v.set) == 1);
    check_str(v.list, "2\n");
    check_str(v.cpuinfo, "processor\t: 2\nmodel name\t: x\n\n");
    check_str(v.stat, "cpu  2 0 2 0 0 0 0 0 0 0\ncpu2 2 0 2 0 0 0 0 0 0 0\nintr 5 1 2\n"
                      "btime 1700000000\n");
    sandbox_cpus_view_clear(&v);
    sandbox_cpus_view(&ch, 1, 2, &v); /* slot 1, two CPUs: the third and fourth */
    check_str(v.list, "3,5\n");
    check(strstr(v.stat, "cpu  7 0 7 7 0") == v.stat && !strstr(v.stat, "cpu0"));
    sandbox_cpus_view_clear(&v);
    sandbox_cpus_view(&ch, 1, 3, &v); /* slot 1, three CPUs, from the fourth: wraps round */
    check_str(v.list, "0,2,5\n");
    sandbox_cpus_view_clear(&v);
    sandbox_cpus_view(&ch, 0, 3, &v);
    check_str(v.list, "0,2-3\n");
    sandbox_cpus_view_clear(&v);
    sandbox_cpus_clear(&ch);

    test("a container's cgroup is made exclusively");
    cgroup_host h;
    cgroup_host_probe(&h);
    char id[17], rel[64];
    random_hex(id, 8);
    snprintf(rel, sizeof rel, "code-runner/cr-unit-%s", id);
    cgroup_limits lim = {
        .memory_bytes = 64 << 20, .pids = 8, .cpu_quota_us = 50000, .cpu_period_us = 100000};
    check(cgroup_limits_create(&h, rel, &lim, err, sizeof err) == 0);
    err[0] = '\0';
    check(cgroup_limits_create(&h, rel, &lim, err, sizeof err) == -1); /* never joined */
    check(strstr(err, "File exists") != NULL);
    cgroup_limits_remove(&h, rel);
    check(cgroup_limits_create(&h, rel, NULL, err, sizeof err) == 0); /* gone: made again */
    cgroup_limits_remove(&h, rel);
    cgroup_host_clear(&h);
    return check_done();
}
