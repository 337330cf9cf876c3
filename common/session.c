/* The session model: states and operations with their names, the create and execute bodies,
 * the stored form of a run, and workspace paths (see session.h). */
#include "session.h"

#include <string.h>

#include "common/job.h"
#include "common/util.h"

static const char *const status_names[] = {
    [SESSION_PENDING] = "pending",   [SESSION_CREATING] = "creating",
    [SESSION_READY] = "ready",       [SESSION_EXECUTING] = "executing",
    [SESSION_STOPPING] = "stopping", [SESSION_STOPPED] = "stopped",
    [SESSION_ERROR] = "error",
};

const char *session_status_str(session_status s)
{
    return (size_t)s < sizeof status_names / sizeof *status_names ? status_names[s] : "?";
}

int session_status_parse(const char *s, session_status *out)
{
    for (size_t i = 0; s && i < sizeof status_names / sizeof *status_names; i++)
        if (strcmp(s, status_names[i]) == 0) {
            *out = (session_status)i;
            return 0;
        }
    return -1;
}

bool session_status_live(session_status s)
{
    return s == SESSION_PENDING || s == SESSION_CREATING || s == SESSION_READY ||
           s == SESSION_EXECUTING;
}

static const char *const op_names[] = {
    [SESSION_OP_CREATE] = "create", [SESSION_OP_RUN] = "run",   [SESSION_OP_PUT] = "put",
    [SESSION_OP_GET] = "get",       [SESSION_OP_LIST] = "list", [SESSION_OP_DELETE] = "delete",
};

const char *session_op_str(session_op op)
{
    return (size_t)op < sizeof op_names / sizeof *op_names ? op_names[op] : "?";
}

int session_op_parse(const char *s, session_op *out)
{
    for (size_t i = 0; s && i < sizeof op_names / sizeof *op_names; i++)
        if (strcmp(s, op_names[i]) == 0) {
            *out = (session_op)i;
            return 0;
        }
    return -1;
}

/* Every key of o is one of known (NULL-terminated); else a message naming the first that is
 * not. */
static int only_known(const json_t *o, const char *const *known, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = strcmp(*k, key) == 0;
        if (!ok)
            return set_error(err, errlen, "unknown field '%s'", key);
    }
    return 0;
}

/* An optional whole number within [min, max]; *out untouched when absent or null. */
static int whole(const json_t *o, const char *key, int min, int max, int *out, char *err,
                 size_t errlen)
{
    return job_json_whole(o, key, min, max, out, err, errlen) < 0 ? -1 : 0;
}

static json_t *load_object(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        set_error(err, errlen, "malformed JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        set_error(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

int session_spec_parse(const char *body, size_t len, const lang_table *langs, const cfg *c,
                       session_spec *spec, char *err, size_t errlen)
{
    static const char *const known[] = {"environment", "memory_mb", "timeout", "ttl", NULL};
    memset(spec, 0, sizeof *spec);
    json_t *o = load_object(body, len, err, errlen);
    if (!o)
        return -1;
    int rc = -1;
    json_t *env = json_object_get(o, "environment");
    if (only_known(o, known, err, errlen) < 0)
        goto done;
    if (!json_is_string(env)) {
        set_error(err, errlen, "'environment' is required and must be a string");
        goto done;
    }
    spec->lang = lang_table_find(langs, json_string_value(env));
    if (!spec->lang) {
        set_error(err, errlen, "unknown environment '%s' (see GET /api/v1/environments)",
                  json_string_value(env));
        goto done;
    }
    const lang_limits *lim = &spec->lang->run;
    int max_timeout = min_int(lim->max_timeout, c->max_timeout);
    int max_mem = min_int(lim->max_memory_mb, c->max_memory_mb);
    spec->timeout = min_int(lim->timeout, max_timeout);
    spec->memory_mb = min_int(lim->memory_mb, max_mem);
    spec->ttl = c->session_ttl;
    if (whole(o, "memory_mb", 16, max_mem, &spec->memory_mb, err, errlen) < 0 ||
        whole(o, "timeout", 1, max_timeout, &spec->timeout, err, errlen) < 0 ||
        whole(o, "ttl", 1, c->session_max_lifetime, &spec->ttl, err, errlen) < 0)
        goto done;
    rc = 0;
done:
    json_decref(o);
    if (rc < 0)
        spec->lang = NULL;
    return rc;
}

int session_path_check(const char *path, char *err, size_t errlen)
{
    size_t len = strlen(path);
    if (len == 0)
        return set_error(err, errlen, "the path is empty");
    if (len > SESSION_PATH_MAX)
        return set_error(err, errlen, "the path is longer than %d bytes", SESSION_PATH_MAX);
    if (path[0] == '/')
        return set_error(err, errlen, "the path must be relative to the workspace");
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 0)
            return set_error(err, errlen, "the path has an empty component");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return set_error(err, errlen, "the path may not hold '.' or '..' components");
        if (n > SESSION_NAME_MAX)
            return set_error(err, errlen, "a path component is longer than %d bytes",
                             SESSION_NAME_MAX);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return set_error(err, errlen, "the path holds a control character");
        p += n;
        if (*p == '/' && *++p == '\0')
            return set_error(err, errlen, "the path has an empty component");
    }
    return 0;
}

