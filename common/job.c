/* The job request model: parsing and validation of POST /run-code bodies (also used by the
 * worker on the stored canonical JSON), and the canonical JSON written to Redis. */
#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/b64.h"
#include "common/util.h"

/* A string field, decoded from base64 when b64. Missing: *out stays NULL, returns 0. */
static int text_field(const json_t *o, const char *key, bool b64, char **out, size_t *len,
                      char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return set_error(err, errlen, "'%s' must be a string", key);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!b64) {
        *out = xstrndup(s, n);
        *len = n;
        return 0;
    }
    if (b64_decode(s, n, out, len) < 0)
        return set_error(err, errlen, "'%s' is not valid base64", key);
    return 0;
}

int job_json_whole(const json_t *o, const char *key, int min, int max, int *out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else
        return set_error(err, errlen, "'%s' must be a number", key);
    if (d < min || d > max)
        return set_error(err, errlen, "'%s' must be from %d to %d", key, min, max);
    if (d != (double)(int)d)
        return set_error(err, errlen, "'%s' must be a whole number", key);
    *out = (int)d;
    return 1;
}

/* job_json_whole, and *given set when the field was there. */
static int int_field(const json_t *o, const char *key, int min, int max, int *out, bool *given,
                     char *err, size_t errlen)
{
    int rc = job_json_whole(o, key, min, max, out, err, errlen);
    if (rc > 0)
        *given = true;
    return rc < 0 ? -1 : 0;
}

static bool valid_file_name(const char *s, size_t n)
{
    if (n == 0 || n > 128 || s[0] == '.' || memchr(s, '/', n) || memchr(s, '\0', n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '\\')
            return false;
    return true;
}

static int parse_args(const json_t *o, job_request *r, char *err, size_t errlen)
{
    json_t *a = json_object_get(o, "args");
    if (a && !json_is_null(a) && !json_is_array(a))
        return set_error(err, errlen, "'args' must be an array of strings");
    size_t n = a ? json_array_size(a) : 0;
    if (n > JOB_MAX_ARGS)
        return set_error(err, errlen, "'args' may hold at most %d strings", JOB_MAX_ARGS);
    r->args = xcalloc(n + 1, sizeof *r->args);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s))
            return set_error(err, errlen, "'args' must be an array of strings");
        r->args[i] = xstrdup(json_string_value(s));
        r->nargs++;
    }
    return 0;
}

/* An array of strings field as a NULL-terminated vector (*v never NULL afterwards); what a step
 * accepts is checked by the caller. */
static int parse_options(const json_t *o, const char *key, char ***v, size_t *n, char *err,
                         size_t errlen)
{
    json_t *a = json_object_get(o, key);
    if (a && !json_is_null(a) && !json_is_array(a))
        return set_error(err, errlen, "'%s' must be an array of strings", key);
    size_t len = a ? json_array_size(a) : 0;
    if (len > JOB_MAX_OPTIONS)
        return set_error(err, errlen, "'%s' may hold at most %d options", key, JOB_MAX_OPTIONS);
    *v = xcalloc(len + 1, sizeof **v);
    for (size_t i = 0; i < len; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s))
            return set_error(err, errlen, "'%s' must be an array of strings", key);
        const char *opt = json_string_value(s);
        size_t olen = json_string_length(s);
        if (olen == 0 || olen > JOB_MAX_OPTION_LEN)
            return set_error(err, errlen, "'%s': an option must be 1 to %d bytes long", key,
                             JOB_MAX_OPTION_LEN);
        for (size_t j = 0; j < olen; j++)
            if ((unsigned char)opt[j] < 0x20 || opt[j] == 0x7f)
                return set_error(err, errlen, "'%s': option %zu holds a control character", key,
                                 i + 1);
        (*v)[i] = xstrdup(opt);
        (*n)++;
    }
    return 0;
}

/* The options of one step, checked against the language's allow-list for it. */
static int check_options(const char *key, const lang_options *allowed, bool has_step,
                         const job_request *r, char *const *opts, size_t n, char *err,
                         size_t errlen)
{
    if (n == 0)
        return 0;
    if (!has_step)
        return set_error(err, errlen, "'%s': %s has no compile step", key, r->lang->id);
    if (allowed->n == 0)
        return set_error(err, errlen, "'%s': %s takes none", key, r->lang->id);
    char why[JOB_MAX_OPTION_LEN * 2 + 64];
    if (lang_options_check(allowed, opts, n, why, sizeof why) < 0)
        return set_error(err, errlen, "'%s': %s for %s (see GET /languages)", key, why,
                         r->lang->id);
    return 0;
}

#define BOM "\xef\xbb\xbf"

/* Remove every leading UTF-8 byte-order mark (every one, so that stripping twice changes
 * nothing: the stored request parses back to the same bytes). */
static void strip_bom(char *s, size_t *len)
{
    size_t skip = 0;
    while (*len - skip >= 3 && memcmp(s + skip, BOM, 3) == 0)
        skip += 3;
    memmove(s, s + skip, *len - skip + 1); /* with the terminating NUL */
    *len -= skip;
}

