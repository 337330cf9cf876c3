/* Metrics: the table's rows laid out as cells in per-writer shards of one shared mapping, lock-free
 * single-writer updates, and the text exposition summed over the shards (see metrics.h). */
#include "metrics.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>

#include "common/util.h"

/* One row of METRICS_TABLE. */
typedef struct metric_def {
    unsigned program;                       /* METRICS_API, METRICS_WORKER or both */
    enum metric_type type;                  /* counter, gauge, histogram */
    const char *name;                       /* code_runner_... */
    enum metric_buckets bucket;             /* histograms: their bounds */
    const char *help;                       /* the # HELP text */
    enum metric_dim dims[METRICS_MAX_DIMS]; /* DIM_NONE after the last */
} metric_def;

static const metric_def defs[M_COUNT] = {
#define METRIC_DEF(id, prog, type, name, buckets, help, ...)                                       \
    {METRICS_##prog, METRIC_##type, name, BUCKETS_##buckets, help, {__VA_ARGS__}},
    METRICS_TABLE(METRIC_DEF)
#undef METRIC_DEF
};

/* Upper bounds of each bucket set, in seconds; +Inf follows the last. */
static const double enqueue_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5};
static const double job_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                    2.5,   5,    10,    30,   60,  300,  600};
static const double setup_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,    0.25,  0.5,    1,     2.5,  10};
static const struct {
    const double *b;
    size_t n;
} bucket_sets[] = {
    [BUCKETS_NONE] = {NULL, 0},
    [BUCKETS_ENQUEUE] = {enqueue_bounds, sizeof enqueue_bounds / sizeof *enqueue_bounds},
    [BUCKETS_JOB] = {job_bounds, sizeof job_bounds / sizeof *job_bounds},
    [BUCKETS_SETUP] = {setup_bounds, sizeof setup_bounds / sizeof *setup_bounds},
};

/* A label dimension: nlabels label names, and n values of nlabels strings each (flattened). An
 * empty string leaves that label out of the series (FAILURE has no verdict). A sparse dimension
 * has many values of which few are used (status codes, languages): a row shows the series of a
 * value once something was counted under it; the others show every value from the start, at 0
 * (so that rate() sees the first increment). */
typedef struct dim {
    const char *labels[2];
    size_t nlabels;
    const char *const *values;
    size_t n;
    bool sparse;
} dim;

static const char *const code_values[] = {"200", "400", "401", "404", "405", "408",
                                          "413", "431", "500", "501", "503", "other"};
static const char *const reject_values[] = {"invalid", "unauthorized", "too_large", "queue_full",
                                            "unavailable"};
static const char *const connection_values[] = {"command", "subscriber"};
/* SUCCESS with each verdict, in enum verdict order, then FAILURE. */
static const char *const result_values[] = {
    "SUCCESS", "ok",         "SUCCESS", "runtime_error", "SUCCESS", "compile_error",
    "SUCCESS", "time_limit", "SUCCESS", "memory_limit",  "SUCCESS", "output_limit",
    "SUCCESS", "accepted",   "SUCCESS", "wrong_answer",  "FAILURE", ""};
static const char *const reap_reason_values[] = {"died", "stopped", "stale", "orphaned"};
static const char *const reap_action_values[] = {"requeued", "failed"};
static const char *const warm_values[] = {"used", "discarded"};

/* A dimension of one label: its name, its fixed values, whether it is sparse; or its values given
 * at start-up (metrics_dim_values). */
#define DIM1(label, v, sp)                                                                         \
    {                                                                                              \
        .labels = {label}, .nlabels = 1, .values = v, .n = sizeof v / sizeof *v, .sparse = sp      \
    }
#define DIM_GIVEN(label, sp)                                                                       \
    {                                                                                              \
        .labels = {label}, .nlabels = 1, .values = NULL, .n = 0, .sparse = sp                      \
    }
