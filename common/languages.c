/* The language table: parsed from LANGUAGES_FILE, versions refreshed from the image store. */
#include "languages.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

static void free_argv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* A JSON array of strings as a NULL-terminated vector; NULL (and *ok=0) when it is not one. */
static char **argv_from_json(const json_t *a, int *ok)
{
    *ok = json_is_array(a);
    if (!*ok)
        return NULL;
    char **v = xcalloc(json_array_size(a) + 1, sizeof *v);
    size_t i;
    json_t *s;
    json_array_foreach(a, i, s)
    {
        if (!json_is_string(s)) {
            *ok = 0;
            free_argv(v);
            return NULL;
        }
        v[i] = xstrdup(json_string_value(s));
    }
    return v;
}

static int number_field(const json_t *o, const char *key, double min, double max, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max)
        return -1;
    *out = json_number_value(v);
    return 0;
}

static int parse_limits(const json_t *o, const cfg *c, lang_limits *l)
{
    double timeout = c->default_timeout, max_timeout = c->max_timeout;
    double mem = c->default_memory_mb, max_mem = c->max_memory_mb;
    double pids = c->pids_limit, cpus = c->cpu_limit;
    if (o && !json_is_object(o))
        return -1;
    if (o && (number_field(o, "timeout", 1, 3600, &timeout) < 0 ||
              number_field(o, "max_timeout", 1, 3600, &max_timeout) < 0 ||
              number_field(o, "memory_mb", 8, 1 << 20, &mem) < 0 ||
              number_field(o, "max_memory_mb", 8, 1 << 20, &max_mem) < 0 ||
              number_field(o, "pids", 1, 1 << 20, &pids) < 0 ||
              number_field(o, "cpus", 0.01, 1024, &cpus) < 0))
        return -1;
    l->timeout = (int)timeout;
    l->max_timeout = (int)max_timeout;
    l->memory_mb = (int)mem;
    l->max_memory_mb = (int)max_mem;
    l->pids = (int)pids;
    l->cpus = cpus;
    if (l->timeout > l->max_timeout || l->memory_mb > l->max_memory_mb)
        return -1;
    return 0;
}

/* Compile pattern as a whole-element match; -1 when it is not a valid extended regex. */
static int compile_pattern(regex_t *re, const char *pattern)
{
    if (!*pattern)
        return -1;
    cleanup_free char *whole = xasprintf("^(%s)$", pattern);
    return regcomp(re, whole, REG_EXTENDED | REG_NOSUB) == 0 ? 0 : -1;
}

static void options_clear(lang_options *o)
{
    for (size_t i = 0; i < o->n; i++) {
        regfree(&o->rules[i].flag);
        if (o->rules[i].has_value)
            regfree(&o->rules[i].value);
        json_decref(o->rules[i].spec);
    }
    free(o->rules);
    memset(o, 0, sizeof *o);
}

/* One allow-list (an array of patterns and [flag, value] pairs; missing: empty). */
static int parse_options(const json_t *a, lang_options *o)
{
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return -1;
    o->rules = xcalloc(json_array_size(a) + 1, sizeof *o->rules);
    size_t i;
    json_t *r;
    json_array_foreach(a, i, r)
    {
        lang_option_rule *rule = &o->rules[o->n];
        const char *flag = json_string_value(r);
        const char *value = NULL;
        if (json_is_array(r) && json_array_size(r) == 2) {
            flag = json_string_value(json_array_get(r, 0));
            value = json_string_value(json_array_get(r, 1));
            if (!value)
                return -1;
        }
        if (!flag || compile_pattern(&rule->flag, flag) < 0)
            return -1;
        if (value && compile_pattern(&rule->value, value) < 0) {
            regfree(&rule->flag);
            return -1;
        }
        rule->has_value = value != NULL;
        rule->spec = json_incref(r);
        o->n++;
    }
    return 0;
}

/* How many elements of argv (NULL: none) are the options slot. */
static int slots(char *const *argv)
{
    int n = 0;
    for (size_t i = 0; argv && argv[i]; i++)
        n += strcmp(argv[i], LANG_OPTIONS_SLOT) == 0;
    return n;
}

static void language_clear(language *l)
{
    free(l->id);
    free_argv(l->aliases);
    free(l->version);
    free(l->image);
    free(l->source_file);
    free_argv(l->compile_argv);
    free_argv(l->run_argv);
    free_argv(l->env);
    free(l->main_class);
    options_clear(&l->compile_options);
    options_clear(&l->run_options);
}

