/* Java-style class naming: a submission whose public top-level class is not the language's
 * main_class ("Main") is written and run under its own name (Solution.java, java Solution).
 *
 *   main_class_find(code, len, name, namelen)   the name of the public top-level type of a
 *       Java source (comments, strings, text blocks and char literals skipped); 0 and name
 *       set, or -1 when there is none (or it is not a plain ASCII identifier).
 *   main_class_adapt(lang, req)   the language to run req with: NULL when lang as it is fits
 *       (no main_class, no public class, same name, or a name taken by an extra file), else a
 *       new job_language (caller frees with main_class_free) whose lang has source_file
 *       "<Name>.java" and argv tokens source_file -> "<Name>.java", main_class -> "<Name>".
 *   main_class_free(jl)           accepts NULL. */
#ifndef CR_MAIN_CLASS_H
#define CR_MAIN_CLASS_H

#include <stddef.h>

#include "common/job.h"
#include "common/languages.h"

#define MAIN_CLASS_NAME_MAX 200 /* longest class name taken (file names stay < 255 bytes) */

/* A per-job copy of a language entry. lang is a shallow copy of the table's entry: source_file,
 * compile_argv and run_argv point to the owned fields below, every other pointer is borrowed
 * from the table (which outlives the job). */
typedef struct job_language {
    language lang;       /* what the job runs with */
    char *source_file;   /* owned; "<Name>.java" */
    char **compile_argv; /* owned vector and strings; NULL when the language does not compile */
    char **run_argv;     /* owned vector and strings */
} job_language;

int main_class_find(const char *code, size_t len, char *name, size_t namelen);
job_language *main_class_adapt(const language *lang, const job_request *req);
void main_class_free(job_language *jl);

#endif
