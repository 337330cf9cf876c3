/* Routing and the handlers of the HTTP API (see DESIGN.md):
 *   POST /run-code[?wait=S]   validate, enqueue atomically, answer the task id (or the result)
 *   GET  /results/{id}[?wait=S]  the task's state, long-polled up to S seconds
 *   GET  /languages           the language table
 *   GET  /health              200 when Redis answers ROLE as a master, else 503
 *   GET  /openapi.json        the OpenAPI 3.1 document (api/openapi.json, built in)
 *   GET  /metrics             Prometheus metrics of this api, and the queue's (common/metrics.h)
 * Unknown paths 404, wrong methods 405 with Allow, bad or missing API key 401 (all but /health
 * and /openapi.json; /metrics takes METRICS_TOKEN instead when it is set).
 *
 * API:
 *   routes_handle(req, loop)  evhttp's generic callback; every request ends in exactly one reply.
 *   routes_cmd_up(rc, loop)   aconn on_up of the command connection (loads the enqueue script).
 *   routes_enqueue_acknowledged(x)  x's enqueue is acknowledged (replicated when asked): answer
 *                             its task id, or start its wait. */
#ifndef CR_API_ROUTES_H
#define CR_API_ROUTES_H

#include <event2/http.h>

#include "api/redis_async.h"

void routes_handle(struct evhttp_request *req, void *loop);
void routes_cmd_up(aconn *rc, void *loop);
struct req_ctx;
void routes_enqueue_acknowledged(struct req_ctx *x);

#endif
