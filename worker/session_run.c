/* Session runs: the job request and the language adapted to the run's file (see
 * session_run.h). */
#include "session_run.h"

#include <string.h>

#include "common/util.h"

static char *no_options[] = {NULL};

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void session_run_request(const session_run *run, const language *lang, int memory_mb, int timeout,
                         const cfg *c, job_request *req)
{
    int max_timeout =
        lang->run.max_timeout < c->max_timeout ? lang->run.max_timeout : c->max_timeout;
    int max_mem =
        lang->run.max_memory_mb < c->max_memory_mb ? lang->run.max_memory_mb : c->max_memory_mb;
    *req = (job_request){.lang = lang,
                         .code = run->code,
                         .code_len = run->code_len,
                         .stdin_data = run->stdin_data,
                         .stdin_len = run->stdin_len,
                         .args = run->args,
                         .nargs = run->nargs,
                         .timeout = clamp(run->timeout ? run->timeout : timeout, 1, max_timeout),
                         .memory_mb = clamp(memory_mb, 16, max_mem),
                         .compiler_options = no_options,
                         .run_options = no_options};
}

/* argv with each token replaced as session_run_language says (a new vector of new strings). */
static char **adapt(char *const *argv, const language *lang, const char *file, const char *stem,
                    const char *cls, bool compile)
{
    if (!argv)
        return NULL;
    size_t n = 0;
    while (argv[n])
        n++;
    bool builds_dir = false; /* a compile command naming the directory, not the file (Go) */
    for (size_t i = 0; compile && i < n; i++)
        builds_dir |= strcmp(argv[i], ".") == 0;
    for (size_t i = 0; i < n; i++)
        builds_dir &= strcmp(argv[i], lang->source_file) != 0;
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const char *a = argv[i];
        if (strcmp(a, lang->source_file) == 0 || (builds_dir && strcmp(a, ".") == 0))
            v[i] = xstrdup(file);
        else if (strcmp(a, "main") == 0)
            v[i] = xstrdup(stem);
        else if (strcmp(a, "./main") == 0)
            v[i] = xasprintf("./%s", stem);
        else if (lang->main_class && strcmp(a, lang->main_class) == 0)
            v[i] = xstrdup(cls);
        else
            v[i] = xstrdup(a);
    }
    return v;
}

job_language *session_run_language(const language *lang, const char *filename,
                                   const job_request *req)
{
    if (!filename || strcmp(filename, lang->source_file) == 0)
        return main_class_adapt(lang, req);
    const char *base = strrchr(filename, '/') ? strrchr(filename, '/') + 1 : filename;
    const char *dot = strrchr(base, '.');
    cleanup_free char *stem = dot && dot != base ? xstrndup(filename, (size_t)(dot - filename))
                                                 : xasprintf("%s.bin", filename);
    cleanup_free char *cls =
        dot && dot != base ? xstrndup(base, (size_t)(dot - base)) : xstrdup(base);
    job_language *jl = xcalloc(1, sizeof *jl);
    jl->lang = *lang;
    jl->source_file = xstrdup(filename);
    jl->compile_argv = adapt(lang->compile_argv, lang, filename, stem, cls, true);
    jl->run_argv = adapt(lang->run_argv, lang, filename, stem, cls, false);
    jl->lang.source_file = jl->source_file;
    jl->lang.compile_argv = jl->compile_argv;
    jl->lang.run_argv = jl->run_argv;
    return jl;
}

const char *session_run_file(const language *lang, const job_language *jl)
{
    return jl ? jl->lang.source_file : lang->source_file;
}
