/* cr-init's session mode (cr-init --session): the holder of a session's sandbox, see session.c
 * and hold_proto.h.
 *   cr_session_main()   serve runs on HOLD_FD until the worker closes it; the exit status */
#ifndef CR_INIT_SESSION_H
#define CR_INIT_SESSION_H

int cr_session_main(void);

#endif
