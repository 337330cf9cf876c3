/* Task ids: random UUIDv4 from libuuid. */
#include "task_id.h"

#include <ctype.h>
#include <string.h>
#include <uuid/uuid.h>

void task_id_new(char out[TASK_ID_LEN + 1])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

bool task_id_valid(const char *s)
{
    if (strlen(s) != TASK_ID_LEN)
        return false;
    for (int i = 0; i < TASK_ID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}
