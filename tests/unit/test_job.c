/* Unit tests for common/job and common/languages: request validation (every client error the
 * API reports), defaults and limits, base64, the canonical JSON round trip, the language table. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "common/job.h"
#include "common/languages.h"

static const char table[] =
    "{\"languages\": ["
    " {\"id\": \"python\", \"aliases\": [\"py\", \"python3\"], \"version\": \"3.11\","
    "  \"image\": \"python\", \"source_file\": \"main.py\", \"compile\": null,"
    "  \"run\": [\"python3\", \"main.py\"],"
    "  \"limits\": {\"run\": {\"timeout\": 5, \"max_timeout\": 20, \"memory_mb\": 128}}},"
    " {\"id\": \"c\", \"version\": \"12\", \"image\": \"gcc\", \"source_file\": \"main.c\","
    "  \"compile\": [\"gcc\", \"main.c\"], \"run\": [\"./a.out\"]},"
    " {\"id\": \"cc\", \"image\": \"gcc\", \"source_file\": \"main.c\","
    "  \"compile\": [\"gcc\", \"-O2\", \"{options}\", \"-o\", \"main\", \"main.c\"],"
    "  \"run\": [\"./main\", \"{options}\"],"
    "  \"options\": {\"compile\": [\"-O[0-3]|-Ofast\", \"-D[A-Za-z_][A-Za-z0-9_]*(=[ -~]*)?\","
    "                            [\"--add-modules\", \"jdk\\\\.incubator\\\\.vector\"]],"
    "              \"run\": []}}"
    "]}";

static cfg c;
static lang_table *langs;

static int parse(const char *body, job_request *r, char *err)
{
    return job_request_parse(body, strlen(body), langs, &c, r, err, 256);
}

/* Expects a 400-style rejection whose message contains want. */
static void rejects(const char *body, const char *want)
{
    job_request r;
    char err[256] = "";
    check(parse(body, &r, err) == -1);
    check(strstr(err, want) != NULL);
    if (!strstr(err, want))
        fprintf(stderr, "  body %s: message '%s' lacks '%s'\n", body, err, want);
    check(r.code == NULL && r.args == NULL); /* nothing left allocated */
}

static void write_table(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* A table with one language "x" whose compile argv and options are the given JSON texts. */
static int load_x(const char *path, const char *compile, const char *options, char *err)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"languages\": [{\"id\": \"x\", \"image\": \"gcc\", \"source_file\": \"main.c\","
             " \"compile\": %s, \"run\": [\"./main\"], \"options\": %s}]}",
             compile, options);
    write_table(path, text);
    lang_table *t = NULL;
    int rc = lang_table_load(&c, &t, err, 256);
    lang_table_free(t);
    return rc;
}

static void bad_option_tables(const char *path)
{
    char err[256];
    test("option allow-lists in the table");
    check(load_x(path, "[\"gcc\", \"{options}\"]", "{\"compile\": [\"-O[0-3]\"]}", err) == 0);
    check(load_x(path, "[\"gcc\"]", "{\"compile\": []}", err) == 0); /* empty: no slot needed */
    check(load_x(path, "[\"gcc\"]", "{\"compile\": [\"-O\"]}", err) == -1);
    check(strstr(err, "{options}") != NULL);
    check(load_x(path, "[\"gcc\", \"{options}\", \"{options}\"]", "{}", err) == -1);
    check(load_x(path, "[\"gcc\", \"{options}\"]", "{\"run\": [\"-u\"]}", err) == -1);
    check(load_x(path, "[\"gcc\", \"{options}\"]", "{\"compile\": [\"(\"]}", err) == -1);
    check(strstr(err, "regular expressions") != NULL);
    check(load_x(path, "[\"gcc\", \"{options}\"]", "{\"compile\": [\"\"]}", err) == -1);
    check(load_x(path, "[\"gcc\", \"{options}\"]", "{\"compile\": [[\"-a\"]]}", err) == -1);
    check(load_x(path, "[\"gcc\", \"{options}\"]", "{\"compile\": [[\"-a\", \"b\", \"c\"]]}",
                 err) == -1);
    check(load_x(path, "[\"gcc\", \"{options}\"]", "{\"compile\": [[\"-a\", \"(\"]]}", err) == -1);
    check(load_x(path, "[\"gcc\", \"{options}\"]", "{\"compile\": [3]}", err) == -1);
    check(load_x(path, "[\"gcc\", \"{options}\"]", "{\"compile\": \"-O\"}", err) == -1);
    check(load_x(path, "[\"gcc\", \"{options}\"]", "[]", err) == -1);
}

