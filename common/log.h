/* Logging: one line per event to stderr, "2026-11-21T10:00:00.123Z INFO [task-id] message".
 * The level threshold is set once at start-up; calls below it cost one comparison. */
#ifndef CR_LOG_H
#define CR_LOG_H

enum log_level {
    LOG_DEBUG, /* chatty detail for developers */
    LOG_INFO,  /* normal life events: start, stop, job done */
    LOG_WARN,  /* something odd that the program survived */
    LOG_ERROR, /* something failed */
};

extern enum log_level log_threshold; /* set once by log_init, read-only afterwards */

void log_init(enum log_level threshold, const char *program);
/* Parses "debug", "info", "warn", "error"; -1 if none of these. */
int log_level_parse(const char *s);
const char *log_level_str(enum log_level l);
void log_write(enum log_level l, const char *task_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(l, task, ...)                                                                       \
    do {                                                                                           \
        if ((l) >= log_threshold)                                                                  \
            log_write((l), (task), __VA_ARGS__);                                                   \
    } while (0)
#define log_debug(...) log_at(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, NULL, __VA_ARGS__)
/* The same, tagged with a task id. */
#define log_task(l, task, ...) log_at((l), (task), __VA_ARGS__)

#endif
