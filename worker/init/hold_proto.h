/* The protocol between a worker process and the holder of a session's sandbox (cr-init
 * --session, PID 1 of the session's container): fixed-size messages on a SOCK_SEQPACKET socket,
 * the holder's end at HOLD_FD. Descriptors travel as SCM_RIGHTS.
 *
 *   worker -> holder
 *     HOLD_JOIN  descriptors: cgroup files the holder writes "0" to (moves itself); answered
 *                HOLD_JOINED (value 0, or the errno of the failed write)
 *     HOLD_RUN   descriptors: [command memfd, stdin, stdout, stderr, cgroup files...]: fork a
 *                run; its child writes "0" to each cgroup file (joins the run's own cgroup),
 *                takes the three stdio descriptors and execs the command (hold_command);
 *                value: how many cgroup files follow the stdio
 *     HOLD_KILL  kill every process of the container but the holder (the run's end)
 *   holder -> worker
 *     HOLD_EXIT  the run is over: the program ended (value: its wait status) and every other
 *                process of the container is killed and reaped
 *     HOLD_EXEC_FAILED  the same, when the program could not be executed (value: errno)
 * The worker closing its end stops the holder, which takes the container with it. */
#ifndef CR_HOLD_PROTO_H
#define CR_HOLD_PROTO_H

#include <stdint.h>

#define HOLD_FD 3      /* the holder's end of the socket */
#define HOLD_MAX_FDS 8 /* descriptors in one message */
#define HOLD_ARG "--session"

enum hold_kind {
    HOLD_JOIN = 'J',
    HOLD_JOINED = 'j',
    HOLD_RUN = 'R',
    HOLD_KILL = 'K',
    HOLD_EXIT = 'E',
    HOLD_EXEC_FAILED = 'F',
};

typedef struct hold_msg {
    uint32_t kind; /* enum hold_kind */
    int32_t value; /* see above */
} hold_msg;

#define HOLD_MAX_RLIMITS 16 /* every RLIMIT_* Linux has */

/* One rlimit of a run (setrlimit's resource and values). */
typedef struct hold_rlimit {
    int32_t resource;
    uint32_t pad;
    uint64_t soft, hard;
} hold_rlimit;

/* The command memfd of HOLD_RUN: a header, then argc NUL-terminated strings (argv) and envc
 * (environment), in that order. The run's child sets the header's rlimits before the exec (it
 * runs as the sandbox user: it can only lower them, and fails the run when it cannot). */
typedef struct hold_command {
    uint32_t size; /* of the whole memfd content */
    uint32_t argc;
    uint32_t envc;
    uint32_t nrlimits; /* entries of rlimits in use */
    hold_rlimit rlimits[HOLD_MAX_RLIMITS];
} hold_command;

#define HOLD_MAX_STRINGS 1024 /* argc + envc */

#endif