/* A request for language cc with the given extra fields (JSON text after a comma). */
static int parse_cc(const char *fields, job_request *r, char *err)
{
    char body[8192];
    snprintf(body, sizeof body, "{\"language\": \"cc\", \"code\": \"int main;\", %s}", fields);
    return parse(body, r, err);
}

static void rejects_cc(const char *fields, const char *want)
{
    char body[8192];
    snprintf(body, sizeof body, "{\"language\": \"cc\", \"code\": \"int main;\", %s}", fields);
    rejects(body, want);
}

static void options(job_request *r, char *err)
{
    test("allowed options, in the step's argv slot");
    check(parse_cc("\"compiler_options\": [\"-O3\", \"-DNAME=a b\\\"c\", \"--add-modules\","
                   " \"jdk.incubator.vector\", \"-Ofast\", \"-D_X\"]",
                   r, err) == 0);
    check(r->ncompiler_options == 6 && r->compiler_options[6] == NULL);
    check_str(r->compiler_options[1], "-DNAME=a b\"c");
    check(r->nrun_options == 0 && r->run_options && !r->run_options[0]);
    char **argv =
        lang_argv_expand(r->lang->compile_argv, r->compiler_options, r->ncompiler_options);
    const char *want[] = {
        "gcc",    "-O2",  "-O3", "-DNAME=a b\"c", "--add-modules", "jdk.incubator.vector",
        "-Ofast", "-D_X", "-o",  "main",          "main.c",        NULL};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        check(want[i] ? argv[i] && strcmp(argv[i], want[i]) == 0 : argv[i] == NULL);
    free(argv);
    argv = lang_argv_expand(r->lang->run_argv, NULL, 0); /* no options: the slot goes */
    check_str(argv[0], "./main");
    check(argv[1] == NULL);
    free(argv);
    check(lang_argv_expand(NULL, NULL, 0) == NULL);

    test("options survive the canonical round trip");
    char *canon = job_request_to_json(r);
    job_request r2;
    check(parse(canon, &r2, err) == 0);
    check(r2.ncompiler_options == 6 && strcmp(r2.compiler_options[3], "jdk.incubator.vector") == 0);
    job_request_free(&r2);
    free(canon);
    job_request_free(r);
    check(parse_cc("\"compiler_options\": [], \"run_options\": null", r, err) == 0);
    canon = job_request_to_json(r);
    check(strstr(canon, "options") == NULL); /* none given, none stored */
    free(canon);
    job_request_free(r);

    test("refused options name the option");
    rejects_cc("\"compiler_options\": [\"-fplugin=/tmp/x.so\"]",
               "'compiler_options': '-fplugin=/tmp/x.so' is not allowed for cc");
    rejects_cc("\"compiler_options\": [\"-O3\", \"-wrapper\", \"/bin/sh\"]",
               "'-wrapper' is not allowed");
    rejects_cc("\"compiler_options\": [\"@/etc/passwd\"]", "'@/etc/passwd' is not allowed");
    rejects_cc("\"compiler_options\": [\"-B/tmp\"]", "'-B/tmp'");
    rejects_cc("\"compiler_options\": [\"-specs=x\"]", "'-specs=x'");
    rejects_cc("\"compiler_options\": [\"-o\", \"x\"]", "'-o'");
    rejects_cc("\"compiler_options\": [\"-x\", \"c\"]", "'-x'");
    rejects_cc("\"compiler_options\": [\"-Wl,-rpath,/tmp\"]", "'-Wl,-rpath,/tmp'");
    rejects_cc("\"compiler_options\": [\"-O4\"]", "'-O4'");
    rejects_cc("\"compiler_options\": [\"-O3 -fplugin=x\"]", "'-O3 -fplugin=x'");
    rejects_cc("\"compiler_options\": [\"x-O3\"]", "'x-O3'");
    rejects_cc("\"compiler_options\": [\"-Ofast-fplugin=x\"]", "'-Ofast-fplugin=x'"); /* anchored */
    rejects_cc("\"compiler_options\": [\"-D\", \"X\"]", "'-D' is not allowed");
    rejects_cc("\"compiler_options\": [\"-D1X\"]", "'-D1X'");
    rejects_cc("\"compiler_options\": [\"--add-modules\"]", "'--add-modules' needs a value");
    rejects_cc("\"compiler_options\": [\"--add-modules\", \"java.sql\"]",
               "'java.sql' is not an allowed value of '--add-modules'");
    rejects_cc("\"compiler_options\": [\"jdk.incubator.vector\"]", "'jdk.incubator.vector'");
    rejects_cc("\"compiler_options\": [\"-DX=a\\nb\"]", "control character");
    rejects_cc("\"compiler_options\": [\"-DX=a\\u0000b\"]", "malformed JSON"); /* no NUL */
    rejects_cc("\"compiler_options\": [\"\"]", "1 to 256 bytes");
    rejects_cc("\"compiler_options\": \"-O3\"", "'compiler_options' must be an array of strings");
    rejects_cc("\"compiler_options\": [3]", "'compiler_options' must be an array of strings");
    rejects_cc("\"run_options\": [\"-O3\"]", "'run_options': cc takes none");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"compiler_options\": [\"-O\"]}",
            "'compiler_options': python has no compile step");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"run_options\": [\"-u\"]}",
            "'run_options': python takes none");
    char fields[8192];
    char longopt[JOB_MAX_OPTION_LEN + 2];
    memset(longopt, 'A', sizeof longopt - 1);
    longopt[sizeof longopt - 1] = 0;
    longopt[0] = '-', longopt[1] = 'D';
    snprintf(fields, sizeof fields, "\"compiler_options\": [\"%s\"]", longopt);
    rejects_cc(fields, "1 to 256 bytes");
    longopt[JOB_MAX_OPTION_LEN] = 0; /* the longest allowed */
    snprintf(fields, sizeof fields, "\"compiler_options\": [\"%s\"]", longopt);
    check(parse_cc(fields, r, err) == 0);
    job_request_free(r);
    size_t n = (size_t)snprintf(fields, sizeof fields, "\"compiler_options\": [\"-O1\"");
    for (int i = 1; i < JOB_MAX_OPTIONS; i++)
        n += (size_t)snprintf(fields + n, sizeof fields - n, ", \"-O2\"");
    snprintf(fields + n, sizeof fields - n, "]");
    check(parse_cc(fields, r, err) == 0 && r->ncompiler_options == JOB_MAX_OPTIONS);
    job_request_free(r);
    fields[n] = 0;
    snprintf(fields + n, sizeof fields - n, ", \"-O3\"]");
    rejects_cc(fields, "at most 32 options");
}

