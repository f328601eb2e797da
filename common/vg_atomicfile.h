/* Replacing a file's whole content so that a crash, a full disk or a failing write never leaves
 * it torn: the one implementation of "write a temp file, sync it, rename it over the target, sync
 * the directory" that state files and checkpoints use (the agent's local-alerts, the analyzer's
 * silences.file, model checkpoints, the embedded broker's bootstrap file).
 *
 * The data goes to PATH.tmp beside PATH (same directory, so the rename is atomic), created new
 * with O_EXCL after removing whatever is there: a temp file an earlier crash left, or a symlink,
 * FIFO or file someone who can write to the directory put there, is removed unused (never written
 * through, opened or kept). So PATH always ends up a new regular file of this process, with mode
 * less the umask (as open(2) gives it: a stricter umask, e.g. a unit's UMask=, narrows it), never
 * a leftover's mode or owner. Steps, and what a crash (of the process or the machine) during each
 * leaves:
 *   1. create PATH.tmp, write the data, fsync, close: PATH untouched (its old content, or no
 *      file); PATH.tmp may be left, partly written, until the next write removes it.
 *   2. rename PATH.tmp over PATH: from here every reader sees the new content, whole (it was
 *      synced in 1); after a machine crash before step 3 completes, either the old content or
 *      the new one, never a mix and never a missing PATH where one existed.
 *   3. fsync PATH's directory: the new content survives a crash.
 * On a failure in 1 or 2 the temp file is removed and PATH is as it was.
 * Writes of one path must not run concurrently (they share PATH.tmp): the callers serialise them,
 * and two processes must not be given one path (two analyzers given one bootstrap file or
 * silences.file). If they are anyway, a writer whose PATH.tmp another one removed or replaced
 * fails with a message saying so ("removed or replaced while it was written", or "re-created each
 * time it was removed") instead of renaming the other's unfinished file. This is not a lock: a
 * removal and re-creation landing between a writer's last check and its rename still go
 * unnoticed, and PATH then gets the other's file, possibly unfinished.
 */
#ifndef VG_ATOMICFILE_H
#define VG_ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

/* A failed directory sync (step 3) returns 0 instead of its -errno: for callers that treat the
 * rename as the point of no return (the new content is in place and already acted on), where an
 * error would tell them the write did not happen when it did. Without the flag it is reported. */
#define VG_ATOMICFILE_DIRSYNC_BEST_EFFORT 1u

/* Replaces path's content with len bytes of data (data may be NULL when len is 0), in a new file
 * of mode less the umask. flags: 0 or VG_ATOMICFILE_DIRSYNC_BEST_EFFORT.
 * Returns 0, or -errno with err naming path and the step that failed (TMP: PATH.tmp's base name;
 * PATH and TMP are cut in their middle, "...", where the whole message would not fit in errlen,
 * so that the step and the cause always do):
 *   "path too long (N bytes): PATH..."            (-ENAMETOOLONG; nothing done)
 *   "PATH: removing the leftover TMP: ..."        (step 1: something at TMP that cannot be
 *   "PATH: creating TMP: ..."                      removed, e.g. a directory (EISDIR); the
 *   "PATH: writing TMP: ..."                       directory is missing, not a directory, not
 *   "PATH: syncing TMP: ..."                       writable, the disk is full; another writer
 *   "PATH: closing TMP: ..."                       of PATH (-EEXIST, -EBUSY: see above); PATH
 *   "PATH: TMP was removed or replaced while it    untouched, no temp file of ours left)
 *    was written (another writer of this path?)"
 *   "PATH: renaming TMP over it: ..."             (step 2: PATH untouched, no temp file left)
 *   "PATH: replaced, but syncing its directory failed (a crash may bring the old content
 *    back): ..."                                  (step 3: PATH holds the new content) */
int vg_atomicfile_write(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                        char *err, size_t errlen);

#endif
