/* The result model: what a finished job reports in GET /results/{id} under "result".
 * SUCCESS means the program ran (whatever it did); FAILURE means the system could not run it
 * and carries a message instead (kept apart in code, as isolate keeps XX apart from RE/TO). */
#ifndef CR_RESULT_H
#define CR_RESULT_H

#include <stdbool.h>
#include <stddef.h>

/* Task states, as stored in the task hash "status" field. */
typedef enum task_status {
    TASK_PENDING, /* queued, not yet taken */
    TASK_RUNNING, /* taken by a worker; clients see PENDING */
    TASK_SUCCESS, /* the program ran; result is a result object */
    TASK_FAILURE, /* the system could not run it; result is a message string */
} task_status;
const char *task_status_str(task_status s); /* "PENDING", "RUNNING", "SUCCESS", "FAILURE" */
int task_status_parse(const char *s, task_status *out); /* -1 on unknown */

/* What the program did, from the judge's point of view. */
typedef enum verdict {
    VERDICT_OK,            /* ran and exited 0 */
    VERDICT_RUNTIME_ERROR, /* non-zero exit or killed by a signal */
    VERDICT_COMPILE_ERROR, /* the compile step failed; the run step was skipped */
    VERDICT_TIME_LIMIT,    /* wall-clock limit reached, killed */
    VERDICT_MEMORY_LIMIT,  /* memory cap reached (OOM kill) */
    VERDICT_OUTPUT_LIMIT,  /* stdout or stderr over OUTPUT_LIMIT_BYTES, killed */
    VERDICT_ACCEPTED,      /* test case: output matched */
    VERDICT_WRONG_ANSWER,  /* test case: output differed */
} verdict;
const char *verdict_str(verdict v); /* "ok", "runtime_error", ... */

#endif
