/* Unit tests for common/b64: RFC 4648 vectors, round trips, rejected input. */
#include <stdlib.h>

#include "tests/unit/check.h"
#include "common/b64.h"

static void vector(const char *plain, const char *enc)
{
    char *e = b64_encode(plain, strlen(plain));
    check_str(e, enc);
    free(e);
    char *d = NULL;
    size_t n = 0;
    check(b64_decode(enc, strlen(enc), &d, &n) == 0);
    check(n == strlen(plain) && memcmp(d, plain, n) == 0);
    free(d);
}

static void rejected(const char *enc)
{
    char *d = NULL;
    size_t n;
    check(b64_decode(enc, strlen(enc), &d, &n) == -1);
    check(d == NULL);
}

int main(void)
{
    test("rfc4648 vectors");
    vector("", "");
    vector("f", "Zg==");
    vector("fo", "Zm8=");
    vector("foo", "Zm9v");
    vector("foob", "Zm9vYg==");
    vector("fooba", "Zm9vYmE=");
    vector("foobar", "Zm9vYmFy");

    test("binary round trip");
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char *e = b64_encode(all, sizeof all), *d;
    size_t n;
    check(b64_decode(e, strlen(e), &d, &n) == 0 && n == 256 && memcmp(d, all, 256) == 0);
    free(e);
    free(d);

    test("invalid input");
    rejected("Zg=");      /* length not a multiple of 4 */
    rejected("Z===");     /* too much padding */
    rejected("Zm9v!A=="); /* character outside the alphabet */
    rejected("Zg==Zm8="); /* padding in the middle */
    rejected("Zm 9v");
    return check_done();
}