static void boms(job_request *r, char *err)
{
    test("leading byte-order marks are removed from sources");
    check(parse("{\"language\": \"py\", \"code\": \"\\ufeffprint(1)\"}", r, err) == 0);
    check(r->code_len == 8 && strcmp(r->code, "print(1)") == 0);
    job_request_free(r);
    check(parse("{\"language\": \"py\", \"code\": \"\\ufeff\\ufeffx\\ufeff\"}", r, err) == 0);
    check(r->code_len == 4 && strcmp(r->code, "x\xef\xbb\xbf") == 0); /* only leading ones */
    char *canon = job_request_to_json(r);
    job_request r2;
    check(parse(canon, &r2, err) == 0 && r2.code_len == 4);
    job_request_free(&r2);
    free(canon);
    job_request_free(r);
    /* base64 of EF BB BF "x" */
    check(parse("{\"language\": \"py\", \"code\": \"77u/eA==\", \"base64\": true,"
                " \"files\": [{\"name\": \"u.py\", \"content\": \"77u/eA==\"},"
                "           {\"name\": \"data.txt\", \"content\": \"77u/eA==\"}]}",
                r, err) == 0);
    check(r->code_len == 1 && r->code[0] == 'x');
    check(r->files[0].len == 1 && r->files[0].content[0] == 'x'); /* a source: stripped */
    check(r->files[1].len == 4 && memcmp(r->files[1].content, "\xef\xbb\xbfx", 4) == 0); /* data */
    job_request_free(r);
    rejects("{\"language\": \"py\", \"code\": \"\\ufeff\"}", "must not be empty");
    rejects("{\"language\": \"py\", \"code\": \"\\ufeff\\ufeff\"}", "must not be empty");
}

