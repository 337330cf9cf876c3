/* Unit tests for common/session: the create and execute bodies (every client error the api
 * reports for them, defaults and limits), the stored run's round trip, workspace paths, and the
 * names of states and operations. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "common/session.h"

static const char table[] =
    "{\"languages\": ["
    " {\"id\": \"python\", \"aliases\": [\"py\", \"python3\"], \"version\": \"3.11\","
    "  \"image\": \"python\", \"source_file\": \"main.py\", \"compile\": null,"
    "  \"run\": [\"python3\", \"main.py\"],"
    "  \"limits\": {\"run\": {\"timeout\": 5, \"max_timeout\": 20, \"memory_mb\": 128,"
    "                        \"max_memory_mb\": 512}}},"
    " {\"id\": \"javascript\", \"aliases\": [\"node\", \"js\"], \"image\": \"node\","
    "  \"source_file\": \"main.js\", \"compile\": null, \"run\": [\"node\", \"main.js\"]}"
    "]}";

static cfg c;
static lang_table *langs;

static void spec_rejects(const char *body, const char *want)
{
    session_spec spec;
    char err[256] = "";
    check(session_spec_parse(body, strlen(body), langs, &c, &spec, err, sizeof err) == -1);
    if (!strstr(err, want))
        fprintf(stderr, "FAIL %s: '%s' does not say '%s'\n", check_case, err, want);
    check(strstr(err, want) != NULL);
    check(spec.lang == NULL);
}

static void run_rejects(const char *body, const char *want)
{
    session_run run;
    char err[256] = "";
    check(session_run_parse(body, strlen(body), &c, &run, err, sizeof err) == -1);
    if (!strstr(err, want))
        fprintf(stderr, "FAIL %s: '%s' does not say '%s'\n", check_case, err, want);
    check(strstr(err, want) != NULL);
    check(run.code == NULL && run.args == NULL);
}

static void path_ok(const char *p, bool ok)
{
    char err[128] = "";
    int rc = session_path_check(p, err, sizeof err);
    if ((rc == 0) != ok)
        fprintf(stderr, "FAIL %s: path '%s' (%s)\n", check_case, p, err);
    check((rc == 0) == ok);
    check(ok || err[0]);
}

static void test_spec(void)
{
    session_spec spec;
    char err[256];
    test("spec: environment by alias, defaults from the language and SESSION_TTL");
    const char *b = "{\"environment\": \"node\"}";
    check(session_spec_parse(b, strlen(b), langs, &c, &spec, err, sizeof err) == 0);
    check_str(spec.lang->id, "javascript");
    check(spec.ttl == c.session_ttl);
    check(spec.timeout == c.default_timeout && spec.memory_mb == c.default_memory_mb);

    test("spec: limits within the language's maxima");
    b = "{\"environment\": \"py\", \"memory_mb\": 512, \"timeout\": 20, \"ttl\": 60}";
    check(session_spec_parse(b, strlen(b), langs, &c, &spec, err, sizeof err) == 0);
    check(spec.memory_mb == 512 && spec.timeout == 20 && spec.ttl == 60);
    b = "{\"environment\": \"python\"}";
    check(session_spec_parse(b, strlen(b), langs, &c, &spec, err, sizeof err) == 0);
    check(spec.timeout == 5 && spec.memory_mb == 128);

    test("spec: refusals");
    spec_rejects("{}", "'environment' is required");
    spec_rejects("{\"environment\": 3}", "'environment' is required");
    spec_rejects("{\"environment\": \"cobol\"}", "unknown environment 'cobol'");
    spec_rejects("{\"environment\": \"python\", \"memory_mb\": 513}", "'memory_mb' must be from");
    spec_rejects("{\"environment\": \"python\", \"timeout\": 21}",
                 "'timeout' must be from 1 to 20");
    spec_rejects("{\"environment\": \"python\", \"ttl\": 0}", "'ttl' must be from 1 to 86400");
    spec_rejects("{\"environment\": \"python\", \"ttl\": 1.5}", "whole number");
    spec_rejects("{\"environment\": \"python\", \"image\": \"x\"}", "unknown field 'image'");
    spec_rejects("[]", "must be a JSON object");
    spec_rejects("{\"environment\": ", "malformed JSON");
}

static void test_run(void)
{
    session_run run;
    char err[256];
    test("run: every field, and the stored form parses back to the same run");
    const char *b = "{\"code\": \"print(1)\", \"filename\": \"pkg/mod.py\", \"stdin\": \"in\","
                    " \"args\": [\"a\", \"b c\"], \"timeout\": 7}";
    check(session_run_parse(b, strlen(b), &c, &run, err, sizeof err) == 0);
    check_str(run.code, "print(1)");
    check_str(run.filename, "pkg/mod.py");
    check_str(run.stdin_data, "in");
    check(run.nargs == 2 && run.args[2] == NULL);
    check_str(run.args[1], "b c");
    check(run.timeout == 7);
    char *stored = session_run_to_json(&run, "0b7e5c1e-4f1c-4b55-9a43-5b3f3d8a9e10");
    check(strstr(stored, "\"op\":\"run\"") != NULL);
    check(strstr(stored, "\"session\":\"0b7e5c1e-4f1c-4b55-9a43-5b3f3d8a9e10\"") != NULL);
    json_t *o = json_loads(stored, 0, NULL);
    session_run back;
    check(session_run_from_json(o, &c, &back, err, sizeof err) == 0);
    check(back.code_len == run.code_len && memcmp(back.code, run.code, run.code_len) == 0);
    check_str(back.filename, "pkg/mod.py");
    check(back.nargs == 2 && back.timeout == 7);
    json_decref(o);
    free(stored);
    session_run_free(&back);
    session_run_free(&run);
    session_run_free(&run); /* twice: zeroed */

    test("run: the minimum");
    b = "{\"code\": \"x\"}";
    check(session_run_parse(b, strlen(b), &c, &run, err, sizeof err) == 0);
    check(run.filename == NULL && run.stdin_data == NULL && run.nargs == 0 && run.timeout == 0);
    check(run.args != NULL && run.args[0] == NULL);
    session_run_free(&run);

    test("run: refusals");
    run_rejects("{}", "'code' is required");
    run_rejects("{\"code\": \"\"}", "'code' must not be empty");
    run_rejects("{\"code\": 1}", "'code' must be a string");
    run_rejects("{\"code\": \"x\", \"filename\": \"../x.py\"}", "'filename':");
    run_rejects("{\"code\": \"x\", \"filename\": \"/etc/x\"}", "relative");
    run_rejects("{\"code\": \"x\", \"args\": \"a\"}", "'args' must be an array");
    run_rejects("{\"code\": \"x\", \"args\": [1]}", "'args' must be an array of strings");
    run_rejects("{\"code\": \"x\", \"timeout\": 31}", "'timeout' must be from 1 to 30");
    run_rejects("{\"code\": \"x\", \"language\": \"py\"}", "unknown field 'language'");
    run_rejects("{\"code\": \"x\", \"op\": \"run\"}", "unknown field 'op'");
    char many[4096] = "{\"code\": \"x\", \"args\": [";
    for (int i = 0; i <= SESSION_MAX_ARGS; i++)
        strcat(many, i ? ",\"a\"" : "\"a\"");
    strcat(many, "]}");
    run_rejects(many, "at most 64");
}

