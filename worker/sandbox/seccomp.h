/* The seccomp profile of every sandbox step, whatever the backend, as OCI linux.seccomp JSON (for
 * OCI runtimes and the Docker Engine) or as BPF (for the builtin runtime): allow by default, EPERM
 * for a deny list of syscalls an untrusted program never needs (namespaces, mounts, kernel
 * modules, keyrings, tracing, io_uring, ...), ENOSYS for clone3 so libc falls back to clone,
 * where namespace flags are refused by argument filters.
 *
 *   sandbox_seccomp_json(guest_kernel) new reference (caller owns). guest_kernel: for gVisor
 *                           (runsc --oci-seccomp), which applies every rule with EPERM whatever
 *                           its errnoRet: there clone3 has no rule, gVisor answers ENOSYS
 *                           itself (it does not implement clone3), and libc falls back. */
#ifndef CR_SANDBOX_SECCOMP_H
#define CR_SANDBOX_SECCOMP_H

#include <jansson.h>
#include <linux/filter.h>

#include <stdbool.h>
#include <stddef.h>

json_t *sandbox_seccomp_json(bool guest_kernel);
/* The same profile (Linux host, not gVisor) compiled to BPF for the builtin runtime, which
 * loads it with prctl(PR_SET_SECCOMP) just before exec: prog->filter is owned by the caller
 * (free it). 0, or -1 with err set. */
int sandbox_seccomp_bpf(struct sock_fprog *prog, char *err, size_t errlen);

#endif
