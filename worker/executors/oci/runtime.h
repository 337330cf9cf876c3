/* Invoking the OCI runtime's command line (runc, crun, runsc, kata-runtime) without a shell:
 * posix_spawnp with the runtime's own global flags (runsc: --network=none), close-on-exec
 * everywhere else.
 *
 *   oci_runtime_spawn(rt, args, fd0, fd1, fd2, &pid)  start "rt <flags> args..." with the given
 *                                               stdio (-1: /dev/null); 0/-1 (errno)
 *   oci_runtime_call(rt, args, reap, &out, err, errlen)  run it to completion, capturing stdout
 *                                               and stderr (at most 64 KiB) in *out (caller frees,
 *                                               may pass NULL); 0 when it exited 0, else -1.
 *                                               reap: meanwhile reap every other exited child
 *                                               (a subreaper worker: the runtime's orphans, which
 *                                               runsc delete waits for); never in a process with
 *                                               children of its own (the supervisor). */
#ifndef CR_OCI_RUNTIME_H
#define CR_OCI_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int oci_runtime_spawn(const char *rt, const char *const args[], int fd0, int fd1, int fd2,
                      pid_t *pid);
int oci_runtime_call(const char *rt, const char *const args[], bool reap, char **out, char *err,
                     size_t errlen);
/* True for gVisor (runsc): a kernel in user space, whose own threads and per-process stubs
 * count in the host's pids cgroup (about five host tasks per sandboxed task). */
bool oci_runtime_is_gvisor(const char *rt);
/* waitpid retrying on EINTR; the raw status, or -1. */
int oci_wait(pid_t pid);

#endif
