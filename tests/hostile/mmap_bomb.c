/* Map and populate anonymous memory in big pieces: the memory cap must hold. */
#include <stdio.h>
#include <sys/mman.h>
int main(void)
{
    for (int i = 0; i < 1024; i++) {
        void *p = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED) {
            printf("CONTAINED mmap failed after %d MiB\n", i * 64);
            return 0;
        }
    }
    printf("ESCAPED mapped 64 GiB\n");
    return 0;
}
