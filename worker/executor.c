/* The executor registry (executor_find) and what every backend shares (step_result_clear). */
#include "executor.h"

#include <stdlib.h>
#include <string.h>

#include "worker/executors/docker/docker.h"
#include "worker/executors/oci/oci.h"
#include "worker/executors/remote/remote.h"

/* Every backend compiled in. */
static const executor *const backends[] = {&executor_oci, &executor_docker, &executor_remote};

const executor *executor_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof backends / sizeof *backends; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

void step_result_clear(step_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    *r = (step_result){0};
}
