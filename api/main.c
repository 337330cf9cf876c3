/* api: the HTTP front of code-runner. Reads the configuration and the language table, then
 * serves until SIGTERM/SIGINT (see server.h); start-up errors stop it with a clear message. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>

#include "api/server.h"
#include "common/config.h"
#include "common/languages.h"
#include "common/log.h"
#include "common/redis_tls.h"
#include "common/util.h"

int main(void)
{
    char err[512];
    cfg c;
    if (cfg_load(&c, err, sizeof err) < 0)
        die("configuration: %s", err);
    log_init((enum log_level)c.log_level, "api");
    if (redis_tls_load(&c, err, sizeof err) < 0)
        die("configuration: %s", err);
    lang_table *langs;
    if (lang_table_load(&c, &langs, err, sizeof err) < 0)
        die("LANGUAGES_FILE: %s", err);
    signal(SIGPIPE, SIG_IGN);
    if (c.n_sentinels)
        log_info("starting: %d event loops, redis master '%s' through %zu sentinel(s) db %d%s "
                 "(enqueues on %d replica(s) before a 200), prefix '%s', auth %s",
                 c.api_threads, c.redis_master_name, c.n_sentinels, c.redis_db,
                 c.redis_tls ? " over TLS" : "", c.redis_min_replicas_ack, c.redis_prefix,
                 c.n_api_keys ? "on" : "off");
    else
        log_info("starting: %d event loops, redis %s:%d db %d%s, prefix '%s', auth %s",
                 c.api_threads, c.redis_host, c.redis_port, c.redis_db,
                 c.redis_tls ? " over TLS" : "", c.redis_prefix, c.n_api_keys ? "on" : "off");
    api_server *s = server_create(&c, langs);
    int rc = server_run(s);
    server_free(s);
    lang_table_free(langs);
    cfg_free(&c);
    libevent_global_shutdown();
    return rc == 0 ? 0 : 1;
}
