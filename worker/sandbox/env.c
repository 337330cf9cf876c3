/* The environment of a sandbox step: defaults plus the language's entries (see env.h). */
#include "env.h"

#include <string.h>

static const char *const defaults[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/tmp",
    "LANG=C.UTF-8",
};

/* Index of the entry of env (an array of "NAME=value") named like entry, or -1. */
static long find_name(json_t *env, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t n = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *s = json_string_value(json_array_get(env, i));
        if (strncmp(s, entry, n) == 0 && s[n] == '=')
            return (long)i;
    }
    return -1;
}

json_t *sandbox_env_json(char *const *lang_env)
{
    json_t *env = json_array();
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
        json_array_append_new(env, json_string(defaults[i]));
    for (size_t i = 0; lang_env && lang_env[i]; i++) {
        json_t *s = json_string(lang_env[i]);
        if (!s)
            continue; /* not UTF-8: languages.c only stores what came from the JSON file */
        long at = find_name(env, lang_env[i]);
        if (at >= 0)
            json_array_set_new(env, (size_t)at, s);
        else
            json_array_append_new(env, s);
    }
    return env;
}
