/* Live sessions: the model both programs share (README "Live sessions"; the Redis keys are in
 * redis_model.h): a session's states, the kinds of work done to it, the bodies of
 * POST /api/v1/sessions and POST /api/v1/sessions/{id}/execute with the stored form of a run,
 * and the rule a workspace path follows.
 *
 * API:
 *   session_status_str(s), session_status_parse(text, &s)   the states as stored and shown
 *   session_status_live(s)        true while the session takes work (pending to executing)
 *   session_op_str(op), session_op_parse(text, &op)         what a session task does
 *   session_spec_parse(body, len, langs, cfg, &spec, err, errlen)
 *       the create body: environment (a language id or alias), optional memory_mb, timeout
 *       (defaults of its runs) and ttl (idle seconds before it is stopped); defaults applied.
 *       0, or -1 with a client-facing message.
 *   session_run_parse(body, len, cfg, &run, err, errlen)
 *       the execute body: code, optional filename, stdin, args, timeout. 0 or -1 (message).
 *   session_run_from_json(o, cfg, &run, err, errlen)
 *       the same from a stored task request (which also holds op and session).
 *   session_run_to_json(&run, sid)   the stored request of a run (caller frees the string)
 *   session_run_free(&run)           safe on a zeroed struct
 *   session_path_check(path, err, errlen)
 *       0 when path names a place inside a workspace: relative, '/'-separated components, none
 *       empty, "." or "..", none over SESSION_NAME_MAX bytes or holding a control character, at
 *       most SESSION_PATH_MAX bytes in all; -1 with a message otherwise. */
#ifndef CR_SESSION_H
#define CR_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/languages.h"

#define SESSION_PATH_MAX 1024
#define SESSION_NAME_MAX 255
#define SESSION_MAX_ARGS 64

/* A session's life, as its hash's status field holds it. */
typedef enum session_status {
    SESSION_PENDING,   /* created by the api; its create task waits in the owner's queue */
    SESSION_CREATING,  /* the owner is starting its sandbox */
    SESSION_READY,     /* its sandbox is up and idle */
    SESSION_EXECUTING, /* a run is in progress */
    SESSION_STOPPING,  /* deleted or expired; the owner is tearing it down */
    SESSION_STOPPED,   /* torn down; the record expires after RESULT_TTL */
    SESSION_ERROR,     /* its sandbox could not be made or is gone (message says why) */
} session_status;
const char *session_status_str(session_status s);             /* "pending", "creating", ... */
int session_status_parse(const char *s, session_status *out); /* -1 on unknown */
bool session_status_live(session_status s);

/* What one session task does (the op field of its task hash and stored request). */
typedef enum session_op {
    SESSION_OP_CREATE, /* start the sandbox */
    SESSION_OP_RUN,    /* execute code */
    SESSION_OP_PUT,    /* write a file of the workspace */
    SESSION_OP_GET,    /* read a file of the workspace */
    SESSION_OP_LIST,   /* list the workspace */
    SESSION_OP_DELETE, /* stop the session */
} session_op;
const char *session_op_str(session_op op); /* "create", "run", ... */
int session_op_parse(const char *s, session_op *out);

/* A validated create body. */
typedef struct session_spec {
    const language *lang; /* borrowed from the language table */
    int memory_mb;        /* memory cap of its runs */
    int timeout;          /* default wall-clock seconds of its runs */
    int ttl;              /* idle seconds before it is stopped */
} session_spec;

int session_spec_parse(const char *body, size_t len, const lang_table *langs, const cfg *c,
                       session_spec *spec, char *err, size_t errlen);

/* A validated run; every pointer is owned and freed by session_run_free. */
typedef struct session_run {
    char *code; /* the source, written to filename before the run */
    size_t code_len;
    char *filename; /* owned; NULL: the environment's source file ("main.py") */
    char *stdin_data;
    size_t stdin_len;
    char **args; /* NULL-terminated program arguments (never NULL after parse) */
    size_t nargs;
    int timeout; /* 0: the session's default */
} session_run;

int session_run_parse(const char *body, size_t len, const cfg *c, session_run *run, char *err,
                      size_t errlen);
int session_run_from_json(const json_t *o, const cfg *c, session_run *run, char *err,
                          size_t errlen);
char *session_run_to_json(const session_run *run, const char *sid);
void session_run_free(session_run *run);

int session_path_check(const char *path, char *err, size_t errlen);

#endif
