/* Endless short lines: the output cap must hold and the worker's memory stay bounded. */
#include <stdio.h>
int main(void)
{
    for (unsigned long i = 0;; i++)
        printf("line %lu\n", i);
}
