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
    if (strcmp(path, "/api/v1/environments") == 0)
        return R_ENVIRONMENTS;
    if (strcmp(path, "/api/v1/sessions") == 0)
        return R_SESSIONS;
    if (strncmp(path, "/api/v1/sessions/", 17) == 0) {
        *id = path + 17;
        return R_SESSION;
    }
    return R_NONE;
}

const char *route_label(enum route r)
{
    static const char *const labels[R_COUNT] = {[R_NONE] = "other",
                                                [R_RUN] = "/run-code",
                                                [R_RESULTS] = "/results/{task_id}",
                                                [R_LANGUAGES] = "/languages",
                                                [R_HEALTH] = "/health",
                                                [R_OPENAPI] = "/openapi.json",
                                                [R_METRICS] = "/metrics",
                                                [R_ENVIRONMENTS] = "/api/v1/environments",
                                                [R_SESSIONS] = "/api/v1/sessions",
                                                [R_SESSION] = "/api/v1/sessions/{session_id}"};
    return r < R_COUNT ? labels[r] : "other";
}

int route_session(const char *rest, route_session_parts *out)
{
    *out = (route_session_parts){.id = rest, .sub = RS_SESSION};
    const char *slash = strchr(rest, '/');
    out->id_len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (out->id_len == 0)
        return -1;
    if (!slash)
        return 0;
    const char *below = slash;
    if (strcmp(below, "/execute") == 0) {
        out->sub = RS_EXECUTE;
        return 0;
    }
    if (strcmp(below, "/files") == 0) {
        out->sub = RS_FILES;
        return 0;
    }
    if (strncmp(below, "/files/", 7) == 0 && below[7]) {
        out->sub = RS_FILE;
        out->file = below + 7;
        return 0;
    }
    return -1;
}

unsigned route_methods(enum route r, enum route_sub sub, const char **allow)
{
    const unsigned get = EVHTTP_REQ_GET | EVHTTP_REQ_HEAD;
    switch (r) {
    case R_RUN:
    case R_SESSIONS:
        *allow = "POST";
        return EVHTTP_REQ_POST;
    case R_SESSION:
        switch (sub) {
        case RS_SESSION:
            *allow = "GET, HEAD, DELETE";
            return get | EVHTTP_REQ_DELETE;
        case RS_EXECUTE:
            *allow = "POST";
            return EVHTTP_REQ_POST;
        case RS_FILE:
            *allow = "GET, HEAD, PUT";
            return get | EVHTTP_REQ_PUT;
        case RS_FILES:
            break;
        }
        break;
    default:
        break;
    }
    *allow = "GET, HEAD";
    return get;
}

int route_parse_flag(const char *query, const char *name, bool *on)
{
    *on = false;
    if (!query)
        return 0;
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(query, &q) < 0) {
        evhttp_clear_headers(&q);
        return -1;
    }
    int rc = 0;
    const char *v = evhttp_find_header(&q, name);
    if (v) {
        if (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0)
            *on = true;
        else if (*v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 &&
                 strcasecmp(v, "no") != 0)
            rc = -1;
    }
    evhttp_clear_headers(&q);
    return rc;
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
