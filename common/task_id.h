/* Task ids: random UUIDv4 strings (libuuid), 36 characters, lower case. */
#ifndef CR_TASK_ID_H
#define CR_TASK_ID_H

#include <stdbool.h>

#define TASK_ID_LEN 36

void task_id_new(char out[TASK_ID_LEN + 1]);
/* True when s is a well-formed lower- or upper-case UUID string. */
bool task_id_valid(const char *s);

#endif
