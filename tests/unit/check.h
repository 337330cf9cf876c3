/* A tiny unit-test kit: test() names a case, check() records a failed expectation without
 * stopping, check_done() prints "N passed, N failed" and gives the exit status. */
#ifndef CR_CHECK_H
#define CR_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;
static const char *check_case = "";

#define test(name) (check_case = (name))
#define check(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "FAIL %s: %s (%s:%d)\n", check_case, #cond, __FILE__, __LINE__);       \
        }                                                                                          \
    } while (0)
#define check_str(a, b) check((a) != NULL && strcmp((a), (b)) == 0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
