/* Listening TCP sockets (see net_listen.h). */
#include "net_listen.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

int net_resolve_passive(const char *host, const char *port, struct addrinfo **res)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    return getaddrinfo(host && *host ? host : NULL, port, &hints, res);
}

int net_listen_first(const struct addrinfo *res, int backlog)
{
    int saved = EADDRNOTAVAIL;
    for (const struct addrinfo *a = res; a; a = a->ai_next) {
        int fd =
            socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog) == 0)
            return fd;
        saved = errno;
        close(fd);
    }
    errno = saved;
    return -1;
}
