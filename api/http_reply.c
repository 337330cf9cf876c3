/* JSON replies, and the override that turns libevent's own HTML error pages (413 body too
 * large, 400 malformed request, 501 unknown method) into the same JSON error bodies. */
#include "http_reply.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "api/route_parse.h"
#include "common/metrics.h"

const char *reply_reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return code < 400 ? "OK" : "Error";
    }
}

void reply_json(struct evhttp_request *req, int code, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct evbuffer *buf = evbuffer_new();
    if (!text || !buf)
        abort(); /* both fail only when out of memory */
    evbuffer_add(buf, text, strlen(text));
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, reply_reason(code), buf);
    evbuffer_free(buf);
}

void reply_raw(struct evhttp_request *req, int code, const char *type, const void *data, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf || evbuffer_add(buf, data, len) < 0)
        abort(); /* fails only when out of memory */
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, code, reply_reason(code), buf);
    evbuffer_free(buf);
}

void reply_error(struct evhttp_request *req, int code, const char *msg)
{
    reply_json(req, code, json_pack("{s:s}", "error", msg));
}

void reply_error_retry(struct evhttp_request *req, int code, const char *msg, int retry_after)
{
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", v);
    reply_error(req, code, msg);
}

/* libevent 2.1 answers protocol errors it detects itself (body over evhttp_set_max_body_size,
 * bad request line or headers, disallowed method) with evhttp_send_error and a fixed HTML page,
 * and has no hook to change that (evhttp_set_errorcb arrived in 2.2). Its internal calls go
 * through the PLT, so this definition in the executable takes their place (ELF symbol
 * interposition) and the client gets the same JSON error as from our own handlers. The API never
 * calls evhttp_send_error itself. Like libevent's version it closes the connection, since the
 * rest of a rejected request may still be unread. */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    const char *msg = reason;
    switch (error) {
    case 413:
        msg = "request too large (body over MAX_BODY_BYTES or headers over 16 KiB)";
        break;
    case 400:
        msg = "malformed HTTP request";
        break;
    case 501:
        msg = "method not implemented";
        break;
    default:
        if (!msg)
            msg = reply_reason(error);
        break;
    }
    /* Counted like the handlers' answers (this runs on a loop's thread, which has its metrics
     * shard). libevent forgets the URI before it answers a body over the limit, and POST
     * /run-code is the only route that reads a body: a 413 to a POST is a refused submission. */
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *id;
    enum route r = path ? route_match(path, &id) : R_NONE;
    bool too_large = error == 413 && evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    if (too_large)
        r = R_RUN;
    metric_inc(M_HTTP_REQUESTS, (int)r, metrics_code_index(error));
    if (too_large)
        metric_inc(M_SUBMISSIONS_REJECTED, MV_REJECT_TOO_LARGE);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    reply_error(req, error, msg);
}
