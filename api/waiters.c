/* The long-poll registry: a chained hash map from task id to a doubly linked list of waiters,
 * grown by doubling when it holds more ids than buckets. */
#include "waiters.h"

#include <string.h>

#include "common/util.h"

/* One id with at least one waiter; freed when its last waiter leaves. */
typedef struct wait_entry {
    struct wait_entry *chain; /* next entry in the same bucket */
    char id[TASK_ID_LEN + 1]; /* task id, lower-cased */
    size_t hash;
    waiter *head; /* the waiters, never empty while the entry exists */
} wait_entry;

struct waiters {
    wait_entry **buckets; /* owned array of nbuckets chains (entries owned) */
    size_t nbuckets;      /* a power of two */
    size_t nentries;      /* ids with waiters */
    size_t nwaiters;      /* registered waiters */
};

static size_t hash_id(const char *s)
{
    size_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)(*s | 0x20); /* ids compare case-insensitively */
        h *= 1099511628211ULL;
    }
    return h;
}

static void normalise(char out[TASK_ID_LEN + 1], const char *id)
{
    size_t i = 0;
    for (; id[i] && i < TASK_ID_LEN; i++)
        out[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] | 0x20 : id[i]);
    out[i] = '\0';
}

waiters *waiters_create(void)
{
    waiters *w = xcalloc(1, sizeof *w);
    w->nbuckets = 64;
    w->buckets = xcalloc(w->nbuckets, sizeof *w->buckets);
    return w;
}

void waiters_free(waiters *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nbuckets; i++) {
        wait_entry *e = w->buckets[i];
        while (e) {
            wait_entry *next = e->chain;
            for (waiter *x = e->head; x; x = x->next)
                x->entry = NULL;
            free(e);
            e = next;
        }
    }
    free(w->buckets);
    free(w);
}

static wait_entry **find_slot(const waiters *w, const char *id, size_t h)
{
    wait_entry **p = &w->buckets[h & (w->nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->id, id) != 0))
        p = &(*p)->chain;
    return p;
}

static void grow(waiters *w)
{
    size_t n = w->nbuckets * 2;
    wait_entry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < w->nbuckets; i++) {
        wait_entry *e = w->buckets[i];
        while (e) {
            wait_entry *next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(w->buckets);
    w->buckets = b;
    w->nbuckets = n;
}

void waiters_add(waiters *w, const char *id, waiter *x)
{
    char key[TASK_ID_LEN + 1];
    normalise(key, id);
    size_t h = hash_id(key);
    wait_entry **slot = find_slot(w, key, h);
    wait_entry *e = *slot;
    if (!e) {
        e = xcalloc(1, sizeof *e);
        memcpy(e->id, key, sizeof key);
        e->hash = h;
        *slot = e;
        w->nentries++;
    }
    x->prev = NULL;
    x->next = e->head;
    if (e->head)
        e->head->prev = x;
    e->head = x;
    x->entry = e;
    w->nwaiters++;
    if (w->nentries > w->nbuckets)
        grow(w);
}

static void drop_entry(waiters *w, wait_entry *e)
{
    wait_entry **slot = find_slot(w, e->id, e->hash);
    *slot = e->chain;
    w->nentries--;
    free(e);
}

void waiters_remove(waiters *w, waiter *x)
{
    wait_entry *e = x->entry;
    if (!e)
        return;
    if (x->prev)
        x->prev->next = x->next;
    else
        e->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    x->entry = NULL;
    w->nwaiters--;
    if (!e->head)
        drop_entry(w, e);
}

waiter *waiters_take(waiters *w, const char *id)
{
    char key[TASK_ID_LEN + 1];
    normalise(key, id);
    wait_entry *e = *find_slot(w, key, hash_id(key));
    if (!e)
        return NULL;
    waiter *list = e->head;
    for (waiter *x = list; x; x = x->next) {
        x->entry = NULL;
        w->nwaiters--;
    }
    drop_entry(w, e);
    return list;
}

bool waiters_has(const waiters *w, const char *id)
{
    char key[TASK_ID_LEN + 1];
    normalise(key, id);
    return *find_slot(w, key, hash_id(key)) != NULL;
}

char **waiters_ids(const waiters *w, size_t *n)
{
    char **ids = xcalloc(w->nentries + 1, sizeof *ids);
    size_t k = 0;
    for (size_t i = 0; i < w->nbuckets; i++)
        for (wait_entry *e = w->buckets[i]; e; e = e->chain)
            ids[k++] = xstrdup(e->id);
    *n = k;
    return ids;
}

size_t waiters_count(const waiters *w)
{
    return w->nwaiters;
}
