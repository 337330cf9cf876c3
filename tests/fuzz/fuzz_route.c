/* Fuzz target: what the api reads from a request line and its headers before any handler runs:
 * the URI (parsed by libevent as evhttp does), the route of its path, the task id of
 * /results/{id}, the parts of a session path, the methods of a route, ?wait=S, ?async=, and the
 * Authorization header (api/route_parse.h). Each answer is checked against a plain re-statement
 * of the rule.
 * Input: "<request target>\n<Authorization header value>". */
#include <ctype.h>
#include <event2/http.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/route_parse.h"
#include "common/task_id.h"

static char *const keys[] = {"s3cret-key", "k"};

/* The rule route_bearer_ok implements, written the slow way. */
static bool expect_bearer(const char *h)
{
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (strcmp(h, keys[i]) == 0)
            return true;
    return false;
}

/* The rule route_session implements: a non-empty id, then nothing, /execute, /files or
 * /files/<something>. */
static bool expect_session(const char *id)
{
    const char *slash = strchr(id, '/');
    size_t n = slash ? (size_t)(slash - id) : strlen(id);
    if (n == 0)
        return false;
    return !slash || strcmp(slash, "/execute") == 0 || strcmp(slash, "/files") == 0 ||
           (strncmp(slash, "/files/", 7) == 0 && slash[7]);
}

static void check_path(const char *path)
{
    const char *id = NULL;
    enum route r = route_match(path, &id);
    if ((r == R_RESULTS) != (strncmp(path, "/results/", 9) == 0))
        abort();
    if (r == R_RESULTS) {
        if (id != path + 9)
            abort();
        if (task_id_valid(id)) {
            if (strlen(id) != TASK_ID_LEN)
                abort();
            for (int i = 0; i < TASK_ID_LEN; i++)
                if (!(id[i] == '-' || isxdigit((unsigned char)id[i])))
                    abort();
        }
    }
    if (r == R_RUN && strcmp(path, "/run-code") != 0)
        abort();
    if ((r == R_SESSION) != (strncmp(path, "/api/v1/sessions/", 17) == 0))
        abort();
    route_session_parts sp = {.sub = RS_SESSION};
    if (r == R_SESSION) {
        if (id != path + 17)
            abort();
        if (route_session(id, &sp) == 0) {
            /* the id is the text up to the first '/', never empty; what follows names sub */
            const char *slash = strchr(id, '/');
            size_t want = slash ? (size_t)(slash - id) : strlen(id);
            if (sp.id != id || sp.id_len != want || want == 0)
                abort();
            const char *below = id + want;
            if ((sp.sub == RS_SESSION) != (*below == '\0'))
                abort();
            if (sp.sub == RS_EXECUTE && strcmp(below, "/execute") != 0)
                abort();
            if (sp.sub == RS_FILES && strcmp(below, "/files") != 0)
                abort();
            if (sp.sub == RS_FILE &&
                (strncmp(below, "/files/", 7) != 0 || !below[7] || sp.file != below + 7))
                abort();
        }
        if ((route_session(id, &sp) == 0) != expect_session(id))
            abort();
    }
    const char *allow = NULL;
    unsigned m = route_methods(r, sp.sub, &allow);
    if (!allow || !*allow || !(m & (EVHTTP_REQ_GET | EVHTTP_REQ_POST)))
        abort();
    if ((m & EVHTTP_REQ_GET) && !(m & EVHTTP_REQ_HEAD))
        abort(); /* GET brings HEAD */
}

static void check_flag(const char *query)
{
    bool on = true;
    int rc = route_parse_flag(query, "async", &on);
    if (rc != 0 && rc != -1)
        abort();
    if (rc < 0 && on)
        abort();
    if (!query && (rc != 0 || on))
        abort();
}

static void check_query(const char *query)
{
    int ms = -7;
    int rc = route_parse_wait(query, &ms);
    if (rc == 0 && (ms < 0 || ms > ROUTE_MAX_WAIT_S * 1000))
        abort();
    if (rc != 0 && rc != -1)
        abort();
    if (!query && (rc != 0 || ms != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char *nl = memchr(s, '\n', size);
    const char *header = "";
    if (nl) {
        *nl = '\0';
        header = nl + 1;
    }

    /* The raw pieces, as if any decoding could hand them over. */
    check_path(s);
    check_query(s);
    check_query(NULL);
    check_flag(s);
    check_flag(NULL);
    if (route_bearer_ok(header, keys, 2) != expect_bearer(header))
        abort();
    if (!route_bearer_ok(header, keys, 0))
        abort();

    /* The request target as evhttp parses it for the handler. */
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(s, 0);
    if (uri) {
        const char *path = evhttp_uri_get_path(uri);
        if (path)
            check_path(path);
        check_query(evhttp_uri_get_query(uri));
        check_flag(evhttp_uri_get_query(uri));
        evhttp_uri_free(uri);
    }
    free(s);
    return 0;
}
