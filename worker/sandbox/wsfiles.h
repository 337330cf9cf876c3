/* A session's workspace seen from the host (oci backend; docker when the engine binds it):
 * files written, read and listed the way fs.h works, never following a link and never leaving
 * the workspace's file system, since the programs of the session own everything in it and may
 * have planted links, FIFOs or directories anywhere. Every path is relative to the workspace
 * and already checked by session_path_check; each component is opened with openat(O_NOFOLLOW)
 * from the one before, so a link swapped in at any moment is refused, not followed.
 *
 *   wsfiles_put(ws, path, data, len, uid, &e)    make path a regular file holding data: made
 *                                                (with missing directories, new ones owned by
 *                                                uid) or truncated; a link, FIFO or socket at
 *                                                its place is replaced (never followed), a
 *                                                directory refused; 0 or -1 (e)
 *   wsfiles_get(ws, path, max, &data, &len, &e)  read a regular file of at most max bytes
 *                                                (*data owned by the caller); 0 or -1 (e)
 *   wsfiles_list(ws, &files, &e)                 every entry below ws, sorted by path: a JSON
 *                                                array of {"path", "type" (file, directory,
 *                                                symlink, other), "size"}; at most
 *                                                WSFILES_LIST_MAX entries; 0 or -1 (e) */
#ifndef CR_SANDBOX_WSFILES_H
#define CR_SANDBOX_WSFILES_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "worker/executor.h"

#define WSFILES_LIST_MAX 10000

int wsfiles_put(const char *ws, const char *path, const char *data, size_t len, uid_t uid,
                exec_file_error *e);
int wsfiles_get(const char *ws, const char *path, size_t max, char **data, size_t *len,
                exec_file_error *e);
int wsfiles_list(const char *ws, json_t **files, exec_file_error *e);

#endif
