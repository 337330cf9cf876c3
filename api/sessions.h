/* The session routes (README "Sessions over HTTP"; the model in common/session.h and
 * common/redis_model.h). Each handler ends in exactly one reply, like routes.c's:
 *   sessions_environments(x)       GET  /api/v1/environments: the language ids
 *   sessions_create(x, req)        POST /api/v1/sessions[?wait=S]: take a place on a worker
 *                                  process and queue the create there (503 when no place)
 *   sessions_handle(x, req, &sp)   GET|DELETE /api/v1/sessions/{id},
 *                                  POST .../execute[?async=1] (waits for the run by default),
 *                                  GET .../files, GET|PUT .../files/{path}
 * Work on a session is a task queued for its owner; the request waits for the task's completion
 * (the long-poll machinery of request.h, answering through the request's answer hook). */
#ifndef CR_API_SESSIONS_H
#define CR_API_SESSIONS_H

#include <event2/http.h>

#include "api/request.h"
#include "api/route_parse.h"

void sessions_environments(req_ctx *x);
void sessions_create(req_ctx *x, struct evhttp_request *req);
void sessions_handle(req_ctx *x, struct evhttp_request *req, const route_session_parts *sp);

#endif
