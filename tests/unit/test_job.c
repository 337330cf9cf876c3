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
    "  \"compile\": [\"gcc\", \"main.c\"], \"run\": [\"./a.out\"]}"
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
    check(langs->n == 2);
    check(lang_table_find(langs, "PY") == &langs->langs[0]);
    check(lang_table_find(langs, "python3") == &langs->langs[0]);
    check(lang_table_find(langs, "ruby") == NULL);
    check(langs->langs[0].compile_argv == NULL);
    check_str(langs->langs[1].compile_argv[0], "gcc");
    check(langs->langs[0].run.timeout == 5 && langs->langs[0].run.max_timeout == 20);
    check(langs->langs[1].run.timeout == 10); /* configuration default */
    check_str(langs->langs[0].version, "3.11");
    json_t *lj = lang_table_to_json(langs);
    check(json_array_size(json_object_get(lj, "languages")) == 2);
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
    const char *full = "{\"language\": \"python3\", \"code\": \"cHJpbnQoMSk=\", \"stdin\": \"aGk=\","
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
    rejects("{\"language\": \"py\", \"code\": \"x\", \"timeout\": 21}", "'timeout' must be from 1 to 20");
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
    rejects("{\"language\": \"py\", \"code\": \"x\", \"files\": [{\"name\": \"../x\", \"content\": \"\"}]}",
            "not allowed");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"files\": [{\"name\": \".hidden\", \"content\": \"\"}]}",
            "not allowed");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"files\": [{\"name\": \"main.py\", \"content\": \"\"}]}",
            "not allowed");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"files\": [{\"name\": \"a\"}]}", "'content'");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"tests\": []}", "'tests'");
    rejects("{\"language\": \"py\", \"code\": \"x\", \"colour\": 1}", "unknown field 'colour'");
    rejects("{\"language\": \"py\", \"language\": \"c\", \"code\": \"x\"}", "malformed JSON");

    test("bad language tables");
    write_table(path, "{\"languages\": [{\"id\": \"x\"}]}");
    lang_table *t = NULL;
    check(lang_table_load(&c, &t, err, sizeof err) == -1 && t == NULL);
    write_table(path, "{\"languages\": []}");
    check(lang_table_load(&c, &t, err, sizeof err) == -1);
    write_table(path, "not json");
    check(lang_table_load(&c, &t, err, sizeof err) == -1 && strstr(err, "LANGUAGES_FILE"));

    lang_table_free(langs);
    cfg_free(&c);
    unlink(path);
    return check_done();
}