int main(void)
{
    char path[] = "/tmp/cr-langs-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_table(path, table);
    setenv("LANGUAGES_FILE", path, 1);
    setenv("IMAGES_DIR", "/nonexistent", 1);
    char err[256];
    if (cfg_load(&c, err, sizeof err) < 0 || lang_table_load(&c, &langs, err, sizeof err) < 0) {
        fprintf(stderr, "setup: %s\n", err);
        return 1;
    }

    test("language table");
    check(langs->n == 3);
    check(lang_table_find(langs, "PY") == &langs->langs[0]);
    check(lang_table_find(langs, "python3") == &langs->langs[0]);
    check(lang_table_find(langs, "ruby") == NULL);
    check(langs->langs[0].compile_argv == NULL);
    check_str(langs->langs[1].compile_argv[0], "gcc");
    check(langs->langs[0].run.timeout == 5 && langs->langs[0].run.max_timeout == 20);
    check(langs->langs[1].run.timeout == 10); /* configuration default */
    check_str(langs->langs[0].version, "3.11");
    json_t *lj = lang_table_to_json(langs);
    check(json_array_size(json_object_get(lj, "languages")) == 3);
    json_t *cc = json_array_get(json_object_get(lj, "languages"), 2);
    check(json_array_size(json_object_get(cc, "compiler_options")) == 3);
    check(json_array_size(json_object_get(cc, "run_options")) == 0);
    check_str(json_string_value(json_array_get(json_object_get(cc, "compile"), 2)), "{options}");
    check(json_is_null(
        json_object_get(json_array_get(json_object_get(lj, "languages"), 0), "compile")));
    json_decref(lj);

    test("minimal request gets defaults");
    job_request r;
    check(parse("{\"language\": \"py\", \"code\": \"print(1)\"}", &r, err) == 0);
    check(r.lang == &langs->langs[0]);
    check(r.code_len == 8 && memcmp(r.code, "print(1)", 8) == 0);
    check(r.timeout == 5 && r.memory_mb == 128 && r.nargs == 0 && r.args && !r.args[0]);
    check(r.stdin_data == NULL && !r.base64);
    job_request_free(&r);

    test("full request and canonical round trip");
    const char *full =
        "{\"language\": \"python3\", \"code\": \"cHJpbnQoMSk=\", \"stdin\": \"aGk=\","
        " \"args\": [\"a\", \"b c\"], \"timeout\": 20, \"memory_mb\": 512,"
        " \"base64\": true,"
        " \"files\": [{\"name\": \"util.py\", \"content\": \"eD0x\"}],"
        " \"tests\": [{\"stdin\": \"MQ==\", \"expected_output\": \"Mg==\"}]}";
    check(parse(full, &r, err) == 0);
    check(r.base64 && r.code_len == 8 && memcmp(r.code, "print(1)", 8) == 0);
    check(r.stdin_len == 2 && memcmp(r.stdin_data, "hi", 2) == 0);
    check(r.nargs == 2 && strcmp(r.args[1], "b c") == 0 && r.args[2] == NULL);
    check(r.timeout == 20 && r.memory_mb == 512);
    check(r.nfiles == 1 && strcmp(r.files[0].name, "util.py") == 0 && r.files[0].len == 3);
    check(r.ntests == 1 && r.tests[0].stdin_len == 1 && r.tests[0].expected[0] == '2');
    char *canon = job_request_to_json(&r);
    job_request r2;
    check(parse(canon, &r2, err) == 0);
    check(r2.lang == r.lang && r2.code_len == r.code_len && r2.timeout == 20);
    check(r2.memory_mb == 512 && r2.nfiles == 1 && r2.ntests == 1 && r2.nargs == 2);
    check(r2.stdin_len == 2 && r2.base64);
    job_request_free(&r2);
    free(canon);
    job_request_free(&r);
    job_request_free(&r); /* safe twice: the struct is zeroed */

    test("client errors");
    rejects("{\"language\": \"py\", \"code\": ", "malformed JSON");
    rejects("[1, 2]", "JSON object");
    rejects("{\"code\": \"x\"}", "'language' is required");
    rejects("{\"language\": 3, \"code\": \"x\"}", "'language'");
    rejects("{\"language\": \"ruby\", \"code\": \"x\"}", "unknown language 'ruby'");
    rejects("{\"language\": \"py\"}", "'code' is required");
    rejects("{\"language\": \"py\", \"code\": \"\"}", "must not be empty");
    rejects("{\"language\": \"py\", \"code\": 5}", "'code' must be a string");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"timeout\": 21}",
            "'timeout' must be from 1 to 20");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"timeout\": 0}", "'timeout'");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"timeout\": 1.5}", "whole number");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"timeout\": \"5\"}", "must be a number");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"memory_mb\": 4096}", "'memory_mb'");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"base64\": true}", "not valid base64");
    rejects("{\"language\": \"py\", \"code\": \"eA==\", \"stdin\": \"%%\", \"base64\": true}",
            "'stdin' is not valid base64");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"base64\": 1}", "'base64'");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"args\": \"a\"}", "'args'");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"args\": [1]}", "'args'");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"files\": [{\"name\": \"../x\", \"content\": "
            "\"\"}]}",
            "not allowed");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"files\": [{\"name\": \".hidden\", "
            "\"content\": \"\"}]}",
            "not allowed");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"files\": [{\"name\": \"main.py\", "
            "\"content\": \"\"}]}",
            "not allowed");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"files\": [{\"name\": \"a\"}]}", "'content'");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"tests\": []}", "'tests'");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"colour\": 1}", "unknown field 'colour'");
    rejects("{\"language\": \"py\", \"language\": \"c\", \"code\": \"x\"}", "malformed JSON");

    options(&r, err);
    boms(&r, err);

    test("bad language tables");
    write_table(path, "{\"languages\": [{\"id\": \"x\"}]}");
    lang_table *t = NULL;
    check(lang_table_load(&c, &t, err, sizeof err) == -1 && t == NULL);
    write_table(path, "{\"languages\": []}");
    check(lang_table_load(&c, &t, err, sizeof err) == -1);
    write_table(path, "not json");
    check(lang_table_load(&c, &t, err, sizeof err) == -1 && strstr(err, "LANGUAGES_FILE"));
    bad_option_tables(path);

    lang_table_free(langs);
    cfg_free(&c);
    unlink(path);
    return check_done();
}
