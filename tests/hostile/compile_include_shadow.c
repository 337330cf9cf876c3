/* Compile-time read of a host secret: the compiler runs in the sandbox, sees only the image. */
#include "/etc/shadow"
int main(void)
{
    return 0;
}