/* The version the image build recorded, or NULL (caller owns). */
static char *image_version(const char *images_dir, const char *image, const char *id)
{
    cleanup_free char *path = xasprintf("%s/%s/version-%s", images_dir, image, id);
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char buf[128] = "";
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!line)
        return NULL;
    buf[strcspn(buf, "\r\n")] = 0;
    return buf[0] ? xstrdup(buf) : NULL;
}

static bool valid_file_name(const char *s)
{
    return *s && s[0] != '.' && !strchr(s, '/');
}

static int parse_language(const json_t *o, const cfg *c, language *l, char *err, size_t errlen)
{
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *image = json_string_value(json_object_get(o, "image"));
    const char *src = json_string_value(json_object_get(o, "source_file"));
    const char *version = json_string_value(json_object_get(o, "version"));
    if (!id || !*id || !image || !*image || !src || !valid_file_name(src))
        return set_error(err, errlen, "a language needs string fields id, image and source_file");
    l->id = xstrdup(id);
    l->image = xstrdup(image);
    l->source_file = xstrdup(src);
    l->version = image_version(c->images_dir, image, id);
    if (!l->version)
        l->version = xstrdup(version ? version : "unknown");
    int ok;
    json_t *aliases = json_object_get(o, "aliases");
    l->aliases = aliases ? argv_from_json(aliases, &ok) : xcalloc(1, sizeof(char *));
    if (aliases && !ok)
        return set_error(err, errlen, "%s: aliases must be an array of strings", id);
    l->run_argv = argv_from_json(json_object_get(o, "run"), &ok);
    if (!ok || !l->run_argv[0])
        return set_error(err, errlen, "%s: run must be a non-empty array of strings", id);
    json_t *compile = json_object_get(o, "compile");
    if (compile && !json_is_null(compile)) {
        l->compile_argv = argv_from_json(compile, &ok);
        if (!ok || !l->compile_argv[0])
            return set_error(err, errlen, "%s: compile must be null or an array of strings", id);
    }
    json_t *env = json_object_get(o, "env");
    if (env && !json_is_object(env))
        return set_error(err, errlen, "%s: env must be an object of strings", id);
    l->env = xcalloc(json_object_size(env) + 1, sizeof *l->env);
    const char *name;
    json_t *value;
    size_t n = 0;
    json_object_foreach(env, name, value)
    {
        if (!json_is_string(value) || !*name || strchr(name, '='))
            return set_error(err, errlen, "%s: env must be an object of strings", id);
        l->env[n++] = xasprintf("%s=%s", name, json_string_value(value));
    }
    json_t *main_class = json_object_get(o, "main_class");
    if (main_class && !json_is_string(main_class))
        return set_error(err, errlen, "%s: main_class must be a string", id);
    if (main_class)
        l->main_class = xstrdup(json_string_value(main_class));
    json_t *options = json_object_get(o, "options");
    if ((options && !json_is_object(options)) ||
        parse_options(json_object_get(options, "compile"), &l->compile_options) < 0 ||
        parse_options(json_object_get(options, "run"), &l->run_options) < 0)
        return set_error(err, errlen,
                         "%s: options must be {\"compile\": [...], \"run\": [...]} "
                         "of extended regular expressions and [flag, value] pairs of them",
                         id);
    if (slots(l->compile_argv) > 1 || slots(l->run_argv) > 1 ||
        (l->compile_options.n && slots(l->compile_argv) != 1) ||
        (l->run_options.n && slots(l->run_argv) != 1))
        return set_error(err, errlen,
                         "%s: a step with options needs one \"%s\" in its argv (and "
                         "no step more than one)",
                         id, LANG_OPTIONS_SLOT);
    json_t *limits = json_object_get(o, "limits");
    if (parse_limits(json_object_get(limits, "run"), c, &l->run) < 0 ||
        parse_limits(json_object_get(limits, "compile"), c, &l->compile) < 0)
        return set_error(err, errlen, "%s: bad limits (numbers in range, default <= max)", id);
    return 0;
}

