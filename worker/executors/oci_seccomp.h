/* The seccomp profile of every sandbox step, as OCI linux.seccomp JSON: allow by default, EPERM
 * for a deny list of syscalls an untrusted program never needs (namespaces, mounts, kernel
 * modules, keyrings, tracing, io_uring, ...), ENOSYS for clone3 so libc falls back to clone,
 * where namespace flags are refused by argument filters.
 *
 *   oci_seccomp_profile()  new reference (caller owns). */
#ifndef CR_OCI_SECCOMP_H
#define CR_OCI_SECCOMP_H

#include <jansson.h>

json_t *oci_seccomp_profile(void);

#endif
