/* Logging to stderr with level, UTC timestamp, program name and optional task id. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;
static const char *log_program = "code-runner";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(enum log_level threshold, const char *program)
{
    log_threshold = threshold;
    log_program = program;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof *level_names); i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

const char *log_level_str(enum log_level l)
{
    return l <= LOG_ERROR ? level_names[l] : "?";
}

void log_write(enum log_level l, const char *task_id, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(line + n, sizeof line - n, ".%03dZ %s[%d] %s ", (int)(tv.tv_usec / 1000),
                     log_program, (int)getpid(), log_level_str(l));
    if (k > 0)
        n += (size_t)k;
    if (task_id && n < sizeof line) {
        k = snprintf(line + n, sizeof line - n, "[%s] ", task_id);
        if (k > 0)
            n += (size_t)k;
    }
    if (n < sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        k = vsnprintf(line + n, sizeof line - n, fmt, ap);
        va_end(ap);
        if (k > 0)
            n += (size_t)k;
    }
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    /* One write per line, so lines from several processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
