/* libcurl loaded with dlopen on first use by a backend that speaks HTTP (see curl_dl.h). */
#include "curl_dl.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CURL_SONAME "libcurl.so.4" /* the ABI <curl/curl.h> describes (libcurl 7 and 8) */

curl_dl_api curl_dl;

/* Each field of curl_dl_api and the symbol that fills it. */
#define AT(field) offsetof(curl_dl_api, field)
static const struct {
    const char *name;
    size_t offset;
} SYMS[] = {
    {"curl_global_init", AT(global_init)},
    {"curl_free", AT(free)},
    {"curl_slist_append", AT(slist_append)},
    {"curl_slist_free_all", AT(slist_free_all)},
    {"curl_easy_init", AT(easy_init)},
    {"curl_easy_cleanup", AT(easy_cleanup)},
    {"curl_easy_reset", AT(easy_reset)},
    {"curl_easy_setopt", AT(easy_setopt)},
    {"curl_easy_getinfo", AT(easy_getinfo)},
    {"curl_easy_perform", AT(easy_perform)},
    {"curl_easy_strerror", AT(easy_strerror)},
    {"curl_easy_escape", AT(easy_escape)},
    {"curl_multi_init", AT(multi_init)},
    {"curl_multi_cleanup", AT(multi_cleanup)},
    {"curl_multi_add_handle", AT(multi_add_handle)},
    {"curl_multi_remove_handle", AT(multi_remove_handle)},
    {"curl_multi_perform", AT(multi_perform)},
    {"curl_multi_poll", AT(multi_poll)},
    {"curl_multi_info_read", AT(multi_info_read)},
};
_Static_assert(sizeof SYMS / sizeof SYMS[0] * sizeof(void (*)(void)) == sizeof(curl_dl_api),
               "every field of curl_dl_api has its symbol in SYMS");

int curl_dl_load(const char *who, char *err, size_t errlen)
{
    static bool loaded; /* once per process; the worker has one thread */
    if (loaded)
        return 0;
    /* RTLD_LOCAL: nothing else in the process resolves against libcurl. Never closed. */
    void *lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(err, errlen, "EXECUTOR=%s needs libcurl (apt-get install libcurl4): %s", who,
                 dlerror());
        return -1;
    }
    curl_dl_api t;
    for (size_t i = 0; i < sizeof SYMS / sizeof SYMS[0]; i++) {
        void *p = dlsym(lib, SYMS[i].name);
        if (!p) {
            snprintf(err, errlen,
                     "EXECUTOR=%s needs libcurl 7.66 or later: %s has no %s "
                     "(apt-get install libcurl4)",
                     who, CURL_SONAME, SYMS[i].name);
            dlclose(lib);
            return -1;
        }
        memcpy((char *)&t + SYMS[i].offset, &p, sizeof p); /* POSIX: same representation */
    }
    CURLcode rc = t.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot initialise libcurl: %s", t.easy_strerror(rc));
        return -1;
    }
    curl_dl = t;
    loaded = true;
    return 0;
}