static const dim fixed_dims[DIM_COUNT] = {
    [DIM_ROUTE] = DIM_GIVEN("route", false),
    [DIM_CODE] = DIM1("code", code_values, true),
    [DIM_REJECT] = DIM1("reason", reject_values, false),
    [DIM_CONNECTION] = DIM1("connection", connection_values, false),
    [DIM_LANGUAGE] = DIM_GIVEN("language", true),
    [DIM_EXECUTOR] = DIM_GIVEN("executor", false),
    [DIM_RESULT] = {.labels = {"status", "verdict"},
                    .nlabels = 2,
                    .values = result_values,
                    .n = sizeof result_values / 2 / sizeof *result_values,
                    .sparse = false},
    [DIM_REAP_REASON] = DIM1("reason", reap_reason_values, false),
    [DIM_REAP_ACTION] = DIM1("outcome", reap_action_values, false),
    [DIM_WARM] = DIM1("outcome", warm_values, false),
};
#undef DIM1
#undef DIM_GIVEN

/* Where a row's cells are in a shard: ncombos label combinations (the last dimension varies
 * fastest) of width cells each: one number, or a histogram's buckets (+Inf last) then its sum. */
typedef struct family {
    size_t ndims;
    size_t ncombos;
    size_t width;
    size_t offset;
} family;

/* The process's registry: built once by metrics_init before threads start or children fork,
 * read-only afterwards but for the cells, each written only by its shard's writer. */
static struct {
    unsigned program;        /* the rows this process exports; 0 before metrics_init */
    family fam[M_COUNT];     /* layout of each row of program */
    dim dims[DIM_COUNT];     /* fixed_dims, with the values given at start-up */
    char **given[DIM_COUNT]; /* owned copies of those values */
    size_t stride;           /* cells from one shard to the next (whole cache lines) */
    size_t nshards;          /* writers */
    uint64_t *cells;         /* mapping of nshards * stride cells: doubles' bits */
    size_t map_len;          /* its length in bytes */
} reg;

static __thread uint64_t *mine; /* this writer's shard, NULL until metrics_attach */