/* An optional string field; NULL when absent or null. */
static int text(const json_t *o, const char *key, char **out, size_t *len, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return set_error(err, errlen, "'%s' must be a string", key);
    *out = xstrndup(json_string_value(v), json_string_length(v));
    if (len)
        *len = json_string_length(v);
    return 0;
}

static int parse_run(const json_t *o, const cfg *c, const char *const *known, session_run *run,
                     char *err, size_t errlen)
{
    if (only_known(o, known, err, errlen) < 0)
        return -1;
    if (!json_object_get(o, "code"))
        return set_error(err, errlen, "'code' is required");
    if (text(o, "code", &run->code, &run->code_len, err, errlen) < 0 ||
        text(o, "stdin", &run->stdin_data, &run->stdin_len, err, errlen) < 0 ||
        text(o, "filename", &run->filename, NULL, err, errlen) < 0)
        return -1;
    if (!run->code || run->code_len == 0)
        return set_error(err, errlen, "'code' must not be empty");
    if (memchr(run->code, '\0', run->code_len))
        return set_error(err, errlen, "'code' holds a NUL character");
    char why[128];
    if (run->filename && session_path_check(run->filename, why, sizeof why) < 0)
        return set_error(err, errlen, "'filename': %s", why);
    json_t *a = json_object_get(o, "args");
    if (a && !json_is_null(a) && !json_is_array(a))
        return set_error(err, errlen, "'args' must be an array of strings");
    size_t n = a ? json_array_size(a) : 0;
    if (n > SESSION_MAX_ARGS)
        return set_error(err, errlen, "'args' may hold at most %d strings", SESSION_MAX_ARGS);
    run->args = xcalloc(n + 1, sizeof *run->args);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s) || memchr(json_string_value(s), '\0', json_string_length(s)))
            return set_error(err, errlen, "'args' must be an array of strings without NUL");
        run->args[run->nargs++] = xstrdup(json_string_value(s));
    }
    return whole(o, "timeout", 1, c->max_timeout, &run->timeout, err, errlen);
}

int session_run_parse(const char *body, size_t len, const cfg *c, session_run *run, char *err,
                      size_t errlen)
{
    static const char *const known[] = {"code", "filename", "stdin", "args", "timeout", NULL};
    memset(run, 0, sizeof *run);
    json_t *o = load_object(body, len, err, errlen);
    if (!o)
        return -1;
    int rc = parse_run(o, c, known, run, err, errlen);
    json_decref(o);
    if (rc < 0)
        session_run_free(run);
    return rc;
}

int session_run_from_json(const json_t *o, const cfg *c, session_run *run, char *err, size_t errlen)
{
    static const char *const known[] = {"code",    "filename", "stdin",   "args",
                                        "timeout", "op",       "session", NULL};
    memset(run, 0, sizeof *run);
    if (!json_is_object(o))
        return set_error(err, errlen, "the stored run is not a JSON object");
    int rc = parse_run(o, c, known, run, err, errlen);
    if (rc < 0)
        session_run_free(run);
    return rc;
}

char *session_run_to_json(const session_run *run, const char *sid)
{
    json_t *o = json_pack("{s:s, s:s, s:s%}", "op", "run", "session", sid, "code", run->code,
                          run->code_len);
    if (run->filename)
        json_object_set_new(o, "filename", json_string(run->filename));
    if (run->stdin_data)
        json_object_set_new(o, "stdin", json_stringn(run->stdin_data, run->stdin_len));
    if (run->nargs) {
        json_t *a = json_array();
        for (size_t i = 0; i < run->nargs; i++)
            json_array_append_new(a, json_string(run->args[i]));
        json_object_set_new(o, "args", a);
    }
    if (run->timeout)
        json_object_set_new(o, "timeout", json_integer(run->timeout));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        abort(); /* only allocation failure can make json_dumps fail here */
    return s;
}

void session_run_free(session_run *run)
{
    if (!run)
        return;
    free(run->code);
    free(run->filename);
    free(run->stdin_data);
    for (size_t i = 0; i < run->nargs; i++)
        free(run->args[i]);
    free(run->args);
    memset(run, 0, sizeof *run);
}
