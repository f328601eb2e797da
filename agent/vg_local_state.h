/* The local guard's sent firing alerts on disk (agent/vg_local), so that an agent restarted
 * before they resolve still sends their resolves: the receiver of local alerts has no other
 * way to learn that an alert ended, and would keep it firing for good.
 *
 * One file (the agent keeps it as <spool.dir>/local-alerts), rewritten whole whenever the set
 * changes: written to PATH.tmp, fsync'd, renamed over PATH and the directory fsync'd, so a crash
 * leaves the old set or the new one. Little-endian (vg_bytes): the magic "VGLOCAL1", the CRC-32
 * and the length of the body, then the body: the host, the detector's name and state size, the
 * count, and per alert its series, fingerprint, start, last event time, last score and value, and
 * the series' detector state when it fits the file's bound (VG_LOCAL_STATE_MAX_BYTES). A file
 * that is not such a record, whole, is refused: nothing of it is trusted.
 */
#ifndef VG_LOCAL_STATE_H
#define VG_LOCAL_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_wire.h"

/* The file's name in spool.dir, where the agent keeps it. */
#define VG_LOCAL_STATE_FILE "local-alerts"

/* The file's bound. Alerts whose detector state would take it past this are kept without it
 * (they resume cold: warm-up, then their resolve); alerts that would not fit even so are left
 * out, which the writer reports. */
#define VG_LOCAL_STATE_MAX_BYTES (16u << 20)

/* Alerts a file holds at most: the upper bound of local.max_series (agent_config.c), as every
 * alert kept is a tracked series'. A file listing more was not written by the agent and is
 * refused, before anything is allocated for it. */
#define VG_LOCAL_STATE_MAX_ALERTS 1000000u

struct vg_local_saved {
    char series[VG_WIRE_NAME_MAX + 1];
    char fingerprint[17];
    int64_t starts_at_ms, seen_ms; /* event time: the alert's start, the series' last value */
    double score, value;           /* the series' last ones */
    /* Detector state, the set's det_size bytes; NULL: none. Owned by a set read from a file
     * (vg_local_state_free), borrowed in a set to be written. */
    void *det;
};

struct vg_local_saved_set {
    char host[VG_WIRE_HOST_MAX + 1];
    char detector[32];
    size_t det_size;
    struct vg_local_saved *v;
    size_t n;
};

/* Writes set to path as described above. Alerts beyond the bound are not written: *left_out
 * says how many (0 normally). 0, or negative errno with err naming the path. */
int vg_local_state_write(const char *path, const struct vg_local_saved_set *set, size_t *left_out,
                         char *err, size_t errlen);

/* Reads path into *out (owned by the caller, released with vg_local_state_free, also after a
 * failure). -ENOENT when there is no file; -EINVAL with err saying what is wrong for a file that
 * is not a whole, valid record (damaged, truncated, over the bound, not ours); another -errno
 * when it cannot be read. */
int vg_local_state_read(const char *path, struct vg_local_saved_set *out, char *err, size_t errlen);

void vg_local_state_free(struct vg_local_saved_set *set);

#endif
