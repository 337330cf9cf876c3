/* Spend the whole per-user POSIX message queue budget (RLIMIT_MSGQUEUE) and hold it while a
 * concurrent job (cases.json "twice") does the same. Each worker slot has a user, hence a
 * budget, of its own, so both jobs get all of theirs; were every job one user, the two would
 * split one budget and at least one of them would get half of it or less. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void)
{
    struct rlimit lim;
    getrlimit(RLIMIT_MSGQUEUE, &lim);
    /* within the unprivileged defaults (fs.mqueue.msg_max 10, msgsize_max 8192) */
    struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = 8192};
    long each = attr.mq_maxmsg * attr.mq_msgsize; /* a queue costs this plus a little */
    long full = (long)lim.rlim_cur / each;        /* queues a whole budget holds, at most */
    int n = 0, err = 0;
    for (; n < 10000; n++) {
        char name[64];
        snprintf(name, sizeof name, "/cr-budget-%d", n);
        mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
        if (q == (mqd_t)-1) {
            err = errno;
            break;
        }
    }
    printf("uid %u\n", (unsigned)getuid());
    printf("RLIMIT_MSGQUEUE %ld: %d queues of %ld bytes, then %s\n", (long)lim.rlim_cur, n, each,
           strerror(err));
    fflush(stdout);
    if (n == 0 && err == ENOSYS) { /* gVisor without message queues: nothing to share */
        printf("CONTAINED (no POSIX message queues)\n");
        return 0;
    }
    sleep(3); /* hold the budget while the other job fills its own */
    printf(2L * n > full ? "CONTAINED\n" : "ESCAPED: another job spent this user's budget\n");
    return 0;
}