/* Whether an extra file is a source of the language: same extension as its main source. */
static bool is_source(const char *name, const language *lang)
{
    const char *ext = strrchr(lang->source_file, '.'), *fext = strrchr(name, '.');
    return ext && fext && strcmp(ext, fext) == 0;
}

static int parse_files(const json_t *o, const language *lang, job_request *r, char *err,
                       size_t errlen)
{
    json_t *a = json_object_get(o, "files");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return set_error(err, errlen, "'files' must be an array of {\"name\", \"content\"}");
    if (json_array_size(a) > JOB_MAX_FILES)
        return set_error(err, errlen, "'files' may hold at most %d files", JOB_MAX_FILES);
    r->files = xcalloc(json_array_size(a) + 1, sizeof *r->files);
    size_t i;
    json_t *f;
    json_array_foreach(a, i, f)
    {
        json_t *name = json_object_get(f, "name");
        if (!json_is_object(f) || !json_is_string(name))
            return set_error(err, errlen, "'files' must be an array of {\"name\", \"content\"}");
        const char *nm = json_string_value(name);
        size_t nlen = json_string_length(name);
        if (!valid_file_name(nm, nlen) || strcmp(nm, lang->source_file) == 0)
            return set_error(err, errlen,
                             "file name '%s' is not allowed (no '/', no leading '.', not %s)", nm,
                             lang->source_file);
        for (size_t j = 0; j < r->nfiles; j++)
            if (strcmp(r->files[j].name, nm) == 0)
                return set_error(err, errlen, "file name '%s' is given twice", nm);
        job_file *jf = &r->files[r->nfiles++];
        jf->name = xstrdup(nm);
        if (text_field(f, "content", r->base64, &jf->content, &jf->len, err, errlen) < 0)
            return -1;
        if (!jf->content)
            return set_error(err, errlen, "file '%s' needs a string 'content'", nm);
        if (is_source(nm, lang))
            strip_bom(jf->content, &jf->len);
    }
    return 0;
}

static int parse_tests(const json_t *o, job_request *r, char *err, size_t errlen)
{
    json_t *a = json_object_get(o, "tests");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return set_error(err, errlen,
                         "'tests' must be a non-empty array of {\"stdin\", "
                         "\"expected_output\"}");
    if (json_array_size(a) > JOB_MAX_TESTS)
        return set_error(err, errlen, "'tests' may hold at most %d cases", JOB_MAX_TESTS);
    r->tests = xcalloc(json_array_size(a), sizeof *r->tests);
    size_t i;
    json_t *t;
    json_array_foreach(a, i, t)
    {
        if (!json_is_object(t))
            return set_error(err, errlen, "'tests' must be an array of objects");
        job_test *jt = &r->tests[r->ntests++];
        if (text_field(t, "stdin", r->base64, &jt->stdin_data, &jt->stdin_len, err, errlen) < 0 ||
            text_field(t, "expected_output", r->base64, &jt->expected, &jt->expected_len, err,
                       errlen) < 0)
            return -1;
    }
    return 0;
}

static const char *const known_fields[] = {
    "language",    "code",   "stdin", "args",  "timeout",
    "memory_mb",   "base64", "files", "tests", "compiler_options",
    "run_options", NULL};

static int parse_object(const json_t *o, const lang_table *langs, const cfg *c, job_request *r,
                        char *err, size_t errlen)
{
    if (!json_is_object(o))
        return set_error(err, errlen, "the body must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (const char *const *k = known_fields; *k && !known; k++)
            known = strcmp(*k, key) == 0;
        if (!known)
            return set_error(err, errlen, "unknown field '%s'", key);
    }
    json_t *b = json_object_get(o, "base64");
    if (b && !json_is_boolean(b) && !json_is_null(b))
        return set_error(err, errlen, "'base64' must be true or false");
    r->base64 = json_is_true(b);
    json_t *lang = json_object_get(o, "language");
    if (!json_is_string(lang))
        return set_error(err, errlen, "'language' is required and must be a string");
    r->lang = lang_table_find(langs, json_string_value(lang));
    if (!r->lang)
        return set_error(err, errlen, "unknown language '%s' (see GET /languages)",
                         json_string_value(lang));
    json_t *code = json_object_get(o, "code");
    if (!code)
        return set_error(err, errlen, "'code' is required");
    if (text_field(o, "code", r->base64, &r->code, &r->code_len, err, errlen) < 0)
        return -1;
    if (r->code)
        strip_bom(r->code, &r->code_len);
    if (!r->code || r->code_len == 0)
        return set_error(err, errlen, "'code' must not be empty");
    if (text_field(o, "stdin", r->base64, &r->stdin_data, &r->stdin_len, err, errlen) < 0)
        return -1;
    const lang_limits *lim = &r->lang->run;
    int max_timeout = lim->max_timeout < c->max_timeout ? lim->max_timeout : c->max_timeout;
    int max_mem = lim->max_memory_mb < c->max_memory_mb ? lim->max_memory_mb : c->max_memory_mb;
    r->timeout = lim->timeout < max_timeout ? lim->timeout : max_timeout;
    r->memory_mb = lim->memory_mb < max_mem ? lim->memory_mb : max_mem;
    if (int_field(o, "timeout", 1, max_timeout, &r->timeout, &r->timeout_given, err, errlen) < 0 ||
        int_field(o, "memory_mb", 16, max_mem, &r->memory_mb, &r->memory_given, err, errlen) < 0)
        return -1;
    if (parse_args(o, r, err, errlen) < 0 || parse_files(o, r->lang, r, err, errlen) < 0 ||
        parse_tests(o, r, err, errlen) < 0)
        return -1;
    if (parse_options(o, "compiler_options", &r->compiler_options, &r->ncompiler_options, err,
                      errlen) < 0 ||
        parse_options(o, "run_options", &r->run_options, &r->nrun_options, err, errlen) < 0 ||
        check_options("compiler_options", &r->lang->compile_options, r->lang->compile_argv != NULL,
                      r, r->compiler_options, r->ncompiler_options, err, errlen) < 0 ||
        check_options("run_options", &r->lang->run_options, true, r, r->run_options,
                      r->nrun_options, err, errlen) < 0)
        return -1;
    long worst = job_request_worst_seconds(r);
    if (worst > c->max_job_seconds)
        return set_error(err, errlen,
                         "this job could run for %ld s (compile %d s + %zu run(s) x %d s), over "
                         "MAX_JOB_SECONDS (%d): lower 'timeout' or send fewer tests",
                         worst, r->lang->compile_argv ? r->lang->compile.timeout : 0,
                         r->ntests ? r->ntests : 1, r->timeout, c->max_job_seconds);
    return 0;
}

