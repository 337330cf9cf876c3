/* Long-poll wake-up: each loop keeps one SUBSCRIBE to {prefix}done on its subscriber
 * connection; a completion message for an id somebody waits for triggers one HMGET of the task,
 * whose answer goes to every waiter of that id.
 *
 * API:
 *   longpoll_sub_up(rc, loop)    aconn on_up of the subscriber: (re)subscribe.
 *   longpoll_down(rc, loop)      aconn on_down of either connection: a wake-up may be lost, so
 *                                waiting tasks are re-read once both connections are back.
 *   longpoll_cmd_up(loop)        the command connection is back: run that re-read if due.
 *   longpoll_flush(loop)         shutdown: answer every waiter with its task's current state. */
#ifndef CR_API_LONGPOLL_H
#define CR_API_LONGPOLL_H

#include "api/redis_async.h"
#include "api/server.h"

void longpoll_sub_up(aconn *rc, void *loop);
void longpoll_down(aconn *rc, void *loop);
void longpoll_cmd_up(api_loop *loop);
void longpoll_flush(api_loop *loop);

#endif
