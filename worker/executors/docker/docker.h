/* The "docker" executor backend: each step a fresh container made through the Docker Engine API
 * (DOCKER_HOST, DOCKER_RUNTIME: runc, runsc, kata-runtime, ...); found through
 * executor_find("docker"). */
#ifndef CR_DOCKER_H
#define CR_DOCKER_H

#include "worker/executor.h"

extern const executor executor_docker;

#endif