long job_request_worst_seconds(const job_request *r)
{
    long compile = r->lang->compile_argv ? r->lang->compile.timeout : 0;
    return compile + (long)(r->ntests ? r->ntests : 1) * r->timeout;
}

int job_request_parse(const char *body, size_t len, const lang_table *langs, const cfg *c,
                      job_request *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return set_error(err, errlen, "malformed JSON: %s", jerr.text);
    int rc = parse_object(o, langs, c, r, err, errlen);
    json_decref(o);
    if (rc < 0)
        job_request_free(r);
    return rc;
}

/* A text field as stored: base64 again when the request came in base64. */
static json_t *text_json(const char *s, size_t n, bool b64)
{
    if (!b64)
        return json_stringn(s, n);
    char *enc = b64_encode(s, n);
    json_t *j = json_string(enc);
    free(enc);
    return j;
}

static json_t *strings_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

char *job_request_to_json(const job_request *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "language", json_string(r->lang->id));
    json_object_set_new(o, "code", text_json(r->code, r->code_len, r->base64));
    if (r->stdin_data)
        json_object_set_new(o, "stdin", text_json(r->stdin_data, r->stdin_len, r->base64));
    if (r->nargs)
        json_object_set_new(o, "args", strings_json(r->args, r->nargs));
    if (r->ncompiler_options)
        json_object_set_new(o, "compiler_options",
                            strings_json(r->compiler_options, r->ncompiler_options));
    if (r->nrun_options)
        json_object_set_new(o, "run_options", strings_json(r->run_options, r->nrun_options));
    if (r->timeout_given)
        json_object_set_new(o, "timeout", json_integer(r->timeout));
    if (r->memory_given)
        json_object_set_new(o, "memory_mb", json_integer(r->memory_mb));
    if (r->base64)
        json_object_set_new(o, "base64", json_true());
    if (r->nfiles) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->nfiles; i++)
            json_array_append_new(
                a, json_pack("{s:s, s:o}", "name", r->files[i].name, "content",
                             text_json(r->files[i].content, r->files[i].len, r->base64)));
        json_object_set_new(o, "files", a);
    }
    if (r->ntests) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->ntests; i++) {
            const job_test *t = &r->tests[i];
            json_t *tj = json_object();
            if (t->stdin_data)
                json_object_set_new(tj, "stdin", text_json(t->stdin_data, t->stdin_len, r->base64));
            if (t->expected)
                json_object_set_new(tj, "expected_output",
                                    text_json(t->expected, t->expected_len, r->base64));
            json_array_append_new(a, tj);
        }
        json_object_set_new(o, "tests", a);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        abort(); /* only allocation failure can make json_dumps fail here */
    return s;
}

void job_request_free(job_request *r)
{
    if (!r)
        return;
    free(r->code);
    free(r->stdin_data);
    for (size_t i = 0; i < r->nargs; i++)
        free(r->args[i]);
    free(r->args);
    for (size_t i = 0; i < r->ncompiler_options; i++)
        free(r->compiler_options[i]);
    free(r->compiler_options);
    for (size_t i = 0; i < r->nrun_options; i++)
        free(r->run_options[i]);
    free(r->run_options);
    for (size_t i = 0; i < r->nfiles; i++) {
        free(r->files[i].name);
        free(r->files[i].content);
    }
    free(r->files);
    for (size_t i = 0; i < r->ntests; i++) {
        free(r->tests[i].stdin_data);
        free(r->tests[i].expected);
    }
    free(r->tests);
    memset(r, 0, sizeof *r);
}