static void test_paths(void)
{
    test("paths: places inside the workspace");
    path_ok("a", true);
    path_ok("a/b/c.txt", true);
    path_ok(".hidden", true);
    path_ok("..a/b..", true);
    path_ok("with space/ünïcode", true);
    test("paths: refused");
    path_ok("", false);
    path_ok("/etc/passwd", false);
    path_ok("..", false);
    path_ok("../x", false);
    path_ok("a/../../x", false);
    path_ok("a/./b", false);
    path_ok(".", false);
    path_ok("a//b", false);
    path_ok("a/", false);
    path_ok("a\nb", false);
    path_ok("a\x7f", false);
    char longname[300];
    memset(longname, 'n', 256);
    longname[256] = '\0';
    path_ok(longname, false);
    char longpath[1100];
    for (int i = 0; i < 1030; i += 2)
        longpath[i] = 'p', longpath[i + 1] = '/';
    longpath[1029] = 'p';
    longpath[1030] = '\0';
    path_ok(longpath, false);
}

static void test_names(void)
{
    test("names: states and operations round-trip");
    for (int s = SESSION_PENDING; s <= SESSION_ERROR; s++) {
        session_status back;
        check(session_status_parse(session_status_str((session_status)s), &back) == 0);
        check(back == (session_status)s);
    }
    session_status st;
    check(session_status_parse("running", &st) == -1);
    check(session_status_live(SESSION_READY) && session_status_live(SESSION_PENDING));
    check(!session_status_live(SESSION_STOPPING) && !session_status_live(SESSION_ERROR));
    for (int o = SESSION_OP_CREATE; o <= SESSION_OP_DELETE; o++) {
        session_op back;
        check(session_op_parse(session_op_str((session_op)o), &back) == 0);
        check(back == (session_op)o);
    }
    session_op op;
    check(session_op_parse("exec", &op) == -1);
}

int main(void)
{
    char path[] = "/tmp/test_session_langs_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, table, strlen(table)) != (ssize_t)strlen(table))
        return 2;
    close(fd);
    setenv("LANGUAGES_FILE", path, 1);
    setenv("SESSION_TTL", "600", 1);
    char err[256];
    if (cfg_load(&c, err, sizeof err) < 0 || lang_table_load(&c, &langs, err, sizeof err) < 0) {
        fprintf(stderr, "set-up: %s\n", err);
        return 2;
    }
    unlink(path);
    test_spec();
    test_run();
    test_paths();
    test_names();
    lang_table_free(langs);
    cfg_free(&c);
    return check_done();
}
