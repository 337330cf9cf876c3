/* The executor hosts' Bearer token, from the environment or a file (see token.h). */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

/* Visible ASCII only: what an Authorization header carries as it is. */
static int check_token(const char *t, size_t n, const char *from, char *err, size_t errlen)
{
    if (n == 0)
        return set_error(err, errlen, "%s: the token is empty", from);
    if (n > NET_TOKEN_MAX)
        return set_error(err, errlen, "%s: the token is longer than %d bytes", from, NET_TOKEN_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= ' ' || (unsigned char)t[i] >= 127)
            return set_error(err, errlen,
                             "%s: the token may only hold visible ASCII characters (byte %zu "
                             "is not one)",
                             from, i);
    return 0;
}

/* The file's content without its trailing line end and blanks (caller frees), or NULL. */
static char *read_token_file(const char *path, char *err, size_t errlen)
{
    cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        set_error(err, errlen, "EXECUTOR_AUTH_TOKEN_FILE: cannot open %s: %s", path,
                  strerror(errno));
        return NULL;
    }
    size_t cap = NET_TOKEN_MAX + 2, n = 0;
    cleanup_free char *buf = xmalloc(cap + 1);
    for (;;) {
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            set_error(err, errlen, "EXECUTOR_AUTH_TOKEN_FILE: cannot read %s: %s", path,
                      strerror(errno));
            explicit_bzero(buf, cap);
            return NULL;
        }
        if (got == 0 || (n += (size_t)got) == cap)
            break;
    }
    while (n &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    if (check_token(buf, n, "EXECUTOR_AUTH_TOKEN_FILE", err, errlen) < 0) {
        explicit_bzero(buf, cap);
        return NULL;
    }
    return steal_pointer(&buf);
}

int net_token_load(const cfg *c, char **token, char *err, size_t errlen)
{
    *token = NULL;
    if (c->executor_auth_token && c->executor_auth_token_file)
        return set_error(err, errlen,
                         "EXECUTOR_AUTH_TOKEN and EXECUTOR_AUTH_TOKEN_FILE are both set: give "
                         "the token one way only");
    if (c->executor_auth_token_file) {
        *token = read_token_file(c->executor_auth_token_file, err, errlen);
        return *token ? 0 : -1;
    }
    if (!c->executor_auth_token)
        return 0;
    const char *t = c->executor_auth_token;
    if (check_token(t, strlen(t), "EXECUTOR_AUTH_TOKEN", err, errlen) < 0)
        return -1;
    *token = xstrdup(t);
    return 0;
}

void net_token_free(char *token)
{
    if (!token)
        return;
    explicit_bzero(token, strlen(token));
    free(token);
}
