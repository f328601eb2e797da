/* Checkpoint files: versioned, checksummed containers of tagged sections.
 *
 *   header   "VIGILCKP" magic (8), u32 format version, u32 kind length, kind (e.g. "vg_mv")
 *   sections u32 tag, u64 length, payload          (repeated)
 *   trailer  u32 "END!" tag, u64 0, u32 CRC-32 (IEEE) of every byte before it
 *
 * Integers are little-endian. A file is written to PATH.tmp, fsync()ed and renamed over PATH, so
 * a crash leaves the old checkpoint or the new one, never half of one. A reader loads the whole
 * file and checks magic, version, kind, checksum and every section length before anything is
 * used; each failure has its own message.
 */
#ifndef VG_CKPT_H
#define VG_CKPT_H

#include <stddef.h>
#include <stdint.h>

#define VG_CKPT_VERSION 1

/* Section tags: four ASCII characters. */
#define VG_CKPT_TAG(a, b, c, d)                                                                    \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

struct vg_ckpt_w;
struct vg_ckpt_r;

/* Starts a checkpoint in memory. Free with vg_ckpt_w_free() (after commit or instead of it). */
int vg_ckpt_w_new(struct vg_ckpt_w **out, const char *kind);
/* Appends a section; data may be NULL when len is 0. Returns 0 or -ENOMEM. */
int vg_ckpt_w_add(struct vg_ckpt_w *w, uint32_t tag, const void *data, size_t len);
/* Writes trailer and file atomically (vg_atomicfile_write: tmp + fsync + rename, the directory
 * synced best effort); 0 or -errno with err naming path and the step that failed. */
int vg_ckpt_w_commit(struct vg_ckpt_w *w, const char *path, char *err, size_t errlen);
void vg_ckpt_w_free(struct vg_ckpt_w *w);

/* A checkpoint file larger than this is refused unread (-EFBIG): the largest group (16,384
 * hosts x 512 metrics) writes well under 2 GiB. */
#define VG_CKPT_MAX_FILE (8ull << 30)

/* Reads and checks a checkpoint file of the given kind. Messages (prefixed by the path):
 * "not a regular file", "more than a checkpoint of the largest group", "not a Vigil checkpoint",
 * "truncated", "checksum mismatch (corrupt)", "format version N not supported (this build reads
 * 1)", "holds a 'X', not a 'Y'". Free with vg_ckpt_r_free(). */
int vg_ckpt_r_open(struct vg_ckpt_r **out, const char *path, const char *kind, char *err,
                   size_t errlen);
/* Same, from a buffer (copied), for tests and fuzzing; name is used in messages. */
int vg_ckpt_r_open_mem(struct vg_ckpt_r **out, const void *buf, size_t len, const char *name,
                       const char *kind, char *err, size_t errlen);
/* The next section with this tag after the previous one returned for it (sections of one tag are
 * read in the order written). Returns 0 with *data/len, or -ENOENT with a message. */
int vg_ckpt_r_get(struct vg_ckpt_r *r, uint32_t tag, const void **data, size_t *len, char *err,
                  size_t errlen);
/* Same, requiring exactly len bytes; copies them to dst. */
int vg_ckpt_r_read(struct vg_ckpt_r *r, uint32_t tag, void *dst, size_t len, char *err,
                   size_t errlen);
const char *vg_ckpt_r_name(const struct vg_ckpt_r *r);
void vg_ckpt_r_free(struct vg_ckpt_r *r);

uint32_t vg_ckpt_crc32(uint32_t crc, const void *buf, size_t len);

#endif
