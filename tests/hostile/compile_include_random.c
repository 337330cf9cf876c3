/* Compile-time read of an endless device: the compile step's limits must stop it. */
#include "/dev/random"
int main(void)
{
    return 0;
}
