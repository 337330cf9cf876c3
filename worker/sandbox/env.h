/* The process environment of a sandbox step, the same in every backend: the defaults (PATH,
 * HOME, LANG), then the language's own entries (languages.json "env"); an entry of the
 * language whose name is already set replaces that value instead of adding a duplicate.
 *
 *   sandbox_env_json(lang_env)   a JSON array of "NAME=value" strings (new reference, caller
 *                                owns); lang_env is NULL-terminated, or NULL for none. */
#ifndef CR_SANDBOX_ENV_H
#define CR_SANDBOX_ENV_H

#include <jansson.h>

json_t *sandbox_env_json(char *const *lang_env);

#endif
