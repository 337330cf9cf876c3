/* Replies: every answer of the API goes out through here, JSON with Content-Type
 * application/json (errors are {"error": "..."}), or raw bytes of another type (GET /metrics'
 * text, a session's file). Each function sends exactly one reply. */
#ifndef CR_API_HTTP_REPLY_H
#define CR_API_HTTP_REPLY_H

#include <event2/http.h>
#include <jansson.h>

/* Send body (a reference stolen from the caller) with status code. */
void reply_json(struct evhttp_request *req, int code, json_t *body);
/* Send len bytes of text (copied) with status code and content_type. */
void reply_text(struct evhttp_request *req, int code, const char *content_type, const char *text,
                size_t len);
/* Send {"error": msg} with status code. */
void reply_error(struct evhttp_request *req, int code, const char *msg);
/* The same with a Retry-After header (seconds): 503 for Redis down or a full queue. */
void reply_error_retry(struct evhttp_request *req, int code, const char *msg, int retry_after);
/* Send len bytes of data as they are, with Content-Type type (a file of a session). */
void reply_raw(struct evhttp_request *req, int code, const char *type, const void *data,
               size_t len);
/* The standard reason phrase of a status code ("Not Found"). */
const char *reply_reason(int code);

#endif
