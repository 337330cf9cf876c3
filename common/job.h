/* The job request model: what a client submits to POST /run-code, validated the same way by the
 * API (before it enqueues) and by the worker (when it takes the job).
 *
 * API:
 *   job_request_parse(body, len, langs, cfg, &r, err, errlen)
 *       parse and validate a request body. 0 on success; -1 with a client-facing message in err.
 *       Resolves the language alias, applies default limits, decodes base64 code/stdin/files,
 *       removes leading UTF-8 byte-order marks from the sources (code, and extra files with the
 *       main source's extension), checks compiler_options and run_options against the
 *       language's allow-lists.
 *   job_request_to_json(&r)  the canonical request stored in Redis (caller owns the string);
 *       job_request_parse of it gives back the same request.
 *   job_request_free(&r)     frees what parse set; safe on a zeroed struct.
 *   job_request_worst_seconds(&r)  the longest the job's steps may run in all: the compile
 *       step's timeout plus each run's; parse refuses a request over MAX_JOB_SECONDS.
 *   job_json_whole(o, key, min, max, &out, err, errlen)  an optional whole number in [min, max]
 *       (an integer, or a real without a fraction): 1 with *out, 0 when absent or null (*out
 *       untouched), -1 with a client-facing message in err. */
#ifndef CR_JOB_H
#define CR_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/languages.h"

#define JOB_MAX_ARGS 64
#define JOB_MAX_FILES 32
#define JOB_MAX_TESTS 100
#define JOB_MAX_OPTIONS 32     /* elements of compiler_options, and of run_options */
#define JOB_MAX_OPTION_LEN 256 /* bytes of one option */

/* An extra source file, written into the workspace beside the main source file. */
typedef struct job_file {
    char *name;    /* owned; checked: no '/', no "..", not hidden */
    char *content; /* owned; decoded bytes */
    size_t len;
} job_file;

/* One test case: the program runs once per test with this stdin, output compared. */
typedef struct job_test {
    char *stdin_data; /* owned; decoded bytes, may be empty */
    size_t stdin_len;
    char *expected; /* owned; expected stdout, or NULL when not given */
    size_t expected_len;
} job_test;

/* A validated request; every pointer is owned and freed by job_request_free. */
typedef struct job_request {
    const language *lang; /* borrowed from the language table */
    char *code;           /* decoded source */
    size_t code_len;
    char *stdin_data; /* decoded stdin, NULL when none */
    size_t stdin_len;
    char **args; /* NULL-terminated program arguments (never NULL after parse) */
    size_t nargs;
    int timeout;     /* run step wall-clock seconds, resolved (default applied) */
    int memory_mb;   /* run step memory cap, resolved */
    bool base64;     /* inputs were base64, outputs go back base64 */
    job_file *files; /* extra files */
    size_t nfiles;
    job_test *tests; /* test cases; ntests == 0: a single run with stdin */
    size_t ntests;
    char **compiler_options; /* NULL-terminated, allowed by lang->compile_options (never NULL
                              * after parse) */
    size_t ncompiler_options;
    char **run_options; /* NULL-terminated, allowed by lang->run_options (never NULL) */
    size_t nrun_options;
    bool timeout_given; /* the request named timeout (kept in the canonical JSON) */
    bool memory_given;  /* the request named memory_mb */
} job_request;

int job_request_parse(const char *body, size_t len, const lang_table *langs, const cfg *c,
                      job_request *r, char *err, size_t errlen);
char *job_request_to_json(const job_request *r);
void job_request_free(job_request *r);
int job_json_whole(const json_t *o, const char *key, int min, int max, int *out, char *err,
                   size_t errlen);
long job_request_worst_seconds(const job_request *r);

#endif