static double cell_get(const uint64_t *c)
{
    uint64_t b = __atomic_load_n(c, __ATOMIC_RELAXED);
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* Only the shard's writer stores: a load and a store, no read-modify-write instruction. */
static void cell_put(uint64_t *c, double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    __atomic_store_n(c, b, __ATOMIC_RELAXED);
}

static const dim *dim_of(enum metric_dim d)
{
    return &reg.dims[d];
}

void metrics_dim_values(enum metric_dim d, const char *const *values, size_t n)
{
    for (size_t i = 0; reg.given[d] && reg.given[d][i]; i++)
        free(reg.given[d][i]);
    free(reg.given[d]);
    reg.given[d] = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        reg.given[d][i] = xstrdup(values[i]);
}

void metrics_dim_languages(const lang_table *t)
{
    cleanup_free const char **ids = xcalloc(t->n + 1, sizeof *ids);
    for (size_t i = 0; i < t->n; i++)
        ids[i] = t->langs[i].id;
    ids[t->n] = "other";
    metrics_dim_values(DIM_LANGUAGE, ids, t->n + 1);
}

void metrics_init(unsigned program, size_t nshards)
{
    for (int d = 0; d < DIM_COUNT; d++) {
        reg.dims[d] = fixed_dims[d];
        if (reg.given[d]) {
            size_t n = 0;
            while (reg.given[d][n])
                n++;
            reg.dims[d].values = (const char *const *)reg.given[d];
            reg.dims[d].n = n;
        }
    }
    size_t cells = 0;
    for (int id = 0; id < M_COUNT; id++) {
        family *f = &reg.fam[id];
        *f = (family){0};
        if (!(defs[id].program & program))
            continue;
        f->ncombos = 1;
        for (; f->ndims < METRICS_MAX_DIMS && defs[id].dims[f->ndims] != DIM_NONE; f->ndims++)
            f->ncombos *= dim_of(defs[id].dims[f->ndims])->n;
        f->width = defs[id].type == METRIC_HISTOGRAM ? bucket_sets[defs[id].bucket].n + 2 : 1;
        f->offset = cells;
        cells += f->ncombos * f->width;
    }
    reg.stride = (cells + 7) / 8 * 8; /* 64-byte lines: no two writers share one */
    reg.nshards = nshards;
    reg.map_len = reg.stride * nshards * sizeof(uint64_t);
    if (reg.map_len == 0)
        reg.map_len = sizeof(uint64_t);
    /* Shared, so that worker processes forked afterwards write where the supervisor reads. */
    void *m = mmap(NULL, reg.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        die("metrics: cannot map %zu bytes: %s", reg.map_len, strerror(errno));
    reg.cells = m; /* zero-filled: every double 0.0 */
    reg.program = program;
}

void metrics_attach(size_t shard)
{
    mine = reg.cells && shard < reg.nshards ? reg.cells + shard * reg.stride : NULL;
}

void metrics_reset_gauges(size_t shard)
{
    if (!reg.cells || shard >= reg.nshards)
        return;
    uint64_t *s = reg.cells + shard * reg.stride;
    for (int id = 0; id < M_COUNT; id++) {
        const family *f = &reg.fam[id];
        if (f->ncombos && (defs[id].type == METRIC_GAUGE || defs[id].type == METRIC_GAUGE_MIN))
            for (size_t i = 0; i < f->ncombos * f->width; i++)
                cell_put(&s[f->offset + i], 0);
    }
}

/* The bucket of v: the first bound >= v, or n for +Inf. */
static size_t bucket_of(enum metric_buckets b, double v)
{
    size_t i = 0;
    while (i < bucket_sets[b].n && v > bucket_sets[b].b[i])
        i++;
    return i;
}

void metrics_update(enum metric_id id, enum metrics_op op, double v, const int *idx)
{
    uint64_t *shard = mine;
    if (!shard || id >= M_COUNT)
        return;
    const family *f = &reg.fam[id];
    if (!f->ncombos)
        return; /* not a row of this program */
    if ((size_t)idx[0] != f->ndims) {
        assert(!"metric called with the wrong number of label indexes");
        return;
    }
    size_t combo = 0;
    for (size_t d = 0; d < f->ndims; d++) {
        size_t n = dim_of(defs[id].dims[d])->n;
        int i = idx[d + 1];
        if (i < 0 || (size_t)i >= n) {
            assert(!"metric label index out of range");
            return;
        }
        combo = combo * n + (size_t)i;
    }
    uint64_t *c = shard + f->offset + combo * f->width;
    if (defs[id].type == METRIC_HISTOGRAM) {
        if (op != METRICS_OBSERVE)
            return;
        size_t b = bucket_of(defs[id].bucket, v);
        cell_put(&c[b], cell_get(&c[b]) + 1);
        cell_put(&c[f->width - 1], cell_get(&c[f->width - 1]) + v);
    } else if (op == METRICS_SET) {
        cell_put(c, v);
    } else if (op == METRICS_ADD) {
        cell_put(c, cell_get(c) + v);
    }
}

/* ---- exposition ---- */

void metrics_text_add(metrics_text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        t->s = xrealloc(t->s, t->cap);
    }
}

void metrics_text_free(metrics_text *t)
{
    free(t->s);
    *t = (metrics_text){0};
}

/* A label value with \, " and newline escaped. */
static void add_escaped(metrics_text *t, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            metrics_text_add(t, "\\\\");
        else if (*s == '"')
            metrics_text_add(t, "\\\"");
        else if (*s == '\n')
            metrics_text_add(t, "\\n");
        else
            metrics_text_add(t, "%c", *s);
    }
}

static void add_value(metrics_text *t, double v)
{
    metrics_text_add(t, " %.15g\n", v);
}

