/* Task states and verdicts as the strings stored in Redis and shown to clients. */
#include "result.h"

#include <string.h>

static const char *const status_names[] = {"PENDING", "RUNNING", "SUCCESS", "FAILURE"};

const char *task_status_str(task_status s)
{
    return s <= TASK_FAILURE ? status_names[s] : "UNKNOWN";
}

int task_status_parse(const char *s, task_status *out)
{
    for (int i = 0; i <= TASK_FAILURE; i++)
        if (strcmp(s, status_names[i]) == 0) {
            *out = (task_status)i;
            return 0;
        }
    return -1;
}

const char *verdict_str(verdict v)
{
    switch (v) {
    case VERDICT_OK:
        return "ok";
    case VERDICT_RUNTIME_ERROR:
        return "runtime_error";
    case VERDICT_COMPILE_ERROR:
        return "compile_error";
    case VERDICT_TIME_LIMIT:
        return "time_limit";
    case VERDICT_MEMORY_LIMIT:
        return "memory_limit";
    case VERDICT_OUTPUT_LIMIT:
        return "output_limit";
    case VERDICT_ACCEPTED:
        return "accepted";
    case VERDICT_WRONG_ANSWER:
        return "wrong_answer";
    }
    return "unknown";
}
