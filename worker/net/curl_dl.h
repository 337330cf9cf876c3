/* libcurl loaded at run time (dlopen "libcurl.so.4"), for the backends that speak HTTP (docker:
 * the Engine API; remote: executor hosts and EC2): the worker is not linked with libcurl, so its
 * supervisor and worker processes do not map libcurl and its TLS/Kerberos dependency chain
 * unless EXECUTOR is one of those. <curl/curl.h> gives the types and constants; the functions
 * are called through the curl_dl table.
 *
 * API:
 *   curl_dl_load(who, err, errlen)  load libcurl, resolve the functions, curl_global_init; once
 *                               per process (later calls return 0 at once); -1 with err (naming
 *                               EXECUTOR=who) if missing
 *   curl_dl.easy_perform(h)...  the functions, valid after curl_dl_load returned 0 */
#ifndef CR_CURL_DL_H
#define CR_CURL_DL_H

#include <curl/curl.h>
#include <stddef.h>

/* libcurl's functions the HTTP clients use. Filled by curl_dl_load, all or none, and
 * read-only afterwards. Each pointer has the prototype of <curl/curl.h> (variadic ones too). */
typedef struct curl_dl_api {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_free) *free;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_reset) *easy_reset;
    __typeof__(curl_easy_setopt) *easy_setopt;   /* CURLcode (CURL *, CURLoption, ...) */
    __typeof__(curl_easy_getinfo) *easy_getinfo; /* CURLcode (CURL *, CURLINFO, ...) */
    __typeof__(curl_easy_perform) *easy_perform;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_easy_escape) *easy_escape;
    __typeof__(curl_multi_init) *multi_init;
    __typeof__(curl_multi_cleanup) *multi_cleanup;
    __typeof__(curl_multi_add_handle) *multi_add_handle;
    __typeof__(curl_multi_remove_handle) *multi_remove_handle;
    __typeof__(curl_multi_perform) *multi_perform;
    __typeof__(curl_multi_poll) *multi_poll; /* libcurl 7.66 and later */
    __typeof__(curl_multi_info_read) *multi_info_read;
} curl_dl_api;

extern curl_dl_api curl_dl;

int curl_dl_load(const char *who, char *err, size_t errlen);

#endif
