/* The per-loop Redis probe: one PUBLISH a second to a channel of our own, timed on both ends. */
#include "liveness.h"

#include <stdio.h>

#include "common/log.h"
#include "common/util.h"

static void probe_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    api_loop *loop = priv;
    loop->probe_sent_ms = 0;
    if (r)
        loop->cmd_ok_ms = now_mono_ms();
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    api_loop *loop = arg;
    int64_t now = now_mono_ms();
    int64_t limit = (int64_t)loop->cfg->redis_timeout * 1000;
    if (aconn_is_up(loop->cmd)) {
        if (loop->probe_sent_ms && now - loop->probe_sent_ms > limit) {
            char why[96];
            snprintf(why, sizeof why, "no answer to a probe in %d s", loop->cfg->redis_timeout);
            loop->probe_sent_ms = 0;
            aconn_reset(loop->cmd, why); /* runs probe_cb with NULL */
        } else if (!loop->probe_sent_ms) {
            const char *argv[] = {"PUBLISH", loop->probe_channel, "1"};
            if (aconn_command(loop->cmd, probe_cb, loop, 3, argv, NULL) == 0)
                loop->probe_sent_ms = now;
        }
    }
    /* The subscriber is judged only while the command connection proves Redis answers. */
    if (loop->subscribed && aconn_is_up(loop->sub) &&
        now - loop->cmd_ok_ms < 2 * LIVENESS_PROBE_MS && now - loop->sub_seen_ms > limit) {
        char why[96];
        snprintf(why, sizeof why, "no probe message in %d s", loop->cfg->redis_timeout);
        aconn_reset(loop->sub, why);
    }
}

void liveness_start(api_loop *loop)
{
    loop->probe_timer = event_new(loop->base, -1, EV_PERSIST, tick_cb, loop);
    if (!loop->probe_timer)
        abort();
    struct timeval tv = {LIVENESS_PROBE_MS / 1000, (LIVENESS_PROBE_MS % 1000) * 1000};
    evtimer_add(loop->probe_timer, &tv);
}

void liveness_sub_seen(api_loop *loop)
{
    loop->sub_seen_ms = now_mono_ms();
}

void liveness_stop(api_loop *loop)
{
    if (loop->probe_timer)
        event_free(loop->probe_timer);
    loop->probe_timer = NULL;
}
