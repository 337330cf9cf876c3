/* Fuzz target: request parsing and validation (job_request_parse, option allow-lists and
 * byte-order marks included), and the canonical JSON it stores, which must parse back to the same
 * request. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/job.h"
#include "common/languages.h"

static cfg conf;
static lang_table *langs;

static const char table[] =
    "{\"languages\": ["
    " {\"id\": \"python\", \"aliases\": [\"py\"], \"image\": \"python\","
    "  \"source_file\": \"main.py\", \"run\": [\"python3\", \"main.py\"]},"
    " {\"id\": \"c\", \"image\": \"gcc\", \"source_file\": \"main.c\","
    "  \"compile\": [\"gcc\", \"{options}\", \"main.c\"], \"run\": [\"./a.out\", \"{options}\"],"
    "  \"options\": {\"compile\": [\"-O[0-3]|-Ofast\", \"-D[A-Za-z_][A-Za-z0-9_]*(=[ -~]*)?\","
    "                            [\"--add-modules\", \"jdk\\\\.incubator\\\\.vector\"]],"
    "              \"run\": [\"-v\", [\"-X\", \"dev|utf8\"]]}}]}";

static void setup(void)
{
    char path[] = "/tmp/cr-fuzz-langs-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, table, sizeof table - 1) != (ssize_t)(sizeof table - 1))
        abort();
    close(fd);
    setenv("LANGUAGES_FILE", path, 1);
    setenv("IMAGES_DIR", "/nonexistent", 1);
    char err[256];
    if (cfg_load(&conf, err, sizeof err) < 0 ||
        lang_table_load(&conf, &langs, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz setup: %s\n", err);
        abort();
    }
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!langs)
        setup();
    job_request r;
    char err[256];
    if (job_request_parse((const char *)data, size, langs, &conf, &r, err, sizeof err) < 0) {
        if (!err[0])
            abort(); /* every rejection must say why */
        return 0;
    }
    char *canon = job_request_to_json(&r);
    job_request back;
    if (job_request_parse(canon, strlen(canon), langs, &conf, &back, err, sizeof err) < 0)
        abort(); /* what we store must always be readable by the worker */
    if (back.lang != r.lang || back.code_len != r.code_len ||
        memcmp(back.code, r.code, r.code_len) != 0 || back.stdin_len != r.stdin_len ||
        back.nargs != r.nargs || back.nfiles != r.nfiles || back.ntests != r.ntests ||
        back.timeout != r.timeout || back.memory_mb != r.memory_mb || back.base64 != r.base64 ||
        back.ncompiler_options != r.ncompiler_options || back.nrun_options != r.nrun_options)
        abort();
    for (size_t i = 0; i < r.ncompiler_options; i++)
        if (strcmp(back.compiler_options[i], r.compiler_options[i]) != 0)
            abort();
    for (size_t i = 0; i < r.nfiles; i++)
        if (back.files[i].len != r.files[i].len)
            abort(); /* byte-order marks are stripped once and for all */
    job_request_free(&back);
    free(canon);
    job_request_free(&r);
    return 0;
}
