/* AUTH argument vectors and the parsing of Sentinel's answer about the master. */
#include "redis_target.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

int redis_auth_argv(const char *user, const char *password, const char *argv[3])
{
    if (!password)
        return 0;
    int n = 0;
    argv[n++] = "AUTH";
    if (user)
        argv[n++] = user;
    argv[n++] = password;
    return n;
}

bool redis_fault_reply(const redisReply *r)
{
    static const char *const faults[] = {"READONLY", "MASTERDOWN", "LOADING", "UNBLOCKED",
                                         "NOREPLICAS"};
    if (!r || r->type != REDIS_REPLY_ERROR)
        return false;
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
        size_t n = strlen(faults[i]);
        if (r->len >= n && strncmp(r->str, faults[i], n) == 0 &&
            (r->str[n] == ' ' || r->str[n] == '\0'))
            return true;
    }
    return false;
}

int redis_master_addr(const redisReply *r, char *host, size_t hostlen, int *port)
{
    long p;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[0]->len == 0 || r->element[0]->len >= hostlen ||
        parse_long(r->element[1]->str, 1, 65535, &p) < 0)
        return -1;
    snprintf(host, hostlen, "%s", r->element[0]->str);
    *port = (int)p;
    return 0;
}
