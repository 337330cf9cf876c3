/* Java-style class naming. A submission is written under the name of its public top-level type
 * when it has one (Solution.java), and runs the top-level type that declares main, whatever its
 * access (final class app { public static void main... } runs "java app").
 *
 *   main_class_scan(code, len, preferred, &info)   what the top-level types of a Java source
 *       (comments, strings, text blocks and char literals skipped) say: the public one's name,
 *       and the one to run: the public type when it declares a static main, else the one named
 *       preferred when it does, else the first that does. Names that are not plain ASCII
 *       identifiers are never reported.
 *   main_class_find(code, len, name, namelen)   the name of the public top-level type; 0 and
 *       name set, or -1 when there is none (or it is not a plain ASCII identifier).
 *   main_class_adapt(lang, req)   the language to run req with: NULL when lang as it is fits
 *       (no main_class, or the file and the class to run are the defaults), else a new
 *       job_language (caller frees with main_class_free) whose lang has source_file
 *       "<Public>.java" and argv tokens source_file -> that file, main_class -> the class to
 *       run (the one declaring main, else the public one, else main_class). NULL too when an
 *       extra file is named "<Public>.java" (javac then says what is wrong).
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

/* What main_class_scan found; empty strings when there is no such type. */
typedef struct main_class_info {
    char public_name[MAIN_CLASS_NAME_MAX + 1]; /* the public top-level type */
    char main_name[MAIN_CLASS_NAME_MAX + 1];   /* the top-level type to run (declares main) */
} main_class_info;

void main_class_scan(const char *code, size_t len, const char *preferred, main_class_info *info);
int main_class_find(const char *code, size_t len, char *name, size_t namelen);
job_language *main_class_adapt(const language *lang, const job_request *req);
void main_class_free(job_language *jl);

#endif
