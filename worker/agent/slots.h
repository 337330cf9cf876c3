/* The agent's job processes: WORKER_CONCURRENCY slots, each one job process (job_process.h)
 * started as a fresh exec of this binary with a socketpair; a job goes to an idle slot as one
 * frame and its answer comes back as one frame. A job process that dies is started again (after
 * a backoff while they die young); the job it held gets an answer saying so.
 *
 * Life of a slot: spawn -> hello (ready) -> [send job -> answer]... -> death (reaped on SIGCHLD,
 * restarted) or stop (its socket closed: it exits once its job is done).
 *
 *   slots_create(base, cfg, ex, on_answer)   the pool; nothing started yet
 *   slots_start(p, err, errlen)     start every job process and wait (running the loop) until
 *                                   each said hello: -1 with err when one could not start
 *   slots_send(p, job, data, len)   hand a job frame to an idle slot: false when none is idle;
 *                                   on_answer(job, ...) is then called exactly once
 *   slots_drop(p, job)              the job's client went away: on_answer is not called for it
 *   slots_reap(p)                   after SIGCHLD: collect dead job processes
 *   slots_total/busy/idle(p)        capacity, slots running a job, slots ready for one (a slot
 *                                   whose job process is (re)starting is neither)
 *   slots_languages/images(p)       what the job processes offer (borrowed JSON arrays)
 *   slots_stop(p, grace_ms)         close every socket, wait up to grace_ms for the job
 *                                   processes to exit, SIGKILL the rest and clean up after them
 *   slots_free(p)                   accepts NULL */
#ifndef CR_AGENT_SLOTS_H
#define CR_AGENT_SLOTS_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "worker/executor.h"

typedef struct slot_pool slot_pool;

/* A job's answer: the job process's frame (text, len; borrowed for the call), or text NULL and
 * why it has none (the job process died, or sent something unreadable). */
typedef void (*slot_answer_fn)(void *job, const char *text, size_t len, const char *why);

slot_pool *slots_create(struct event_base *base, const cfg *c, const executor *ex,
                        slot_answer_fn on_answer);
int slots_start(slot_pool *p, char *err, size_t errlen);
bool slots_send(slot_pool *p, void *job, const char *data, size_t len);
void slots_drop(slot_pool *p, void *job);
void slots_reap(slot_pool *p);
size_t slots_total(const slot_pool *p);
size_t slots_busy(const slot_pool *p);
size_t slots_idle(const slot_pool *p);
const json_t *slots_languages(const slot_pool *p);
const json_t *slots_images(const slot_pool *p);
void slots_stop(slot_pool *p, int grace_ms);
void slots_free(slot_pool *p);

#endif
