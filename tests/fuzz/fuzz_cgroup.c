/* Fuzz target: the parser of flat-keyed cgroup files (cpu.stat, memory.events,
 * memory.oom_control) in worker/sandbox/cgroup.c, against a line-by-line reference.
 * Input: "<key>\n<file text>" (the text is cut at its first NUL, as read_file's buffer is). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/sandbox/cgroup.h"

static long long reference(const char *text, const char *key)
{
    size_t klen = strlen(key);
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > klen && memcmp(line, key, klen) == 0 && line[klen] == ' ')
            return strtoll(line + klen + 1, NULL, 10);
        if (!end)
            break;
        line = end + 1;
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char *nl = strchr(s, '\n');
    const char *key = "oom_kill", *text = s;
    if (nl) {
        *nl = '\0';
        key = s;
        text = nl + 1;
    }
    long long got = cgroup_flat_key(text, key);
    long long want = reference(text, key);
    /* strtoll may read past a line end ("key \n5"): both do the same, so they agree. */
    if (got != want)
        abort();
    free(s);
    return 0;
}
