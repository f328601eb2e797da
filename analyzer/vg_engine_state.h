/* A host's engine state as one record, out and in (analyzer/vg_state_topic.c writes one per host
 * to the state topic; a new owner of the host's partition reads it). The record's layout is
 * described in vg_engine_state.c.
 */
#ifndef VG_ENGINE_STATE_H
#define VG_ENGINE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "vg_engine.h"

/* Checkpoints (analyzer/vg_state_topic.c). vg_engine_host_export() serialises everything the
 * engine knows of one host (its boot and last sequence number, its labels, every series'
 * detector and alert state, its rule and host_silent alerts, the samples its rules' windows
 * read) into a malloc'd record the caller frees, followed by the blobs given (the host's state
 * in other models, e.g. the host models of analyzer/vg_models.c): 0, -ENOENT or -ENOMEM.
 * vg_engine_host_import() makes the engine continue from such a record, replacing what it knew of
 * the host's series; a record of another detector model restores the alert states but its series
 * warm up again. Each blob is then handed to fn (NULL: skipped), whose failure is counted by the
 * caller, not an import failure (the engine's part stands). Export leaves headroom bytes
 * (uninitialised) before the record for the caller's header: *outlen counts them. Import returns 0,
 * or -EINVAL/-EPROTONOSUPPORT (corrupt record or unknown version) or -ENOMEM with err set. A record
 * is checked whole before anything changes (its structure, alert states, the detector's check of
 * each series' state), so a refused one leaves what the engine knew of the host as it was.
 *
 * flags VG_ENGINE_EXPORT_NO_DETECTOR leaves every series' detector state and the rule windows'
 * samples out (the record then reads as one of another model: the series warm up and the
 * windows fill again where it is imported, everything else moves). A series' detector state is most
 * of a record (about 29 KB a series with `seasonal`), so this is the smaller record the state topic
 * falls back to when the full one is larger than the topic takes. */
#define VG_ENGINE_EXPORT_NO_DETECTOR 1u
struct vg_engine_blob {
    const char *type; /* who it belongs to, e.g. a host model's name; up to 63 bytes */
    uint32_t version; /* its owner's format version */
    const unsigned char *data;
    size_t len;
};
typedef void (*vg_engine_blob_fn)(void *ud, const char *host, const struct vg_engine_blob *b);
int vg_engine_host_export(const struct vg_engine *e, const char *host,
                          const struct vg_engine_blob *blobs, size_t n_blobs, size_t headroom,
                          unsigned flags, unsigned char **out, size_t *outlen);
int vg_engine_host_import(struct vg_engine *e, const char *host, const unsigned char *buf,
                          size_t len, vg_engine_blob_fn fn, void *ud, char *err, size_t errlen);

#endif
