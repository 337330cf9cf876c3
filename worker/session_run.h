/* A session's run as the job runner takes it: the job request made from a stored run (the
 * session's language and limits), and the language adapted to the file the run names.
 *
 *   session_run_request(&run, lang, memory_mb, timeout, cfg, &req)
 *       req for run: its code, stdin and arguments (borrowed from run: req must not be given to
 *       job_request_free), lang, the session's memory cap, run's timeout or else the session's,
 *       each within the language's and the configuration's maxima.
 *   session_run_language(lang, filename, &req)
 *       the language to run with: NULL when lang as it is fits (no filename, or the language's
 *       own source file, and no Java class to adapt to), else a copy (main_class_free) whose
 *       source file is filename and whose commands name it: the source file's name replaced
 *       by filename, the output "main" (and "./main") by filename without its extension, a
 *       package build (".", Go) by filename, the Java class by filename's base name.
 *   session_run_file(lang, jl)   the file the code goes to: jl's source file, else lang's. */
#ifndef CR_SESSION_RUN_H
#define CR_SESSION_RUN_H

#include "common/job.h"
#include "common/session.h"
#include "worker/main_class.h"

void session_run_request(const session_run *run, const language *lang, int memory_mb, int timeout,
                         const cfg *c, job_request *req);
job_language *session_run_language(const language *lang, const char *filename,
                                   const job_request *req);
const char *session_run_file(const language *lang, const job_language *jl);

#endif
