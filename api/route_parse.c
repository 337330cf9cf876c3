/* Route matching, ?wait=S and Authorization parsing (see route_parse.h). */
#include "route_parse.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "common/util.h"

enum route route_match(const char *path, const char **id)
{
    if (strcmp(path, "/run-code") == 0)
        return R_RUN;
    if (strcmp(path, "/languages") == 0)
        return R_LANGUAGES;
    if (strcmp(path, "/health") == 0)
        return R_HEALTH;
    if (strcmp(path, "/openapi.json") == 0)
        return R_OPENAPI;
    if (strcmp(path, "/metrics") == 0)
        return R_METRICS;
    if (strncmp(path, "/results/", 9) == 0) {
        *id = path + 9;
        return R_RESULTS;
    }
    return R_NONE;
}

const char *route_label(enum route r)
{
    static const char *const labels[R_COUNT] = {
        [R_NONE] = "other",           [R_RUN] = "/run-code",  [R_RESULTS] = "/results/{task_id}",
        [R_LANGUAGES] = "/languages", [R_HEALTH] = "/health", [R_OPENAPI] = "/openapi.json",
        [R_METRICS] = "/metrics"};
    return r < R_COUNT ? labels[r] : "other";
}

int route_parse_wait(const char *query, int *wait_ms)
{
    *wait_ms = 0;
    if (!query)
        return 0;
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(query, &q) < 0) {
        evhttp_clear_headers(&q);
        return -1;
    }
    int rc = 0;
    const char *v = evhttp_find_header(&q, "wait");
    double s;
    if (v) {
        if (parse_double(v, 0, ROUTE_MAX_WAIT_S, &s) < 0)
            rc = -1;
        else
            *wait_ms = (int)(s * 1000 + 0.5);
    }
    evhttp_clear_headers(&q);
    return rc;
}

bool route_bearer_ok(const char *header, char *const *keys, size_t n_keys)
{
    if (n_keys == 0)
        return true;
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return false;
    const char *key = header + 7;
    while (*key == ' ')
        key++;
    size_t len = strlen(key);
    bool ok = false;
    for (size_t i = 0; i < n_keys; i++)
        ok |= const_time_eq(key, len, keys[i], strlen(keys[i]));
    return ok;
}
