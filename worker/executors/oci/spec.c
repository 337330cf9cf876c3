/* Builds the OCI config.json of a sandbox step with jansson (runtime-spec 1.0.2 fields only,
 * so that runc 1.1, crun, runsc and kata-runtime all accept it). */
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "worker/sandbox/env.h"
#include "worker/sandbox/policy.h"
#include "worker/sandbox/seccomp.h"

/* gVisor's host tasks per sandboxed task (ptrace platform: Go threads and stub processes),
 * and its own threads at start */
#define GUEST_TASK_COST 8
#define GUEST_BASE_TASKS 128

static json_t *string_array(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* cr-init first, then the program's argv. */
static json_t *argv_array(char *const *argv)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string(OCI_INIT_PATH));
    for (size_t i = 0; argv[i]; i++)
        json_array_append_new(a, json_string(argv[i]));
    return a;
}

/* rlim_t in the document: RLIM_INFINITY as -1 (see spec.h). */
static json_int_t rlim_json(rlim_t v)
{
    return v == RLIM_INFINITY ? -1 : (json_int_t)v;
}

/* Every rlimit of the step (worker/sandbox/policy.h). */
static json_t *rlimits(const oci_spec_params *p)
{
    sandbox_rlimit rl[SANDBOX_NRLIMITS];
    size_t n = sandbox_rlimits(&(sandbox_rlimit_params){.pids = p->pids,
                                                        .tmp_mb = p->tmp_mb,
                                                        .cpu_time_ms = p->cpu_time_ms},
                               rl);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "type", rl[i].oci, "hard",
                                           rlim_json(rl[i].hard), "soft", rlim_json(rl[i].soft)));
    return a;
}

static json_t *process(const oci_spec_params *p)
{
    return json_pack("{s:b, s:{s:i, s:i, s:[]}, s:o, s:s, s:o,"
                     " s:{s:[], s:[], s:[], s:[], s:[]}, s:o, s:b, s:i}",
                     "terminal", 0, "user", "uid", (int)p->uid, "gid", (int)p->uid,
                     "additionalGids", "args", argv_array(p->argv), "cwd", "/workspace", "env",
                     sandbox_env_json(p->env), "capabilities", "bounding", "effective",
                     "inheritable", "permitted", "ambient", "rlimits", rlimits(p),
                     "noNewPrivileges", 1, "oomScoreAdj", SANDBOX_OOM_SCORE_ADJ);
}

static json_t *mount_entry(const char *dest, const char *type, const char *src, const char *opts)
{
    json_t *o = json_array();
    char *copy = xstrdup(opts), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        json_array_append_new(o, json_string(t));
    free(copy);
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", src,
                     "options", o);
}