int lang_table_load(const cfg *c, lang_table **out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(c->languages_file, 0, &jerr);
    if (!root)
        return set_error(err, errlen, "LANGUAGES_FILE %s: %s (line %d)", c->languages_file,
                         jerr.text, jerr.line);
    json_t *arr = json_object_get(root, "languages");
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        json_decref(root);
        return set_error(err, errlen, "LANGUAGES_FILE %s: needs a non-empty \"languages\" array",
                         c->languages_file);
    }
    lang_table *t = xcalloc(1, sizeof *t);
    t->langs = xcalloc(json_array_size(arr), sizeof *t->langs);
    size_t i;
    json_t *o;
    char msg[256];
    json_array_foreach(arr, i, o)
    {
        t->n++;
        if (parse_language(o, c, &t->langs[i], msg, sizeof msg) < 0) {
            set_error(err, errlen, "LANGUAGES_FILE %s: %s", c->languages_file, msg);
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (lang_table_find(t, t->langs[i].id) == &t->langs[j]) {
                set_error(err, errlen, "LANGUAGES_FILE %s: %s is named twice", c->languages_file,
                          t->langs[i].id);
                goto fail;
            }
    }
    json_decref(root);
    *out = t;
    return 0;
fail:
    json_decref(root);
    lang_table_free(t);
    return -1;
}

const language *lang_table_find(const lang_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++) {
        const language *l = &t->langs[i];
        if (strcasecmp(l->id, name) == 0)
            return l;
        for (char **a = l->aliases; a && *a; a++)
            if (strcasecmp(*a, name) == 0)
                return l;
    }
    return NULL;
}

static json_t *argv_json(char *const *argv)
{
    if (!argv)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; argv[i]; i++)
        json_array_append_new(a, json_string(argv[i]));
    return a;
}

static json_t *options_json(const lang_options *o)
{
    json_t *a = json_array();
    for (size_t i = 0; i < o->n; i++)
        json_array_append(a, o->rules[i].spec);
    return a;
}

json_t *lang_table_to_json(const lang_table *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < t->n; i++) {
        const language *l = &t->langs[i];
        json_array_append_new(
            arr,
            json_pack("{s:s, s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:{s:i, s:i, s:i, s:i}}", "id",
                      l->id, "version", l->version, "aliases", argv_json(l->aliases), "compiled",
                      l->compile_argv != NULL, "compile", argv_json(l->compile_argv), "run",
                      argv_json(l->run_argv), "compiler_options", options_json(&l->compile_options),
                      "run_options", options_json(&l->run_options), "limits", "timeout",
                      l->run.timeout, "max_timeout", l->run.max_timeout, "memory_mb",
                      l->run.memory_mb, "max_memory_mb", l->run.max_memory_mb));
    }
    return json_pack("{s:o}", "languages", arr);
}

static bool matches(const regex_t *re, const char *s)
{
    return regexec(re, s, 0, NULL, 0) == 0;
}

int lang_options_check(const lang_options *o, char *const *opts, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n;) {
        size_t took = 0;        /* elements the first rule that fits takes: 1 or 2 */
        bool flag_seen = false; /* some pair rule names this flag */
        for (size_t r = 0; r < o->n && !took; r++) {
            const lang_option_rule *rule = &o->rules[r];
            if (!matches(&rule->flag, opts[i]))
                continue;
            if (!rule->has_value) {
                took = 1;
                continue;
            }
            flag_seen = true;
            if (i + 1 < n && matches(&rule->value, opts[i + 1]))
                took = 2;
        }
        if (took) {
            i += took;
            continue;
        }
        if (flag_seen && i + 1 == n)
            return set_error(err, errlen, "'%s' needs a value after it", opts[i]);
        if (flag_seen)
            return set_error(err, errlen, "'%s' is not an allowed value of '%s'", opts[i + 1],
                             opts[i]);
        return set_error(err, errlen, "'%s' is not allowed", opts[i]);
    }
    return 0;
}

char **lang_argv_expand(char *const *argv, char *const *opts, size_t n)
{
    if (!argv)
        return NULL;
    size_t len = 0;
    while (argv[len])
        len++;
    char **v = xcalloc(len + n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (strcmp(argv[i], LANG_OPTIONS_SLOT) != 0) {
            v[k++] = argv[i];
            continue;
        }
        for (size_t j = 0; j < n; j++)
            v[k++] = opts[j];
    }
    return v;
}

void lang_table_free(lang_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        language_clear(&t->langs[i]);
    free(t->langs);
    free(t);
}
