/* The "oci" executor backend (runc, crun, runsc, kata-runtime without a daemon); found through
 * executor_find("oci"). */
#ifndef CR_OCI_H
#define CR_OCI_H

#include "worker/executor.h"

extern const executor executor_oci;

#endif
