/* The language table: loaded once at start-up from LANGUAGES_FILE (images/languages.json).
 *
 * API:
 *   lang_table_load(cfg, &t, err, errlen)  parse cfg->languages_file; -1 with a message on error.
 *       Limits missing from a language's entry come from the configuration defaults.
 *       The version reported for a language is read from IMAGES_DIR/<image>/version-<id> when the
 * image build wrote it, else the "version" field of the file. lang_table_find(t, name)   the entry
 * whose id or alias is name (case-insensitive), or NULL. lang_table_to_json(t)      the GET
 * /languages body (new reference, caller owns). lang_table_free(t)         accepts NULL.
 *   lang_options_check(o, opts, n, err, errlen)   0 when the n request options opts are allowed
 *       by the allow-list o (read left to right, each element or pair matched by a rule), else
 *       -1 with a message naming the first option refused.
 *   lang_argv_expand(argv, opts, n)   argv with its LANG_OPTIONS_SLOT element replaced by the n
 *       options (none: the slot is dropped); a new NULL-terminated vector whose strings are
 *       borrowed from argv and opts (caller frees the vector only). NULL for NULL. */
#ifndef CR_LANGUAGES_H
#define CR_LANGUAGES_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

/* Limits of one step (compile or run) of a language. */
typedef struct lang_limits {
    int timeout;       /* default wall-clock seconds */
    int max_timeout;   /* the most a request may ask for */
    int memory_mb;     /* default memory (and swap) cap */
    int max_memory_mb; /* the most a request may ask for */
    int pids;          /* task limit */
    double cpus;       /* CPU quota in cores */
} lang_limits;

/* Where a request's options go in a step's argv (compile or run of languages.json). */
#define LANG_OPTIONS_SLOT "{options}"
#define LANG_MEMORY_MB "{memory_mb}" /* in a run argument: the run's memory cap in MiB */

/* One rule of an option allow-list, as languages.json writes it: a string, a POSIX extended
 * regular expression one argv element must match whole ("-O[0-3]"); or a pair [flag, value], an
 * element matching flag followed by one matching value (["--add-modules", "jdk\\.incubator\\..*"]).
 * A single-element rule must only admit options that take no separate argument: the element
 * after it is the next option, or the step's own argv after the slot. */
typedef struct lang_option_rule {
    regex_t flag;  /* compiled "^(pattern)$" */
    regex_t value; /* compiled "^(pattern)$"; set only when has_value */
    bool has_value;
    json_t *spec; /* owned; the rule as written, shown by GET /languages */
} lang_option_rule;

/* The allow-list of the options a request may add to one step. Empty: the step takes none. */
typedef struct lang_options {
    lang_option_rule *rules; /* owned array */
    size_t n;
} lang_options;

/* One language. All strings and arrays are owned by the table. */
typedef struct language {
    char *id;            /* canonical id: "python" */
    char **aliases;      /* NULL-terminated: {"py", "python3", NULL} */
    char *version;       /* "3.11.2" */
    char *image;         /* image name: rootfs at IMAGES_DIR/<image>/rootfs */
    char *source_file;   /* file the code is written to in the workspace: "main.py" */
    char **compile_argv; /* NULL-terminated, or NULL when the language has no compile step */
    char **run_argv;     /* NULL-terminated */
    char **env;          /* NULL-terminated "NAME=value" set in every step, besides PATH/HOME */
    char *main_class;    /* JVM-style languages: the class name used in source_file and the
                          * argv ("Main"); a submission is written under its public class's
                          * name and runs the class declaring main (worker/main_class.h).
                          * NULL for other languages. */
    lang_limits compile; /* limits of the compile step */
    lang_limits run;     /* limits of each run step */
    lang_options compile_options; /* what compiler_options may hold (slot in compile_argv) */
    lang_options run_options;     /* what run_options may hold (slot in run_argv) */
} language;

typedef struct lang_table {
    language *langs; /* owned array */
    size_t n;
} lang_table;

int lang_table_load(const cfg *c, lang_table **out, char *err, size_t errlen);
const language *lang_table_find(const lang_table *t, const char *name);
json_t *lang_table_to_json(const lang_table *t);
void lang_table_free(lang_table *t);
int lang_options_check(const lang_options *o, char *const *opts, size_t n, char *err,
                       size_t errlen);
char **lang_argv_expand(char *const *argv, char *const *opts, size_t n);

#endif
