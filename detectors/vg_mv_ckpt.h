/* vg_mv's state in and out: checkpoints of a whole model (versioned, checksummed, through
 * vg_ckpt) and one host's state to move it to another analyzer. Both check every value they
 * take against the bounds the model itself writes, since a file or record with a good checksum
 * can still hold values that would turn the whole group's scores to NaN.
 */
#ifndef VG_MV_CKPT_H
#define VG_MV_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "vg_ckpt.h"
#include "vg_mv.h"

/* Appends the model (parameters, weights, optimiser and every host's state) to a checkpoint. */
int vg_mv_save(const struct vg_mv *mv, struct vg_ckpt_w *w, char *err, size_t errlen);
/* Rebuilds a model from a checkpoint's sections on backend k into *out, which the caller owns
 * (vg_mv_free). Refuses (-EINVAL, message) a model whose shape differs from want when want is
 * non-NULL, and values outside what the model writes. had (may be NULL): the parameters the file
 * was written with (the tunables, top_k among them, follow want). */
int vg_mv_load(struct vg_mv **out, struct vg_ckpt_r *r, const struct vg_mv_params *want,
               struct vg_mv_params *had, struct vg_k *k, char *err, size_t errlen);

/* One host's own state (normaliser, residual scales, window, age), to move it into another model
 * of the same shape (scale-out: analyzer/vg_fleet.c). vg_mv_host_floats() floats go in and out;
 * phase is the exporter's tick phase, so the importer can turn the window ring to its own.
 * get: 0, -ENOENT or a backend failure. set: 0, -EINVAL (bad id or phase, or a value outside
 * what the normaliser writes: one NaN in a window would reach the whole group's weights), -ENOMEM
 * or a backend failure; messages in err. */
size_t vg_mv_host_floats(const struct vg_mv *mv);
/* The model.window a host row of n_floats floats was written under, with this model's metrics
 * (and kind); 0 when no window gives that size. */
uint32_t vg_mv_host_floats_window(const struct vg_mv *mv, size_t n_floats);
int vg_mv_host_get(const struct vg_mv *mv, uint32_t id, float *out, uint32_t *age, uint32_t *phase,
                   char *err, size_t errlen);
int vg_mv_host_set(struct vg_mv *mv, uint32_t id, const float *in, uint32_t age, uint32_t phase,
                   char *err, size_t errlen);
/* One-model files: vg_ckpt_w_open + vg_mv_save + vg_ckpt_w_commit, and the reverse (the caller
 * owns *out, as with vg_mv_load). */
int vg_mv_save_file(const struct vg_mv *mv, const char *path, char *err, size_t errlen);
int vg_mv_load_file(struct vg_mv **out, const char *path, const struct vg_mv_params *want,
                    struct vg_k *k, char *err, size_t errlen);

#endif
