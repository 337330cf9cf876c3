/* Touch memory without end: the memory cap (swap included) must kill it. */
#include <stdlib.h>
#include <string.h>
int main(void)
{
    for (;;) {
        char *p = malloc(8 << 20);
        if (!p)
            return 3;
        memset(p, 1, 8 << 20);
    }
}
