/* vg_fleet's checkpoints: one file per group, DIR/<group>.ckpt (kind "vg_fleet"): the group's
 * name, metric and host names, its vg_mv model (vg_mv_ckpt.h) and, with host_score, every host's
 * vg_hscore state. What is refused and why: docs/detectors.md, "Checkpoints".
 */
#ifndef VG_FLEET_CKPT_H
#define VG_FLEET_CKPT_H

#include "vg_fleet.h"

/* Writes every group's checkpoint into the directory. Returns 0 or the first error. */
int vg_fleet_save(struct vg_fleet *f, char *err, size_t errlen);

/* Loads every DIR/\*.ckpt; refused files are logged (warn) and counted, not fatal. Returns the
 * number of groups resumed, or a negative code when the directory cannot be read. */
int vg_fleet_load(struct vg_fleet *f, char *err, size_t errlen);

/* Removes DIR/<group>.ckpt, if there is one, for a group freed when its last host left: a
 * checkpoint is of a live group, and one left behind would bring the group back, with hosts that
 * no longer report, at every start. Returns 0 (also without a directory or a file) or -errno. */
int vg_fleet_ckpt_remove(const struct vg_fleet *f, const char *group);

#endif
