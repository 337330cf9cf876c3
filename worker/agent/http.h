/* The agent's HTTP side: its state, the routes and the life of a job request (see agent.h for
 * the protocol).
 *
 * A job request: accepted (a slot took it) -> 200 and chunked reply started -> a newline each
 * second -> the slot's answer as the last chunk, reply ended. A client that goes away meanwhile
 * (its connection fails) leaves the job running to its end; its answer is dropped.
 *
 *   agent_http_handle(req, agent)   evhttp's callback for every request
 *   agent_http_answer(job, ...)     slots.h's on_answer: the last chunk of a job's reply
 *   agent_http_stop_jobs(agent)     at a forced stop: end every job reply with an error
 *   agent_http_check_drained(agent) end the loop when draining and every reply is out */
#ifndef CR_AGENT_HTTP_H
#define CR_AGENT_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "worker/agent/slots.h"
#include "worker/executor.h"

struct agent_job;

/* The agent process's state: made by agent_run, freed when it returns. */
typedef struct agent {
    const cfg *c;            /* borrowed */
    const executor *ex;      /* borrowed; the local backend the job processes run */
    char *token;             /* owned; the Bearer token, NULL when none is required */
    struct event_base *base; /* owned */
    struct evhttp *http;     /* owned */
    slot_pool *slots;        /* owned */
    struct agent_job *jobs;  /* the job requests in flight (each owned by itself) */
    size_t n_jobs;
    size_t n_unsent;           /* job replies ended but not yet fully written */
    bool draining;             /* SIGTERM came: no new jobs; the loop ends when n_jobs and
                                * n_unsent are 0 */
    struct event *flush_timer; /* owned; ends a drain whose last replies do not get out */
} agent;

void agent_http_handle(struct evhttp_request *req, void *arg);
void agent_http_answer(void *job, const char *text, size_t len, const char *why);
void agent_http_stop_jobs(agent *ag);
void agent_http_check_drained(agent *ag);

#endif
