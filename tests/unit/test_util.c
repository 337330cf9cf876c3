/* Unit tests for common/util: random_hex, and the cleanup attributes with steal_pointer/steal_fd
 * (what runs at scope exit, what is handed out). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/unit/check.h"

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return s[n] == '\0';
}

static void random_hex_lengths(void)
{
    const size_t bytes[] = {0, 1, 2, 8, 16, 63, 64};
    for (size_t k = 0; k < sizeof bytes / sizeof *bytes; k++) {
        size_t n = bytes[k];
        char a[2 * 64 + 2], b[2 * 64 + 2];
        a[2 * n + 1] = b[2 * n + 1] = 'X'; /* nothing written past the NUL */
        random_hex(a, n);
        random_hex(b, n);
        check(all_hex(a, 2 * n) && all_hex(b, 2 * n));
        check(a[2 * n + 1] == 'X' && b[2 * n + 1] == 'X');
        if (n >= 16)
            check(strcmp(a, b) != 0); /* 128 random bits or more: never equal */
    }
}

static void random_hex_uses_every_digit(void)
{
    char s[64 * 2 * 32 + 1];
    for (size_t i = 0; i < 32; i++)
        random_hex(s + i * 128, 64);
    for (const char *d = "0123456789abcdef"; *d; d++)
        check(strchr(s, *d) != NULL);
}

static int freed;
typedef struct thing {
    int id;
} thing;
static void thing_free(thing *t)
{
    if (t)
        freed++;
    free(t);
}
CLEANUP_FUNC(thing, thing_free)

/* Builds a thing; fails (leaving nothing) when fail is set. */
static int build(bool fail, thing **out)
{
    cleanup_ptr(thing) thing *t = xcalloc(1, sizeof *t);
    cleanup_free char *scratch = xstrdup("scratch"); /* freed on both paths */
    t->id = (int)strlen(scratch);
    if (fail)
        return -1;
    *out = steal_pointer(&t);
    return 0;
}

static void cleanup_and_steal(void)
{
    thing *t = NULL;
    freed = 0;
    check(build(true, &t) == -1 && t == NULL && freed == 1);
    freed = 0;
    check(build(false, &t) == 0 && t != NULL && t->id == 7 && freed == 0);
    thing_free(t);
    check(freed == 1);
}

static int kept_fd(bool keep)
{
    cleanup_fd int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return keep ? steal_fd(&fd) : fd; /* when not kept, the number of a closed descriptor */
}

static void cleanup_fd_closes(void)
{
    int closed = kept_fd(false);
    check(closed >= 0 && fcntl(closed, F_GETFD) == -1);
    int kept = kept_fd(true);
    check(kept >= 0 && fcntl(kept, F_GETFD) != -1);
    close(kept);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    errno = 1234;
    close_fd(&fd);
    check(fd == -1 && errno == 1234); /* errno kept for the caller's message */
    close_fd(&fd);                    /* -1: nothing to do */
    check(fd == -1);
}

int main(void)
{
    test("random_hex lengths");
    random_hex_lengths();
    test("random_hex digits");
    random_hex_uses_every_digit();
    test("cleanup_ptr and steal_pointer");
    cleanup_and_steal();
    test("cleanup_fd and steal_fd");
    cleanup_fd_closes();
    return check_done();
}
