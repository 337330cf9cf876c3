/* Listening TCP sockets, as the api, the worker's GET /metrics and the executor-host agent open
 * them.
 *
 *   net_resolve_passive(host, port, &res)  getaddrinfo for a listening socket (AI_PASSIVE, a
 *                                          numeric port; host NULL or "": every address); 0, or
 *                                          getaddrinfo's error code (gai_strerror). The caller
 *                                          frees res with freeaddrinfo.
 *   net_listen_first(res, backlog)         listen on the first address of res that works:
 *                                          non-blocking, close-on-exec, SO_REUSEADDR; the
 *                                          socket, or -1 with errno from the last attempt. */
#ifndef CR_NET_LISTEN_H
#define CR_NET_LISTEN_H

#include <netdb.h>

int net_resolve_passive(const char *host, const char *port, struct addrinfo **res);
int net_listen_first(const struct addrinfo *res, int backlog);

#endif
