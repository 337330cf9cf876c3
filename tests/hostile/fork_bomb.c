/* Fork bomb without restraint: the pids limit must stop it and the job must end. */
#include <unistd.h>
int main(void)
{
    for (;;)
        fork();
}