static json_t *mounts(const oci_spec_params *p)
{
    cleanup_free char *tmp = xasprintf("nosuid,nodev,mode=1777,size=%dm", p->tmp_mb);
    cleanup_free char *shm = xasprintf("nosuid,nodev,noexec,mode=1777,size=%dm", p->tmp_mb);
    json_t *m = json_array();
    json_array_append_new(m, mount_entry("/proc", "proc", "proc", "nosuid,noexec,nodev"));
    json_array_append_new(
        m, mount_entry("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
    json_array_append_new(m, mount_entry("/dev/pts", "devpts", "devpts",
                                         "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620"));
    json_array_append_new(m, mount_entry("/dev/shm", "tmpfs", "shm", shm));
    json_array_append_new(m, mount_entry("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
    json_array_append_new(m, mount_entry(OCI_INIT_PATH, "bind", p->init, "bind,ro,nosuid,nodev"));
    json_array_append_new(
        m, mount_entry(OCI_STATUS_PATH, "bind", p->status, "bind,rw,nosuid,nodev,noexec"));
    json_array_append_new(m, mount_entry("/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"));
    /* The step's own cgroup, read-only (as Docker does): runtimes such as the JVM size their
     * heap and threads from the memory and CPU limits they find there. */
    json_array_append_new(
        m, mount_entry("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid,noexec,nodev,relatime,ro"));
    if (p->cpus_dir) { /* what the step sees of its CPUs (worker/sandbox/cpus.h) */
        cleanup_free char *sys = xasprintf("%s/sys", p->cpus_dir);
        cleanup_free char *cpuinfo = xasprintf("%s/cpuinfo", p->cpus_dir);
        cleanup_free char *stat = xasprintf("%s/stat", p->cpus_dir);
        json_array_append_new(
            m, mount_entry("/sys/devices/system/cpu", "bind", sys, "rbind,ro,nosuid,nodev,noexec"));
        if (p->cpus_view->cpuinfo)
            json_array_append_new(
                m, mount_entry("/proc/cpuinfo", "bind", cpuinfo, "bind,ro,nosuid,nodev,noexec"));
        if (p->cpus_view->stat)
            json_array_append_new(
                m, mount_entry("/proc/stat", "bind", stat, "bind,ro,nosuid,nodev,noexec"));
    }
    json_array_append_new(m, mount_entry("/tmp", "tmpfs", "tmpfs", tmp));
    json_array_append_new(m,
                          mount_entry("/workspace", "bind", p->workspace, "rbind,rw,nosuid,nodev"));
    return m;
}

static json_t *resources(const oci_spec_params *p)
{
    json_int_t mem = (json_int_t)p->memory_mb * 1024 * 1024;
    json_int_t quota = sandbox_cpu_quota_us(p->cpus);
    char cpus[256] = "";
    if (p->cpus_view) /* the list without its newline */
        snprintf(cpus, sizeof cpus, "%.*s", (int)strcspn(p->cpus_view->list, "\n"),
                 p->cpus_view->list);
    json_t *r =
        json_pack("{s:[{s:b, s:s}], s:{s:I, s:I}, s:{s:i}, s:{s:I, s:I}}", "devices", "allow", 0,
                  "access", "rwm", "memory", "limit", mem, "swap", mem, "pids", "limit",
                  p->guest_kernel ? p->pids * GUEST_TASK_COST + GUEST_BASE_TASKS : p->pids, "cpu",
                  "quota", quota, "period", (json_int_t)SANDBOX_CPU_PERIOD_US);
    if (*cpus) /* a cpuset: the affinity mask the program finds */
        json_object_set_new(json_object_get(r, "cpu"), "cpus", json_string(cpus));
    return r;
}

static json_t *linux_section(const oci_spec_params *p)
{
    json_t *ns = json_array();
    static const char *const kinds[] = {"pid", "network", "ipc", "uts", "mount", "cgroup"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        json_array_append_new(ns, json_pack("{s:s}", "type", kinds[i]));
    return json_pack("{s:o, s:o, s:s, s:o, s:o, s:o}", "namespaces", ns, "resources", resources(p),
                     "cgroupsPath", p->cgroup_path, "maskedPaths",
                     string_array(sandbox_masked_paths), "readonlyPaths",
                     string_array(sandbox_readonly_paths), "seccomp",
                     sandbox_seccomp_json(p->guest_kernel));
}

json_t *oci_spec_build(const oci_spec_params *p)
{
    return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2", "process",
                     process(p), "root", "path", p->rootfs, "readonly", 1, "hostname",
                     SANDBOX_HOSTNAME, "mounts", mounts(p), "linux", linux_section(p));
}

/* doc (consumed) with the rlimits' -1 written as 2^64 - 1, which runtimes read as unsigned
 * RLIM_INFINITY; NULL stays NULL. The rlimits array holds nothing but its objects' type, hard
 * and soft, so every ":-1" in it is one of theirs. */
static char *unlimited_rlimits(char *doc)
{
    static const char key[] = "\"rlimits\":[", minus[] = ":-1", inf[] = ":18446744073709551615";
    char *start = doc ? strstr(doc, key) : NULL;
    if (!start)
        return doc;
    size_t head = (size_t)(start - doc) + strlen(key);
    size_t len = strcspn(doc + head, "]");
    size_t n = 0;
    for (const char *q = doc + head; (q = strstr(q, minus)) && q < doc + head + len; q++)
        n++;
    char *out = xmalloc(strlen(doc) + n * (strlen(inf) - strlen(minus)) + 1), *w = out;
    memcpy(w, doc, head), w += head;
    for (const char *r = doc + head, *end = doc + head + len; r < end;) {
        if (strncmp(r, minus, strlen(minus)) == 0 && r + strlen(minus) <= end) {
            w = stpcpy(w, inf), r += strlen(minus);
        } else {
            *w++ = *r++;
        }
    }
    strcpy(w, doc + head + len);
    free(doc);
    return out;
}

int oci_spec_write(const char *bundle_dir, const oci_spec_params *p, char *err, size_t errlen)
{
    json_t *spec = oci_spec_build(p);
    if (!spec) {
        snprintf(err, errlen, "cannot build config.json");
        return -1;
    }
    cleanup_free char *doc = unlimited_rlimits(json_dumps(spec, JSON_COMPACT));
    json_decref(spec);
    cleanup_free char *path = xasprintf("%s/config.json", bundle_dir);
    cleanup_fd int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (!doc || fd < 0 || write_all(fd, doc, strlen(doc)) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
