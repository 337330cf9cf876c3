/* Fuzz target: what the api reads from a request line and its headers before any handler runs:
 * the URI (parsed by libevent as evhttp does), the route of its path, the task id of
 * /results/{id}, ?wait=S, and the Authorization header (api/route_parse.h). Each answer is
 * checked against a plain re-statement of the rule.
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
        evhttp_uri_free(uri);
    }
    free(s);
    return 0;
}
