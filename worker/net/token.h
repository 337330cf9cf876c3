/* The executor hosts' shared secret: the Bearer token an agent (worker --serve) demands and the
 * remote executor sends, from EXECUTOR_AUTH_TOKEN or from the file EXECUTOR_AUTH_TOKEN_FILE names
 * (a file keeps it out of the environment other processes of the same user can read, of shell
 * history and of `ps e`). The token is never logged, and no error message quotes it.
 *
 *   net_token_load(cfg, &token, err, errlen)
 *       0 with *token the token (caller frees with net_token_free), or NULL when neither variable
 *       is set; -1 with err when both are set, the file cannot be read, or the token is empty,
 *       longer than NET_TOKEN_MAX or holds a byte an HTTP header cannot carry (space, control).
 *   net_token_free(token)   wipes and frees it; accepts NULL. */
#ifndef CR_NET_TOKEN_H
#define CR_NET_TOKEN_H

#include <stddef.h>

#include "common/config.h"

#define NET_TOKEN_MAX 4096

int net_token_load(const cfg *c, char **token, char *err, size_t errlen);
void net_token_free(char *token);

#endif
