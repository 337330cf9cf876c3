/* The per-loop +switch-master subscription on a sentinel. */
#include "failover.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

static void switch_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    api_loop *loop = priv;
    redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "message") != 0 ||
        reply->element[2]->type != REDIS_REPLY_STRING)
        return;
    /* "<master name> <old ip> <old port> <new ip> <new port>" */
    const char *msg = reply->element[2]->str;
    size_t n = strlen(loop->cfg->redis_master_name);
    if (strncmp(msg, loop->cfg->redis_master_name, n) != 0 || msg[n] != ' ')
        return;
    log_warn("loop %d: sentinel reports a failover: %s", loop->index, msg);
    char why[160];
    snprintf(why, sizeof why, "failover to %s", msg + n + 1);
    aconn_reset_soon(loop->cmd, why);
    aconn_reset_soon(loop->sub, why);
}

static void sentinel_up(aconn *conn, void *arg)
{
    api_loop *loop = arg;
    const char *argv[] = {"SUBSCRIBE", "+switch-master"};
    if (aconn_subscribe(conn, switch_cb, loop, 2, argv) < 0)
        log_error("loop %d: cannot subscribe to +switch-master", loop->index);
}

void failover_watch_start(api_loop *loop)
{
    if (loop->cfg->n_sentinels == 0)
        return;
    loop->sentinel =
        aconn_create(loop->base, loop->cfg, "sentinel", ACONN_SENTINEL, sentinel_up, NULL, loop);
}
