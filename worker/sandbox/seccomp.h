/* The seccomp profile of every sandbox step, whatever the backend, as OCI linux.seccomp JSON (for
 * OCI runtimes and the Docker Engine) or as BPF (for the builtin runtime). An allow-list, with
 * Docker's default profile as the reference: the system calls a language runtime, a compiler
 * or a program uses are allowed; the ones an untrusted program never needs (namespaces,
 * mounts, kernel modules, keyrings, tracing, io_uring, file handles, clocks, NUMA policy, ...)
 * are refused with EPERM; clone with a namespace flag is EPERM, socket is allowed for unix,
 * inet, inet6 and netlink and EAFNOSUPPORT for packet, vsock and key sockets; every other
 * number, whatever the kernel adds later (statmount, listmount, open_tree_attr, ...), is
 * ENOSYS, which is also what libc's fallbacks expect (clone3 falls back to clone). Docker 20.10
 * drops defaultErrnoRet: there a call the kernel knows but the profile does not name gets
 * EPERM (a number newer than any the profile names still gets runc's ENOSYS), so clone3 has a
 * rule of its own in the JSON (the BPF's default is ENOSYS already).
 *
 *   sandbox_seccomp_json(guest_kernel) new reference (caller owns). guest_kernel: for gVisor
 *                           (runsc --oci-seccomp), which answers every refused call with
 *                           EPERM whatever its errno: there clone3 is allowed, gVisor answers
 *                           ENOSYS itself (it does not implement clone3), and libc falls back. */
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
