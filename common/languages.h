/* The language table: loaded once at start-up from LANGUAGES_FILE (images/languages.json).
 *
 * API:
 *   lang_table_load(cfg, &t, err, errlen)  parse cfg->languages_file; -1 with a message on error.
 *       Limits missing from a language's entry come from the configuration defaults.
 *       The version reported for a language is read from IMAGES_DIR/<image>/version-<id> when the image
 *       build wrote it, else the "version" field of the file.
 *   lang_table_find(t, name)   the entry whose id or alias is name (case-insensitive), or NULL.
 *   lang_table_to_json(t)      the GET /languages body (new reference, caller owns).
 *   lang_table_free(t)         accepts NULL. */
#ifndef CR_LANGUAGES_H
#define CR_LANGUAGES_H

#include <jansson.h>
#include <stddef.h>

#include "common/config.h"

/* Limits of one step (compile or run) of a language. */
typedef struct lang_limits {
    int timeout;   /* default wall-clock seconds */
    int max_timeout; /* the most a request may ask for */
    int memory_mb; /* default memory (and swap) cap */
    int max_memory_mb; /* the most a request may ask for */
    int pids;      /* task limit */
    double cpus;   /* CPU quota in cores */
} lang_limits;

/* One language. All strings and arrays are owned by the table. */
typedef struct language {
    char *id;               /* canonical id: "python" */
    char **aliases;         /* NULL-terminated: {"py", "python3", NULL} */
    char *version;          /* "3.11.2" */
    char *image;            /* image name: rootfs at IMAGES_DIR/<image>/rootfs */
    char *source_file;      /* file the code is written to in the workspace: "main.py" */
    char **compile_argv;    /* NULL-terminated, or NULL when the language has no compile step */
    char **run_argv;        /* NULL-terminated */
    char **env;             /* NULL-terminated "NAME=value" set in every step, besides PATH/HOME */
    char *main_class;       /* JVM-style languages: the class name used in source_file and the
                             * argv ("Main"); a submission whose public class has another name is
                             * run under that name instead. NULL for other languages. */
    lang_limits compile;    /* limits of the compile step */
    lang_limits run;        /* limits of each run step */
} language;

typedef struct lang_table {
    language *langs; /* owned array */
    size_t n;
} lang_table;

int lang_table_load(const cfg *c, lang_table **out, char *err, size_t errlen);
const language *lang_table_find(const lang_table *t, const char *name);
json_t *lang_table_to_json(const lang_table *t);
void lang_table_free(lang_table *t);

#endif
