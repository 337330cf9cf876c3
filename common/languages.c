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
    json_array_foreach(a, i, s) {
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
    json_object_foreach(env, name, value) {
        if (!json_is_string(value) || !*name || strchr(name, '='))
            return set_error(err, errlen, "%s: env must be an object of strings", id);
        l->env[n++] = xasprintf("%s=%s", name, json_string_value(value));
    }
    json_t *main_class = json_object_get(o, "main_class");
    if (main_class && !json_is_string(main_class))
        return set_error(err, errlen, "%s: main_class must be a string", id);
    if (main_class)
        l->main_class = xstrdup(json_string_value(main_class));
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
        return set_error(err, errlen, "LANGUAGES_FILE %s: %s (line %d)", c->languages_file, jerr.text,
                    jerr.line);
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
    json_array_foreach(arr, i, o) {
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

json_t *lang_table_to_json(const lang_table *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < t->n; i++) {
        const language *l = &t->langs[i];
        json_t *aliases = json_array();
        for (char **a = l->aliases; a && *a; a++)
            json_array_append_new(aliases, json_string(*a));
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:o, s:b, s:{s:i, s:i, s:i, s:i}}", "id", l->id,
                           "version", l->version, "aliases", aliases, "compiled",
                           l->compile_argv != NULL, "limits", "timeout", l->run.timeout,
                           "max_timeout", l->run.max_timeout, "memory_mb", l->run.memory_mb,
                           "max_memory_mb", l->run.max_memory_mb));
    }
    return json_pack("{s:o}", "languages", arr);
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
