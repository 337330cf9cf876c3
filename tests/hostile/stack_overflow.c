/* Unbounded recursion: the program dies by SIGSEGV in its own sandbox (runtime_error). */
#include <stdio.h>
static int deep(volatile char *prev, long n)
{
    volatile char frame[4096];
    frame[0] = prev ? prev[0] : 1;
    return deep(frame, n + 1) + frame[0];
}
int main(void)
{
    printf("%d\n", deep(NULL, 0));
    return 0;
}
