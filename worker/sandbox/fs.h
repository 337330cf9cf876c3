/* Host-side file work of the local backends (oci, docker) that never follows a path a
 * sandboxed program could have planted: files are created with openat(O_NOFOLLOW|O_EXCL) in
 * freshly made directories, trees are removed with openat/unlinkat without following links or
 * crossing mounts.
 *
 *   fs_mount_workspace(dir, size_mb, uid, err, len)  mkdir dir and mount a size-capped tmpfs
 *                                                   owned by uid on it; 0/-1
 *   fs_write_new(dirfd, name, data, len, uid, err, elen)  create name in dirfd (must not exist),
 *                                                   write data, chown to uid; 0/-1
 *   fs_umount_below(path)   lazily unmount every mount at or below path
 *   fs_remove_tree(path)    unmount below path, then delete it (links are removed, not followed) */
#ifndef CR_SANDBOX_FS_H
#define CR_SANDBOX_FS_H

#include <stddef.h>
#include <sys/types.h>

int fs_mount_workspace(const char *dir, int size_mb, uid_t uid, char *err, size_t errlen);
int fs_write_new(int dirfd, const char *name, const char *data, size_t len, uid_t uid, char *err,
                 size_t errlen);
void fs_umount_below(const char *path);
void fs_remove_tree(const char *path);

#endif