static void add_header(metrics_text *t, const char *name, const char *help, const char *type)
{
    metrics_text_add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_text_gauge(metrics_text *t, const char *name, const char *help, double v)
{
    add_header(t, name, help, "gauge");
    metrics_text_add(t, "%s", name);
    add_value(t, v);
}

/* The index of each dimension in combination combo of row id. */
static void split_combo(int id, size_t combo, size_t index[METRICS_MAX_DIMS])
{
    for (size_t d = reg.fam[id].ndims; d-- > 0;) {
        size_t n = dim_of(defs[id].dims[d])->n;
        index[d] = combo % n;
        combo /= n;
    }
}

/* "{a="x",b="y"" of combination combo (no closing brace: histograms add le), or "" when the row
 * has no label; *any says whether something was written. */
static void add_labels(metrics_text *t, int id, size_t combo, bool *any)
{
    const family *f = &reg.fam[id];
    size_t index[METRICS_MAX_DIMS];
    split_combo(id, combo, index);
    *any = false;
    for (size_t d = 0; d < f->ndims; d++) {
        const dim *m = dim_of(defs[id].dims[d]);
        for (size_t l = 0; l < m->nlabels; l++) {
            const char *v = m->values[index[d] * m->nlabels + l];
            if (!*v)
                continue;
            metrics_text_add(t, "%s%s=\"", *any ? "," : "{", m->labels[l]);
            add_escaped(t, v);
            metrics_text_add(t, "\"");
            *any = true;
        }
    }
}

/* Cell k of a row, summed over the shards (or their minimum for GAUGE_MIN). */
static double total(int id, size_t k)
{
    const family *f = &reg.fam[id];
    double acc = 0;
    for (size_t s = 0; s < reg.nshards; s++) {
        double v = cell_get(&reg.cells[s * reg.stride + f->offset + k]);
        if (defs[id].type == METRIC_GAUGE_MIN)
            acc = s == 0 || v < acc ? v : acc;
        else
            acc += v;
    }
    return acc;
}

static void render_histogram(metrics_text *t, int id, size_t combo)
{
    const family *f = &reg.fam[id];
    const char *name = defs[id].name;
    const double *bounds = bucket_sets[defs[id].bucket].b;
    size_t base = combo * f->width;
    double cum = 0;
    bool any;
    for (size_t b = 0; b + 1 < f->width; b++) {
        cum += total(id, base + b);
        metrics_text_add(t, "%s_bucket", name);
        add_labels(t, id, combo, &any);
        if (b + 2 < f->width)
            metrics_text_add(t, "%sle=\"%g\"}", any ? "," : "{", bounds[b]);
        else
            metrics_text_add(t, "%sle=\"+Inf\"}", any ? "," : "{");
        add_value(t, cum);
    }
    /* the count is the +Inf bucket, so the two agree even while observations come in */
    const char *suffix[] = {"_sum", "_count"};
    double value[] = {total(id, base + f->width - 1), cum};
    for (int k = 0; k < 2; k++) {
        metrics_text_add(t, "%s%s", name, suffix[k]);
        add_labels(t, id, combo, &any);
        metrics_text_add(t, "%s", any ? "}" : "");
        add_value(t, value[k]);
    }
}

/* Which combinations of row id to show: seen[c] is false for one with a value of a sparse
 * dimension under which nothing was counted yet (see struct dim). */
static void visible(int id, bool *seen)
{
    const family *f = &reg.fam[id];
    bool sparse = false;
    for (size_t d = 0; d < f->ndims; d++)
        sparse |= dim_of(defs[id].dims[d])->sparse;
    for (size_t c = 0; c < f->ncombos; c++)
        seen[c] = !sparse;
    if (!sparse)
        return;
    /* used[d][v]: value v of dimension d has a non-zero cell somewhere in the row */
    bool *used[METRICS_MAX_DIMS];
    for (size_t d = 0; d < f->ndims; d++)
        used[d] = xcalloc(dim_of(defs[id].dims[d])->n, sizeof(bool));
    size_t index[METRICS_MAX_DIMS];
    for (size_t c = 0; c < f->ncombos; c++) {
        bool nonzero = false;
        for (size_t k = 0; k < f->width && !nonzero; k++)
            nonzero = total(id, c * f->width + k) != 0;
        if (!nonzero)
            continue;
        split_combo(id, c, index);
        for (size_t d = 0; d < f->ndims; d++)
            used[d][index[d]] = true;
    }
    for (size_t c = 0; c < f->ncombos; c++) {
        split_combo(id, c, index);
        seen[c] = true;
        for (size_t d = 0; d < f->ndims; d++)
            if (dim_of(defs[id].dims[d])->sparse && !used[d][index[d]])
                seen[c] = false;
    }
    for (size_t d = 0; d < f->ndims; d++)
        free(used[d]);
}

void metrics_render(metrics_text *t)
{
    static const char *const type_names[] = {"counter", "gauge", "gauge", "histogram"};
    if (!reg.cells)
        return;
    for (int id = 0; id < M_COUNT; id++) {
        const family *f = &reg.fam[id];
        if (!f->ncombos)
            continue;
        add_header(t, defs[id].name, defs[id].help, type_names[defs[id].type]);
        cleanup_free bool *seen = xcalloc(f->ncombos, sizeof *seen);
        visible(id, seen);
        for (size_t combo = 0; combo < f->ncombos; combo++) {
            if (!seen[combo])
                continue;
            if (defs[id].type == METRIC_HISTOGRAM) {
                render_histogram(t, id, combo);
                continue;
            }
            bool any;
            metrics_text_add(t, "%s", defs[id].name);
            add_labels(t, id, combo, &any);
            metrics_text_add(t, "%s", any ? "}" : "");
            add_value(t, total(id, combo));
        }
    }
}

/* ---- helpers ---- */

bool metrics_authorized(const cfg *c, const char *authorization)
{
    if (!c->metrics_token && c->n_api_keys == 0)
        return true;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *key = authorization + 7;
    while (*key == ' ')
        key++;
    size_t len = strlen(key);
    if (c->metrics_token)
        return const_time_eq(key, len, c->metrics_token, strlen(c->metrics_token));
    bool ok = false;
    for (size_t i = 0; i < c->n_api_keys; i++)
        ok |= const_time_eq(key, len, c->api_keys[i], strlen(c->api_keys[i]));
    return ok;
}

int metrics_code_index(int http_status)
{
    /* code_values as numbers (every reply is counted: no formatting on the hot path) */
    static const int codes[] = {200, 400, 401, 404, 405, 408, 413, 431, 500, 501, 503};
    _Static_assert(sizeof codes / sizeof *codes + 1 == sizeof code_values / sizeof *code_values,
                   "code_values: one number per value, then other");
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (codes[i] == http_status)
            return (int)i;
    return (int)(sizeof codes / sizeof *codes);
}

int metrics_language_index(const char *lang_id)
{
    const dim *m = dim_of(DIM_LANGUAGE);
    if (m->n == 0)
        return -1; /* no registry: the update is ignored */
    for (size_t i = 0; lang_id && i + 1 < m->n; i++)
        if (strcmp(m->values[i], lang_id) == 0)
            return (int)i;
    return (int)m->n - 1;
}

int metrics_result_index(task_status s, verdict v)
{
    if (s != TASK_SUCCESS)
        return VERDICT_WRONG_ANSWER + 1;
    return (int)v <= VERDICT_WRONG_ANSWER ? (int)v : VERDICT_WRONG_ANSWER + 1;
}

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void metrics_free(void)
{
    if (reg.cells)
        munmap(reg.cells, reg.map_len);
    for (int d = 0; d < DIM_COUNT; d++) {
        for (size_t i = 0; reg.given[d] && reg.given[d][i]; i++)
            free(reg.given[d][i]);
        free(reg.given[d]);
    }
    memset(&reg, 0, sizeof reg);
    mine = NULL;
}
