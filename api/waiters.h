/* The long-poll registry of one event loop: task id -> the requests waiting for that task.
 * A hash map with chaining; registration and removal are O(1), so 10 000 waiters cost a few
 * hundred bytes each and no Redis traffic of their own.
 *
 * API:
 *   waiters_create() / waiters_free(w)  free accepts NULL; waiters still registered are only
 *                                       unlinked (they belong to their requests).
 *   waiters_add(w, id, x)      register x (embedded in the caller's request) under id.
 *   waiters_remove(w, x)       unregister x; a no-op when x is not registered.
 *   waiters_take(w, id)        unregister every waiter of id and return them as a list linked by
 *                              ->next (NULL when none), for the caller to answer.
 *   waiters_has(w, id)         true when someone waits for id.
 *   waiters_ids(w, &n)         a newly allocated array of the ids with waiters (caller frees the
 *                              array and each id), for re-checks after a reconnect and shutdown.
 *   waiters_count(w)           number of registered waiters. */
#ifndef CR_API_WAITERS_H
#define CR_API_WAITERS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/task_id.h"

typedef struct waiters waiters;
struct wait_entry;

/* Embedded in a waiting request; fields belong to the registry. */
typedef struct waiter {
    struct waiter *prev, *next; /* siblings waiting for the same id */
    struct wait_entry *entry;   /* the id's entry; NULL when not registered */
} waiter;

waiters *waiters_create(void);
void waiters_free(waiters *w);
void waiters_add(waiters *w, const char *id, waiter *x);
void waiters_remove(waiters *w, waiter *x);
waiter *waiters_take(waiters *w, const char *id);
bool waiters_has(const waiters *w, const char *id);
char **waiters_ids(const waiters *w, size_t *n);
size_t waiters_count(const waiters *w);

#endif
