#include "vg_engine_state.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_bytes.h"
#include "vg_engine_int.h"
#include "vg_log.h"
#include "vg_util.h"
#include "vg_wire.h"

/* A host's state record (checkpoints, analyzer/vg_state_topic.c).
 *
 * Record, all integers little-endian:
 *   "VGHS" u32 version(1)
 *   str boot, u64 last_seq, i64 last_ts_ms, u8 have_seq, f64 max_score
 *   str detector model, u32 detector state size
 *   u32 n_series, each: str name, f64 value, f64 score, u8 warm,
 *       u8 alert state, i64 pending_since, i64 firing_since, i64 below_since,
 *       detector state bytes (the size above)
 *   u32 n_blobs, each: str type, u32 version, u32 len, bytes   (other models' state, handed to
 *       the importer's callback; an unknown type is its to skip, so a newer writer's extra
 *       models do not break an older reader)
 * where str is u16 length + bytes.
 *
 * The engine's own rule alerts travel as one more blob, type "rules" (RULES_VERSION), so that a
 * reader from before it skips them like any unknown model: u32 n, each: str rule name, u8 state,
 * i64 active_since, fired_at, last_true, resolved_at, last_ts, str vg_engine_fingerprint, u32
 * n_labels, each str key, str value. Only pending and firing alerts are written: the others are the
 * same as a fresh state. Without them a rule firing when its host moved would never be resolved by
 * the new owner, which starts it inactive. */

#define HS_MAGIC   "VGHS"
#define HS_VERSION 1

#define RULES_BLOB    "rules"
#define RULES_VERSION 1

/* The engine's own part of a host that no series holds, as one more blob ("engine.host", skipped
 * like an unknown model by a reader from before it): the host's labels (its alerts are stated
 * with them, and a moved host may send nothing more), its interval, its host_silent alert, and
 * what each firing rule alert fired with (so that it is stated again with the same annotations):
 * u32 n_labels, each str key, str value; i64 interval_ms; i64 silent_since (0: not firing), i64
 * the wall clock of its last message then; u32 n, each: str rule name, f64 value, f64 score, str
 * top_metrics. */
#define HOST_BLOB    "engine.host"
#define HOST_VERSION 1

/* The samples rule window functions (avg_over and the like) read, as one more blob
 * ("engine.hist", skipped by a reader from before it), so that a moved host's windows are as
 * full at the new owner as they were: u32 n, each: str series name, u32 count, then count x (i64
 * event time, f64 value), oldest first. Only series with samples are written; with the detector
 * states, the state topic leaves it out of a record too large for the topic. */
#define HIST_BLOB    "engine.hist"
#define HIST_VERSION 1
/* A series keeps the samples of the longest window; more than this per series in a record is
 * damage, not history (one a second over a day is 86 400). */
#define HIST_MAX_SAMPLES (1u << 20)

/* The host's boots before its current one and the last seq processed of each, most recent
 * first, as one more blob ("engine.boots", skipped by a reader from before it), so that a
 * redelivery spanning a reboot is still known as one at the host's next owner
 * (vg_engine_process): u32 n, each: str boot, u64 last_seq. Written when there is one. */
#define BOOTS_BLOB    "engine.boots"
#define BOOTS_VERSION 1
/* More in a record is damage, not history (a reader keeps its VG_ENGINE_PAST_BOOTS first). */
#define BOOTS_MAX 1024

/* The metrics topic's partition count under which the host's key was last found to map to the
 * partition its record names, as one more blob ("engine.key", skipped by a reader from before
 * it): u32 count (over 0; written when known). An analyzer that restores the host after
 * partitions were added, started since, knows only the new count; with this one it still tells a
 * host whose agent moved to another member's partition from a silent one (vg_engine.c's
 * moved_to). */
#define KEY_BLOB    "engine.key"
#define KEY_VERSION 1

/* What the dispatcher has not done for the host yet, as one more blob ("engine.notify", skipped
 * by a reader from before it): i64 cold_ms (the wall clock of the host's first message when it
 * started cold at the writer, 0: restored there), u32 n, each str fingerprint of a firing alert
 * whose firing notification was not handed to the receivers yet (group_wait, a silence). A
 * record without it (an older writer) takes every firing alert as notified, as that writer's
 * readers did; one of its alerts still inside its group_wait then gets no firing (the
 * dispatcher's adopt, docs/alerts.md). Written when there is something to say. */
#define NOTIFY_BLOB    "engine.notify"
#define NOTIFY_VERSION 1
/* A host has at most one firing alert per series, rule and host_silent: more is damage. */
#define NOTIFY_MAX 65536

/* How each firing rule alert was stated besides its labels, as one more blob ("engine.fired",
 * skipped by a reader from before it), so that a new owner whose rule set lacks the rule can
 * resolve the alert as the receivers know it (vg_engine_resolve_orphans): Alertmanager counts the
 * severity among an alert's labels, and the rule's actions chose its receivers. u32 n, each: str
 * rule name, str severity, u32 n_receivers, each str name, u32 n_annotations, each str key, str
 * value (rendered with what it fired with). */
#define FIRED_BLOB    "engine.fired"
#define FIRED_VERSION 1
/* A rule alert goes to at most this many receivers and states at most VG_WIRE_LABELS_MAX
 * annotations (vg_engine.c's rule_notify): more in a record is damage. */
#define FIRED_MAX_RECEIVERS   64
#define FIRED_MAX_ANNOTATIONS VG_WIRE_LABELS_MAX
/* rule_notify renders an annotation into this much. */
#define FIRED_ANNOTATION_MAX 2048

static void hs_gets(struct vg_br *r, char *dst, size_t dstlen);

/* Whether fp is the fingerprint of an alert of h that fires now: only those are written, so
 * that one whose resolve found the list out of step costs nothing at the next owner. */
static int fires_now(const struct vg_engine *e, const struct host *h, const char *fp)
{
    if (h->silent_since && strcmp(h->silent_fp, fp) == 0)
        return 1;
    for (size_t i = 0; e->rules && i < h->n_rs; i++)
        if (h->rs[i].st.state == VG_RULE_STATE_FIRING && strcmp(h->rs[i].fp, fp) == 0)
            return 1;
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (s && s->alert.state == VG_ALERT_FIRING && strcmp(s->fingerprint, fp) == 0)
            return 1;
    }
    return 0;
}

/* The "engine.notify" blob of h into a new buffer (*out, malloc'd, the caller frees; NULL and 0
 * when h started cold nowhere and every firing alert of it was notified). 0 or -ENOMEM. */
static int notify_export(const struct vg_engine *e, const struct host *h, unsigned char **out,
                         size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < h->n_unnotified; i++)
        n += fires_now(e, h, h->unnotified[i]);
    if (!n && !h->cold_ms)
        return 0;
    struct vg_bw b = {.p = malloc(12 + (size_t)n * 18), .cap = 12 + (size_t)n * 18};
    if (!b.p)
        return -ENOMEM;
    vg_bw_uint(&b, (uint64_t)h->cold_ms, 8);
    vg_bw_uint(&b, n, 4);
    for (uint32_t i = 0; i < h->n_unnotified; i++)
        if (fires_now(e, h, h->unnotified[i]))
            vg_bw_str16(&b, h->unnotified[i]);
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* Sets h's cold_ms and alerts not notified from an "engine.notify" blob; with h NULL, only checks
 * the blob. 0, -EINVAL, or -ENOMEM (h keeps those it took). */
static int notify_import(struct host *h, uint32_t version, const unsigned char *data, size_t len,
                         char *err, size_t errlen)
{
    if (version != NOTIFY_VERSION)
        return 0; /* a newer writer's: its alerts are taken as notified, as from an older one */
    struct vg_br r = {data, len, 0, 0};
    int64_t cold_ms = (int64_t)vg_br_uint(&r, 8);
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    if (r.bad || cold_ms < 0 || n > NOTIFY_MAX)
        return vg_err(err, errlen, -EINVAL, "alerts not notified: truncated or corrupt");
    if (h)
        h->cold_ms = cold_ms;
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        char fp[VG_RULE_FINGERPRINT_LEN];
        hs_gets(&r, fp, sizeof(fp));
        if (!r.bad && !fp[0])
            r.bad = 1;
        if (!r.bad && h && vg_engine_unnotified_add(h, fp) < 0)
            return vg_err(err, errlen, -ENOMEM, "alerts not notified: out of memory");
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "alerts not notified: truncated or corrupt");
    return 0;
}
/* The labels each firing built-in alert fired with, where the host's have changed since (struct
 * series' fired_labels), as one more blob ("engine.flabels", skipped by a reader from before it,
 * which states and resolves those alerts with the host's current labels): u32 n, each: str series
 * name, u32 n_labels, each str key, str value. Written when there is one. */
#define FLABELS_BLOB    "engine.flabels"
#define FLABELS_VERSION 1

/* The "rules" blob of h into a new buffer (*out, malloc'd, the caller frees; NULL and 0
 * when no alert of h is pending or firing). 0 or -ENOMEM. */
static int rules_export(const struct vg_engine *e, const struct host *h, unsigned char **out,
                        size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    uint32_t n = 0;
    for (size_t i = 0; i < h->n_rs; i++)
        n +=
            h->rs[i].st.state == VG_RULE_STATE_PENDING || h->rs[i].st.state == VG_RULE_STATE_FIRING;
    if (!n || !h->rs || !e->rules || h->n_rs != vg_rule_set_count(e->rules))
        return 0;
    struct vg_bw b = {.p = malloc(256), .cap = 256};
    if (!b.p)
        return -ENOMEM;
    vg_bw_uint(&b, n, 4);
    for (size_t i = 0; i < h->n_rs; i++) {
        const struct rstate *rs = &h->rs[i];
        if (rs->st.state != VG_RULE_STATE_PENDING && rs->st.state != VG_RULE_STATE_FIRING)
            continue;
        vg_bw_str16(&b, vg_rule_name(vg_rule_set_rule(e->rules, i)));
        vg_bw_uint(&b, (uint64_t)rs->st.state, 1);
        vg_bw_uint(&b, (uint64_t)rs->st.active_since, 8);
        vg_bw_uint(&b, (uint64_t)rs->st.fired_at, 8);
        vg_bw_uint(&b, (uint64_t)rs->st.last_true, 8);
        vg_bw_uint(&b, (uint64_t)rs->st.resolved_at, 8);
        vg_bw_uint(&b, (uint64_t)rs->st.last_ts, 8);
        vg_bw_str16(&b, rs->fp);
        vg_bw_uint(&b, rs->labels.n, 4);
        for (size_t k = 0; k < rs->labels.n; k++) {
            vg_bw_str16(&b, rs->labels.items[k].key);
            vg_bw_str16(&b, rs->labels.items[k].value);
        }
    }
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* The "engine.host" blob of h into a new buffer (*out, malloc'd, the caller frees). 0 or
 * -ENOMEM. */
static int host_blob_export(const struct vg_engine *e, const struct host *h, unsigned char **out,
                            size_t *outlen)
{
    struct vg_bw b = {.p = malloc(256), .cap = 256};
    if (!b.p)
        return -ENOMEM;
    vg_bw_uint(&b, h->labels.n, 4);
    for (size_t i = 0; i < h->labels.n; i++) {
        vg_bw_str16(&b, h->labels.items[i].key);
        vg_bw_str16(&b, h->labels.items[i].value);
    }
    vg_bw_uint(&b, (uint64_t)h->interval_ms, 8);
    vg_bw_uint(&b, (uint64_t)h->silent_since, 8);
    vg_bw_uint(&b, (uint64_t)(h->silent_since ? h->arrived_ms : 0), 8);
    int rules_fit = e->rules && h->rs && h->n_rs == vg_rule_set_count(e->rules);
    uint32_t n = 0;
    for (size_t i = 0; rules_fit && i < h->n_rs; i++)
        n += h->rs[i].st.state == VG_RULE_STATE_FIRING;
    vg_bw_uint(&b, n, 4);
    for (size_t i = 0; n && i < h->n_rs; i++) {
        const struct rstate *rs = &h->rs[i];
        if (rs->st.state != VG_RULE_STATE_FIRING)
            continue;
        vg_bw_str16(&b, vg_rule_name(vg_rule_set_rule(e->rules, i)));
        vg_bw_f64(&b, rs->fired_value);
        vg_bw_f64(&b, rs->fired_score);
        vg_bw_str16(&b, rs->fired_top ? rs->fired_top : "");
    }
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* The length of h's "engine.boots" blob (0: none, h has no past boot). */
static size_t boots_len(const struct host *h)
{
    size_t len = h->n_past ? 4 : 0;
    for (uint32_t i = 0; i < h->n_past; i++)
        len += 2 + strlen(h->past[i].boot) + 8;
    return len;
}

/* The length of h's "engine.flabels" blob (0: none, no firing alert kept its labels). */
static size_t flabels_len(const struct host *h)
{
    size_t len = 0;
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (!s || !s->fired_labels || s->alert.state != VG_ALERT_FIRING)
            continue;
        len += 2 + strlen(h->series.keys[i]) + 4;
        for (size_t k = 0; k < s->fired_labels->n; k++)
            len +=
                4 + strlen(s->fired_labels->items[k].key) + strlen(s->fired_labels->items[k].value);
    }
    return len ? len + 4 : 0;
}

/* Writes h's "engine.flabels" blob, type and all, when it has one. */
static void flabels_put(struct vg_bw *b, const struct host *h)
{
    size_t len = flabels_len(h);
    if (!len)
        return;
    uint32_t n = 0;
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        n += s && s->fired_labels && s->alert.state == VG_ALERT_FIRING;
    }
    vg_bw_str16(b, FLABELS_BLOB);
    vg_bw_uint(b, FLABELS_VERSION, 4);
    vg_bw_uint(b, len, 4);
    vg_bw_uint(b, n, 4);
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (!s || !s->fired_labels || s->alert.state != VG_ALERT_FIRING)
            continue;
        vg_bw_str16(b, h->series.keys[i]);
        vg_bw_uint(b, s->fired_labels->n, 4);
        for (size_t k = 0; k < s->fired_labels->n; k++) {
            vg_bw_str16(b, s->fired_labels->items[k].key);
            vg_bw_str16(b, s->fired_labels->items[k].value);
        }
    }
}

/* Writes h's "engine.boots" blob, type and all, when it has one. */
static void boots_put(struct vg_bw *b, const struct host *h)
{
    size_t len = boots_len(h);
    if (!len)
        return;
    vg_bw_str16(b, BOOTS_BLOB);
    vg_bw_uint(b, BOOTS_VERSION, 4);
    vg_bw_uint(b, len, 4);
    vg_bw_uint(b, h->n_past, 4);
    for (uint32_t i = 0; i < h->n_past; i++) {
        vg_bw_str16(b, h->past[i].boot);
        vg_bw_uint(b, h->past[i].last_seq, 8);
    }
}

/* The "engine.fired" blob of h (host) into a new buffer (*out, malloc'd, the caller frees; NULL
 * and 0 when no rule alert of h fires). 0 or -ENOMEM. */
static int fired_export(const struct vg_engine *e, const char *host, const struct host *h,
                        unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (!e->rules || !h->rs || h->n_rs != vg_rule_set_count(e->rules))
        return 0;
    uint32_t n = 0;
    for (size_t i = 0; i < h->n_rs; i++)
        n += h->rs[i].st.state == VG_RULE_STATE_FIRING;
    if (!n)
        return 0;
    struct vg_bw b = {.p = malloc(512), .cap = 512};
    char *text = malloc(FIRED_ANNOTATION_MAX);
    if (!b.p || !text) {
        free(b.p);
        free(text);
        return -ENOMEM;
    }
    vg_bw_uint(&b, n, 4);
    for (size_t i = 0; i < h->n_rs; i++) {
        const struct rstate *rs = &h->rs[i];
        if (rs->st.state != VG_RULE_STATE_FIRING)
            continue;
        const struct vg_rule *r = vg_rule_set_rule(e->rules, i);
        vg_bw_str16(&b, vg_rule_name(r));
        vg_bw_str16(&b, vg_rule_severity_name(vg_rule_severity(r)));
        size_t nr = vg_rule_action_count(r);
        nr = nr < FIRED_MAX_RECEIVERS ? nr : FIRED_MAX_RECEIVERS;
        vg_bw_uint(&b, nr, 4);
        for (size_t k = 0; k < nr; k++)
            vg_bw_str16(&b, vg_rule_action(r, k));
        size_t na = vg_rule_annotation_count(r);
        na = na < FIRED_MAX_ANNOTATIONS ? na : FIRED_MAX_ANNOTATIONS;
        struct vg_rule_result res;
        vg_engine_fired_result(rs, &res);
        vg_bw_uint(&b, na, 4);
        for (size_t k = 0; k < na; k++) {
            vg_rule_render_annotation(r, k, host, &rs->labels, &res, text, FIRED_ANNOTATION_MAX);
            vg_bw_str16(&b, vg_rule_annotation_name(r, k));
            vg_bw_str16(&b, text);
        }
    }
    free(text);
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* The "engine.hist" blob of h into a new buffer (*out, malloc'd, the caller frees; NULL and 0
 * when no series of h has samples). 0 or -ENOMEM. */
static int hist_export(const struct host *h, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    uint32_t n = 0;
    size_t bytes = 4;
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (s && s->hn) {
            n++;
            bytes += 2 + strlen(h->series.keys[i]) + 4 + (size_t)s->hn * 16;
        }
    }
    if (!n)
        return 0;
    struct vg_bw b = {.p = malloc(bytes), .cap = bytes};
    if (!b.p)
        return -ENOMEM;
    vg_bw_uint(&b, n, 4);
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (!s || !s->hn)
            continue;
        vg_bw_str16(&b, h->series.keys[i]);
        vg_bw_uint(&b, s->hn, 4);
        for (uint32_t k = 0; k < s->hn; k++) {
            const struct sample *x = &s->hist[(s->hhead + k) % s->hcap];
            vg_bw_uint(&b, (uint64_t)x->ts_ms, 8);
            vg_bw_f64(&b, x->v);
        }
    }
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

int vg_engine_host_export(const struct vg_engine *e, const char *host,
                          const struct vg_engine_blob *blobs, size_t n_blobs, size_t headroom,
                          unsigned flags, unsigned char **out, size_t *outlen)
{
    const struct host *h = vg_strmap_get(&e->hosts, host);
    if (!h)
        return -ENOENT;
    /* Sized once for the usual names (the state checkpoint exports every host each interval:
     * growing by doubling copied each record several times). */
    unsigned char *rules = NULL, *hb = NULL, *hist = NULL, *fired = NULL, *nb = NULL;
    size_t rules_len = 0, hb_len = 0, hist_len = 0, fired_len = 0, nb_len = 0;
    /* No model name and no state: the importer takes it as another model's record. */
    int with_det = !(flags & VG_ENGINE_EXPORT_NO_DETECTOR);
    if (rules_export(e, h, &rules, &rules_len) < 0)
        return -ENOMEM;
    if (host_blob_export(e, h, &hb, &hb_len) < 0 ||
        (with_det && hist_export(h, &hist, &hist_len) < 0) ||
        fired_export(e, host, h, &fired, &fired_len) < 0 || notify_export(e, h, &nb, &nb_len) < 0) {
        free(rules);
        free(hb);
        free(hist);
        free(fired);
        return -ENOMEM;
    }
    if (hist_len > UINT32_MAX) { /* not a record anyone could carry: windows fill again */
        free(hist);
        hist = NULL;
        hist_len = 0;
    }
    size_t det_size = with_det ? e->p.detector->state_size : 0;
    size_t guess = headroom + 256 + h->series.n * (48 + 40 + det_size) + rules_len + 80 + hb_len +
                   80 + fired_len + 80 + boots_len(h) + 80 + nb_len + 80 + flabels_len(h) + 80;
    for (size_t i = 0; i < n_blobs; i++)
        guess += 80 + blobs[i].len;
    struct vg_bw b = {.p = malloc(guess), .cap = guess, .len = headroom};
    if (!b.p) {
        free(rules);
        free(hb);
        free(hist);
        free(fired);
        free(nb);
        return -ENOMEM;
    }
    vg_bw_put(&b, HS_MAGIC, 4);
    vg_bw_uint(&b, HS_VERSION, 4);
    vg_bw_str16(&b, h->boot);
    vg_bw_uint(&b, h->last_seq, 8);
    vg_bw_uint(&b, (uint64_t)h->last_ts_ms, 8);
    vg_bw_uint(&b, (uint64_t)h->have_seq, 1);
    vg_bw_f64(&b, h->max_score);
    vg_bw_str16(&b, with_det ? e->p.detector->name : "");
    vg_bw_uint(&b, det_size, 4);
    vg_bw_uint(&b, h->series.n, 4);
    for (size_t i = 0; i < h->series.cap; i++) {
        if (!h->series.keys[i])
            continue;
        const struct series *s = h->series.vals[i];
        vg_bw_str16(&b, h->series.keys[i]);
        vg_bw_f64(&b, s->value);
        vg_bw_f64(&b, s->score);
        vg_bw_uint(&b, (uint64_t)s->warm, 1);
        vg_bw_uint(&b, (uint64_t)s->alert.state, 1);
        vg_bw_uint(&b, (uint64_t)s->alert.pending_since, 8);
        vg_bw_uint(&b, (uint64_t)s->alert.firing_since, 8);
        vg_bw_uint(&b, (uint64_t)s->alert.below_since, 8);
        vg_bw_put(&b, s->det, det_size);
    }
    vg_bw_uint(&b,
               n_blobs + (rules != NULL) + 1 + (hist != NULL) + (fired != NULL) + (h->n_past > 0) +
                   (h->keyed_parts > 0) + (nb != NULL) + (flabels_len(h) > 0),
               4);
    for (size_t i = 0; i < n_blobs; i++) {
        if (blobs[i].len > UINT32_MAX) {
            free(rules);
            free(hb);
            free(hist);
            free(fired);
            free(nb);
            free(b.p);
            return -EINVAL;
        }
        vg_bw_str16(&b, blobs[i].type);
        vg_bw_uint(&b, blobs[i].version, 4);
        vg_bw_uint(&b, blobs[i].len, 4);
        vg_bw_put(&b, blobs[i].data, blobs[i].len);
    }
    if (rules) {
        vg_bw_str16(&b, RULES_BLOB);
        vg_bw_uint(&b, RULES_VERSION, 4);
        vg_bw_uint(&b, rules_len, 4);
        vg_bw_put(&b, rules, rules_len);
        free(rules);
    }
    /* After the rules: its values go to the rule alerts they restored. */
    vg_bw_str16(&b, HOST_BLOB);
    vg_bw_uint(&b, HOST_VERSION, 4);
    vg_bw_uint(&b, hb_len, 4);
    vg_bw_put(&b, hb, hb_len);
    free(hb);
    if (hist) {
        vg_bw_str16(&b, HIST_BLOB);
        vg_bw_uint(&b, HIST_VERSION, 4);
        vg_bw_uint(&b, hist_len, 4);
        vg_bw_put(&b, hist, hist_len);
        free(hist);
    }
    if (fired) {
        vg_bw_str16(&b, FIRED_BLOB);
        vg_bw_uint(&b, FIRED_VERSION, 4);
        vg_bw_uint(&b, fired_len, 4);
        vg_bw_put(&b, fired, fired_len);
        free(fired);
    }
    boots_put(&b, h);
    if (h->keyed_parts > 0) {
        vg_bw_str16(&b, KEY_BLOB);
        vg_bw_uint(&b, KEY_VERSION, 4);
        vg_bw_uint(&b, 4, 4);
        vg_bw_uint(&b, (uint64_t)h->keyed_parts, 4);
    }
    if (nb) {
        vg_bw_str16(&b, NOTIFY_BLOB);
        vg_bw_uint(&b, NOTIFY_VERSION, 4);
        vg_bw_uint(&b, nb_len, 4);
        vg_bw_put(&b, nb, nb_len);
        free(nb);
    }
    flabels_put(&b, h);
    if (b.bad) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* Copies a str into dst (NUL-terminated, dstlen > 0); too long for dst is an error. */
static void hs_gets(struct vg_br *r, char *dst, size_t dstlen)
{
    size_t n = (size_t)vg_br_uint(r, 2);
    const unsigned char *p = vg_br_take(r, n);
    if (!p || n >= dstlen) {
        r->bad = 1;
        dst[0] = '\0';
        return;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
}

/* Keeps a firing alert of a rule e's set lacks (struct orphan) for vg_engine_resolve_orphans(),
 * taking labels over (freed on failure too); a second one of the same rule replaces the first.
 * 0 or -ENOMEM. */
static int orphan_add(struct vg_engine *e, struct host *h, const char *rule,
                      const struct vg_rule_state *st, const char *fp, struct vg_kvlist *labels)
{
    struct orphan *o = NULL;
    for (size_t i = 0; i < h->n_orphans && !o; i++)
        if (strcmp(h->orphans[i].rule, rule) == 0)
            o = &h->orphans[i];
    if (o) {
        vg_engine_rstate_forget_alert(&o->rs);
    } else {
        struct orphan *nv = realloc(h->orphans, (h->n_orphans + 1) * sizeof(*nv));
        char *name = nv ? strdup(rule) : NULL;
        if (nv)
            h->orphans = nv;
        if (!name) {
            vg_kvlist_free(labels);
            return -ENOMEM;
        }
        o = &h->orphans[h->n_orphans++];
        *o = (struct orphan){.rule = name};
        e->st.firing++; /* it fires until resolved: count_note takes it off */
    }
    o->rs.st = *st;
    o->rs.labels = *labels;
    *labels = (struct vg_kvlist){0};
    snprintf(o->rs.fp, sizeof(o->rs.fp), "%s", fp);
    return 0;
}

/* Restores h's pending and firing rule alerts from a "rules" blob, by rule name. A pending alert
 * of a rule this engine's set does not have is skipped (counted); a firing one is kept aside to be
 * resolved (orphan_add), as a reload that removed the rule would. A restored firing one resolves
 * here, with its vg_engine_fingerprint, when its condition stays false. With h NULL, only checks
 * the blob (the same messages), changing nothing. */
static int rules_import(struct vg_engine *e, struct host *h, uint32_t version,
                        const unsigned char *data, size_t len, char *err, size_t errlen)
{
    if (version != RULES_VERSION)
        return vg_err(err, errlen, -EPROTONOSUPPORT,
                      "rule alert states: version %u, this analyzer reads %d", version,
                      RULES_VERSION);
    if (h && vg_engine_host_fit_rules(e, h) < 0)
        return vg_err(err, errlen, -ENOMEM, "rule alert states: out of memory");
    struct vg_br r = {data, len, 0, 0};
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    char name[256], key[256], value[4096];
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        hs_gets(&r, name, sizeof(name));
        struct vg_rule_state st = {.state = (enum vg_rule_state_kind)vg_br_uint(&r, 1)};
        st.active_since = (int64_t)vg_br_uint(&r, 8);
        st.fired_at = (int64_t)vg_br_uint(&r, 8);
        st.last_true = (int64_t)vg_br_uint(&r, 8);
        st.resolved_at = (int64_t)vg_br_uint(&r, 8);
        st.last_ts = (int64_t)vg_br_uint(&r, 8);
        char fp[VG_RULE_FINGERPRINT_LEN];
        hs_gets(&r, fp, sizeof(fp));
        uint32_t nl = (uint32_t)vg_br_uint(&r, 4);
        if (r.bad || (st.state != VG_RULE_STATE_PENDING && st.state != VG_RULE_STATE_FIRING))
            return vg_err(err, errlen, -EINVAL, "rule alert states: truncated or corrupt");
        if (nl > VG_RULE_ALERT_LABELS_MAX)
            return vg_err(err, errlen, -EINVAL,
                          "rule alert states: rule %s: %u labels, an alert carries at most %d",
                          name, nl, VG_RULE_ALERT_LABELS_MAX);
        struct vg_kvlist labels = {0};
        for (uint32_t k = 0; k < nl && !r.bad; k++) {
            hs_gets(&r, key, sizeof(key));
            hs_gets(&r, value, sizeof(value));
            if (!r.bad && vg_kvlist_set(&labels, key, value) < 0) {
                vg_kvlist_free(&labels);
                return vg_err(err, errlen, -ENOMEM, "rule alert states: out of memory");
            }
        }
        if (r.bad) {
            vg_kvlist_free(&labels);
            return vg_err(err, errlen, -EINVAL, "rule alert states: truncated or corrupt");
        }
        if (!h) {
            vg_kvlist_free(&labels);
            continue;
        }
        size_t at = 0;
        while (at < h->n_rs && strcmp(vg_rule_name(vg_rule_set_rule(e->rules, at)), name) != 0)
            at++;
        if (at == h->n_rs && st.state == VG_RULE_STATE_FIRING) {
            if (orphan_add(e, h, name, &st, fp, &labels) < 0)
                return vg_err(err, errlen, -ENOMEM, "rule alert states: out of memory");
            continue;
        }
        if (at == h->n_rs) {
            e->st.rule_states_skipped++;
            vg_kvlist_free(&labels);
            continue;
        }
        struct rstate *rs = &h->rs[at];
        if (rs->st.state == VG_RULE_STATE_FIRING && e->st.firing)
            e->st.firing--;
        vg_engine_rstate_forget_alert(rs);
        rs->st = st;
        rs->labels = labels;
        snprintf(rs->fp, sizeof(rs->fp), "%s", fp);
        if (st.state == VG_RULE_STATE_FIRING)
            e->st.firing++;
        e->st.rule_states_restored++;
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "rule alert states: truncated or corrupt");
    return 0;
}

/* Restores h's labels, host_silent alert and what its firing rule alerts fired with from an
 * "engine.host" blob (after its "rules" blob). With h NULL, only checks the blob. */
static int host_blob_import(struct vg_engine *e, const char *host, struct host *h, uint32_t version,
                            const unsigned char *data, size_t len, char *err, size_t errlen)
{
    if (version != HOST_VERSION)
        return vg_err(err, errlen, -EPROTONOSUPPORT,
                      "host state: version %u, this analyzer reads %d", version, HOST_VERSION);
    struct vg_br r = {data, len, 0, 0};
    char key[VG_WIRE_NAME_MAX + 1], value[VG_WIRE_LABEL_VALUE_MAX + 1], name[256];
    struct vg_kvlist labels = {0};
    uint32_t nl = (uint32_t)vg_br_uint(&r, 4);
    if (!r.bad && nl > VG_WIRE_LABELS_MAX)
        return vg_err(err, errlen, -EINVAL, "host state: %u labels, a message carries at most %d",
                      nl, VG_WIRE_LABELS_MAX);
    for (uint32_t i = 0; i < nl && !r.bad; i++) {
        hs_gets(&r, key, sizeof(key));
        hs_gets(&r, value, sizeof(value));
        /* Exactly what the decoder lets in: a tab in a label value arrived in a message, so
         * the host's own record must not be refused for it. */
        if (!r.bad && vg_wire_label_valid(key, value) != 0) {
            vg_kvlist_free(&labels);
            return vg_err(err, errlen, -EINVAL, "host state: a label the wire format refuses");
        }
        if (!r.bad && h && vg_kvlist_set(&labels, key, value) < 0) {
            vg_kvlist_free(&labels);
            return vg_err(err, errlen, -ENOMEM, "host state: out of memory");
        }
    }
    int64_t interval = (int64_t)vg_br_uint(&r, 8);
    int64_t silent_since = (int64_t)vg_br_uint(&r, 8);
    int64_t arrived = (int64_t)vg_br_uint(&r, 8);
    if (r.bad || interval < 0 || silent_since < 0 || arrived < 0) {
        vg_kvlist_free(&labels);
        return vg_err(err, errlen, -EINVAL, "host state: truncated or corrupt");
    }
    if (h) {
        vg_kvlist_free(&h->labels);
        h->labels = labels;
        h->interval_ms = interval;
        if (silent_since) {
            h->silent_since = silent_since;
            h->arrived_ms = arrived ? arrived : silent_since;
            vg_engine_fingerprint(h->silent_fp, host, ":" VG_ENGINE_SILENT_ALERT);
            e->st.firing++;
            e->st.hosts_silent++;
        }
    }
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        hs_gets(&r, name, sizeof(name));
        double v = vg_br_f64(&r), sc = vg_br_f64(&r);
        struct vg_rule_result top;
        hs_gets(&r, top.top_metrics, sizeof(top.top_metrics));
        if (r.bad || !h || !e->rules)
            continue;
        for (size_t k = 0; k < h->n_rs && k < vg_rule_set_count(e->rules); k++) {
            struct rstate *rs = &h->rs[k];
            if (rs->st.state != VG_RULE_STATE_FIRING ||
                strcmp(vg_rule_name(vg_rule_set_rule(e->rules, k)), name) != 0)
                continue;
            rs->fired_value = v;
            rs->fired_score = sc;
            free(rs->fired_top);
            rs->fired_top = top.top_metrics[0] ? strdup(top.top_metrics) : NULL;
        }
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "host state: truncated or corrupt");
    return 0;
}

/* Gives h's orphans (firing alerts of rules e's set lacks, after its "rules" blob) the severity,
 * receivers and annotations their old owner stated them with, from an "engine.fired" blob; the
 * alerts of rules e has are stated by e's own rules, and skipped. With h NULL, only checks the
 * blob. */
static int fired_import(struct host *h, uint32_t version, const unsigned char *data, size_t len,
                        char *err, size_t errlen)
{
    if (version != FIRED_VERSION)
        return 0; /* a newer writer's: such an alert is resolved without it, as from an older one */
    struct vg_br r = {data, len, 0, 0};
    char name[256], severity[32], recv[64], key[256];
    char *value = malloc(FIRED_ANNOTATION_MAX);
    if (!value)
        return vg_err(err, errlen, -ENOMEM, "rule alert statements: out of memory");
    int rc = 0;
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad && !rc; i++) {
        hs_gets(&r, name, sizeof(name));
        hs_gets(&r, severity, sizeof(severity));
        struct orphan *o = NULL;
        for (size_t k = 0; h && !r.bad && k < h->n_orphans && !o; k++)
            if (strcmp(h->orphans[k].rule, name) == 0)
                o = &h->orphans[k];
        if (o) { /* a rule named twice: the later one states it */
            free(o->severity);
            vg_kvlist_free(&o->annotations);
            for (size_t k = 0; k < o->n_receivers; k++)
                free(o->receivers[k]);
            free(o->receivers);
            o->receivers = NULL;
            o->n_receivers = 0;
            if (!(o->severity = strdup(severity)))
                rc = -ENOMEM;
        }
        uint32_t nr = (uint32_t)vg_br_uint(&r, 4);
        if (!r.bad && nr > FIRED_MAX_RECEIVERS)
            r.bad = 1;
        if (!r.bad && !rc && o && nr && !(o->receivers = calloc(nr, sizeof(char *))))
            rc = -ENOMEM;
        for (uint32_t k = 0; k < nr && !r.bad && !rc; k++) {
            hs_gets(&r, recv, sizeof(recv));
            if (!r.bad && o && !(o->receivers[o->n_receivers++] = strdup(recv)))
                rc = -ENOMEM;
        }
        uint32_t na = (uint32_t)vg_br_uint(&r, 4);
        if (!r.bad && na > FIRED_MAX_ANNOTATIONS)
            r.bad = 1;
        for (uint32_t k = 0; k < na && !r.bad && !rc; k++) {
            hs_gets(&r, key, sizeof(key));
            hs_gets(&r, value, FIRED_ANNOTATION_MAX);
            if (!r.bad && o && vg_kvlist_set(&o->annotations, key, value) < 0)
                rc = -ENOMEM;
        }
    }
    free(value);
    if (rc)
        return vg_err(err, errlen, rc, "rule alert statements: out of memory");
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "rule alert statements: truncated or corrupt");
    return 0;
}

/* Refills the rule windows of h's series from an "engine.hist" blob (after the series are
 * restored); a series h lacks is skipped. With h NULL, only checks the blob. */
static int hist_import(struct vg_engine *e, struct host *h, uint32_t version,
                       const unsigned char *data, size_t len, char *err, size_t errlen)
{
    if (version != HIST_VERSION)
        return 0; /* a newer writer's: the windows fill again, as before this blob */
    struct vg_br r = {data, len, 0, 0};
    char name[VG_WIRE_NAME_MAX + 1];
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        hs_gets(&r, name, sizeof(name));
        uint32_t count = (uint32_t)vg_br_uint(&r, 4);
        if (r.bad || count > HIST_MAX_SAMPLES || count > (r.len - r.off) / 16)
            return vg_err(err, errlen, -EINVAL, "rule window history: truncated or corrupt");
        struct series *s = h ? vg_strmap_get(&h->series, name) : NULL;
        if (s && !vg_engine_series_windowed(e, s, name))
            s = NULL;
        if (s)
            s->hhead = s->hn = 0;
        int64_t prev = INT64_MIN;
        for (uint32_t k = 0; k < count; k++) {
            int64_t ts = (int64_t)vg_br_uint(&r, 8);
            double v = vg_br_f64(&r);
            /* In order and finite, as hist_push keeps them: a window reads them as written. */
            if (ts < prev || !isfinite(v))
                return vg_err(err, errlen, -EINVAL,
                              "rule window history of %s: sample %u out of order or not finite",
                              name, k);
            prev = ts;
            if (s && vg_engine_hist_push(s, ts, v, e->window_ms) < 0)
                return vg_err(err, errlen, -ENOMEM, "rule window history: out of memory");
        }
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "rule window history: truncated or corrupt");
    return 0;
}

/* Sets h's past boots from an "engine.boots" blob; with h NULL, only checks the blob. */
static int boots_import(struct host *h, uint32_t version, const unsigned char *data, size_t len,
                        char *err, size_t errlen)
{
    if (version != BOOTS_VERSION)
        return 0; /* a newer writer's: only the current boot's redeliveries are known, as before */
    struct vg_br r = {data, len, 0, 0};
    uint32_t n = (uint32_t)vg_br_uint(&r, 4), kept = 0;
    if (n > BOOTS_MAX)
        return vg_err(err, errlen, -EINVAL, "past boots: %u of them", n);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        char boot[VG_WIRE_BOOT_MAX + 1];
        hs_gets(&r, boot, sizeof(boot));
        uint64_t seq = vg_br_uint(&r, 8);
        if (r.bad || !h || kept == VG_ENGINE_PAST_BOOTS)
            continue;
        snprintf(h->past[kept].boot, sizeof(h->past[kept].boot), "%s", boot);
        h->past[kept++].last_seq = seq;
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "past boots: truncated or corrupt");
    if (h)
        h->n_past = kept;
    return 0;
}

/* Sets h's keyed_parts from an "engine.key" blob; with h NULL, only checks the blob. */
static int key_import(struct host *h, uint32_t version, const unsigned char *data, size_t len,
                      char *err, size_t errlen)
{
    if (version != KEY_VERSION)
        return 0; /* a newer writer's: judged by the counts this analyzer knows, as before */
    struct vg_br r = {data, len, 0, 0};
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    if (r.bad || r.off != r.len || n == 0 || n > INT32_MAX)
        return vg_err(err, errlen, -EINVAL, "key partition count: truncated or corrupt");
    if (h)
        h->keyed_parts = (int32_t)n;
    return 0;
}

/* Gives h's firing built-in alerts the labels they fired with from an "engine.flabels" blob (after
 * the series are restored); a series h lacks, or whose alert does not fire, is skipped. With h
 * NULL, only checks the blob. */
static int flabels_import(struct host *h, uint32_t version, const unsigned char *data, size_t len,
                          char *err, size_t errlen)
{
    if (version != FLABELS_VERSION)
        return 0; /* a newer writer's: stated with the host's labels, as before this blob */
    struct vg_br r = {data, len, 0, 0};
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        char name[VG_WIRE_NAME_MAX + 1];
        hs_gets(&r, name, sizeof(name));
        uint32_t nl = (uint32_t)vg_br_uint(&r, 4);
        if (nl > VG_WIRE_LABELS_MAX)
            return vg_err(err, errlen, -EINVAL,
                          "fired labels: series %s: %u labels, a message carries at most %d", name,
                          nl, VG_WIRE_LABELS_MAX);
        struct series *s = h && !r.bad ? vg_strmap_get(&h->series, name) : NULL;
        if (s && s->alert.state != VG_ALERT_FIRING)
            s = NULL;
        struct vg_kvlist *l = s ? calloc(1, sizeof(*l)) : NULL;
        if (s && !l)
            return vg_err(err, errlen, -ENOMEM, "fired labels: out of memory");
        for (uint32_t k = 0; k < nl && !r.bad; k++) {
            char key[VG_WIRE_NAME_MAX + 1], value[VG_WIRE_LABEL_VALUE_MAX + 1];
            hs_gets(&r, key, sizeof(key));
            hs_gets(&r, value, sizeof(value));
            if (!r.bad && l && vg_kvlist_set(l, key, value) < 0) {
                vg_kvlist_free(l);
                free(l);
                return vg_err(err, errlen, -ENOMEM, "fired labels: out of memory");
            }
        }
        if (l && r.bad) {
            vg_kvlist_free(l);
            free(l);
        } else if (l) {
            vg_engine_series_forget_labels(s);
            s->fired_labels = l;
        }
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "fired labels: truncated or corrupt");
    return 0;
}

/* One series of a host record, as read; det points into the record. */
struct hs_entry {
    char name[VG_WIRE_NAME_MAX + 1];
    double value, score;
    int warm;
    struct vg_alert alert;
    const unsigned char *det;
};

static void hs_read_entry(struct vg_br *r, size_t state_size, struct hs_entry *s)
{
    hs_gets(r, s->name, sizeof(s->name));
    s->value = vg_br_f64(r);
    s->score = vg_br_f64(r);
    s->warm = (int)vg_br_uint(r, 1);
    s->alert = (struct vg_alert){.state = (enum vg_alert_state)vg_br_uint(r, 1)};
    s->alert.pending_since = (int64_t)vg_br_uint(r, 8);
    s->alert.firing_since = (int64_t)vg_br_uint(r, 8);
    s->alert.below_since = (int64_t)vg_br_uint(r, 8);
    s->det = vg_br_take(r, state_size);
}

/* One model's blob of a host record, as read; data points into the record. */
struct hs_blob {
    char type[64];
    uint32_t version;
    const unsigned char *data;
    size_t len;
};

static void hs_read_blob(struct vg_br *r, struct hs_blob *b)
{
    hs_gets(r, b->type, sizeof(b->type));
    b->version = (uint32_t)vg_br_uint(r, 4);
    b->len = (size_t)vg_br_uint(r, 4);
    b->data = vg_br_take(r, b->len);
}

/* How a record's detector states seed this engine's: not at all (another model: its series
 * start cold), copied byte for byte, or adopted from an earlier version's layout of this model
 * (vg_detector.adopt). */
enum det_use { DET_COLD, DET_SAME, DET_ADOPT };

/* Whether the model's adopt() knows states of old_size bytes (a size the record states: asked
 * before anything of that size is allocated or read). */
static int adopts(const struct vg_detector *d, size_t old_size)
{
    return d->adopt && d->adopt(NULL, NULL, old_size) == 0;
}

/* Reads a record's series and blobs (r at its first series) without changing anything, so that
 * a corrupt record is refused whole, before it replaces what the engine knew of the host. The
 * detector states of this engine's model are checked by the model (vg_detector.check): they are
 * copied in byte for byte, and their counts index arrays. */
static int import_check(const struct vg_engine *e, const char *host, struct vg_br r, uint32_t n,
                        size_t state_size, enum det_use use, char *err, size_t errlen)
{
    char why[VG_ERRLEN];
    const struct vg_detector *d = e->p.detector;
    /* The record's bytes are unaligned; a model reads its state as its struct. */
    int checked = use != DET_COLD && d->check;
    size_t sz = use == DET_ADOPT ? d->state_size : state_size;
    void *scratch = checked ? malloc(sz ? sz : 1) : NULL;
    if (checked && !scratch)
        return vg_err(err, errlen, -ENOMEM, "host state of %s: out of memory", host);
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        struct hs_entry s;
        hs_read_entry(&r, state_size, &s);
        if (r.bad)
            rc =
                vg_err(err, errlen, -EINVAL, "host state of %s: truncated or corrupt series", host);
        else if (vg_wire_name_valid(s.name) != 0)
            rc = vg_err(err, errlen, -EINVAL,
                        "host state of %s: a series name the wire format "
                        "refuses",
                        host);
        else if (s.alert.state > VG_ALERT_FIRING)
            rc = vg_err(err, errlen, -EINVAL, "host state of %s: series %s: alert state %u unknown",
                        host, s.name, (unsigned)s.alert.state);
        else if (scratch) {
            if (use == DET_ADOPT) {
                d->init(scratch);
                d->adopt(scratch, s.det, state_size);
            } else {
                memcpy(scratch, s.det, state_size);
            }
            if (d->check(scratch, why, sizeof(why)) < 0)
                rc = vg_err(err, errlen, -EINVAL, "host state of %s: series %s: %s detector: %s",
                            host, s.name, d->name, why);
        }
    }
    free(scratch);
    if (rc)
        return rc;
    uint32_t n_blobs = (uint32_t)vg_br_uint(&r, 4);
    for (uint32_t i = 0; i < n_blobs && !r.bad; i++) {
        struct hs_blob b;
        hs_read_blob(&r, &b);
        if (!r.bad && strcmp(b.type, RULES_BLOB) == 0 &&
            (rc = rules_import((struct vg_engine *)e, NULL, b.version, b.data, b.len, err,
                               errlen)) < 0)
            return rc;
        if (!r.bad && strcmp(b.type, HOST_BLOB) == 0 &&
            (rc = host_blob_import((struct vg_engine *)e, host, NULL, b.version, b.data, b.len, err,
                                   errlen)) < 0)
            return rc;
        if (!r.bad && strcmp(b.type, HIST_BLOB) == 0 &&
            (rc = hist_import((struct vg_engine *)e, NULL, b.version, b.data, b.len, err, errlen)) <
                0)
            return rc;
        if (!r.bad && strcmp(b.type, FIRED_BLOB) == 0 &&
            (rc = fired_import(NULL, b.version, b.data, b.len, err, errlen)) < 0)
            return rc;
        if (!r.bad && strcmp(b.type, BOOTS_BLOB) == 0 &&
            (rc = boots_import(NULL, b.version, b.data, b.len, err, errlen)) < 0)
            return rc;
        if (!r.bad && strcmp(b.type, KEY_BLOB) == 0 &&
            (rc = key_import(NULL, b.version, b.data, b.len, err, errlen)) < 0)
            return rc;
        if (!r.bad && strcmp(b.type, NOTIFY_BLOB) == 0 &&
            (rc = notify_import(NULL, b.version, b.data, b.len, err, errlen)) < 0)
            return rc;
        if (!r.bad && strcmp(b.type, FLABELS_BLOB) == 0 &&
            (rc = flabels_import(NULL, b.version, b.data, b.len, err, errlen)) < 0)
            return rc;
    }
    if (r.bad || r.off != r.len)
        return vg_err(err, errlen, -EINVAL, "host state of %s: truncated model state%s", host,
                      r.bad ? "" : " (bytes after its end)");
    return 0;
}

int vg_engine_host_import(struct vg_engine *e, const char *host, const unsigned char *buf,
                          size_t len, vg_engine_blob_fn fn, void *ud, char *err, size_t errlen)
{
    /* The record's key is the host's name, and anyone who can produce to the state topic
     * chose it: it must be a name the wire format would have let in, since /metrics and the
     * logs print it as one. */
    if (vg_wire_host_valid(host) != 0)
        return vg_err(err, errlen, -EINVAL,
                      "host state: its key is not a host name ([A-Za-z0-9._-], at most %d bytes)",
                      VG_WIRE_HOST_MAX);
    struct vg_br r = {buf, len, 0, 0};
    const unsigned char *magic = vg_br_take(&r, 4);
    if (!magic || memcmp(magic, HS_MAGIC, 4) != 0)
        return vg_err(err, errlen, -EINVAL, "host state of %s: not a host state record", host);
    uint32_t version = (uint32_t)vg_br_uint(&r, 4);
    if (version != HS_VERSION)
        return vg_err(err, errlen, -EPROTONOSUPPORT,
                      "host state of %s: version %u, this analyzer reads %d", host, version,
                      HS_VERSION);
    char boot[VG_WIRE_BOOT_MAX + 1], model[64];
    hs_gets(&r, boot, sizeof(boot));
    uint64_t last_seq = vg_br_uint(&r, 8);
    int64_t last_ts = (int64_t)vg_br_uint(&r, 8);
    int have_seq = (int)vg_br_uint(&r, 1);
    double max_score = vg_br_f64(&r);
    hs_gets(&r, model, sizeof(model));
    size_t state_size = (size_t)vg_br_uint(&r, 4);
    uint32_t n = (uint32_t)vg_br_uint(&r, 4);
    if (r.bad)
        return vg_err(err, errlen, -EINVAL, "host state of %s: truncated header", host);
    /* Another model's state cannot seed this one: its series start cold. */
    enum det_use use = DET_COLD;
    if (strcmp(model, e->p.detector->name) == 0)
        use = state_size == e->p.detector->state_size ? DET_SAME
              : adopts(e->p.detector, state_size)     ? DET_ADOPT
                                                      : DET_COLD;
    int rc = import_check(e, host, r, n, state_size, use, err, errlen);
    if (rc < 0)
        return rc;
    /* A restore may read several records of a host (compaction keeps the older ones a while):
     * only the first that makes the host is counted. */
    int known = vg_strmap_get(&e->hosts, host) != NULL;
    struct host *h = vg_engine_get_host(e, host);
    if (!h)
        return vg_err(err, errlen, -ENOMEM, "host state of %s: host limit or out of memory", host);
    if (use == DET_COLD && n && !known) {
        /* Its series learn again from their next values, which may be the very values a firing
         * alert is about: said, and counted with the hosts that had no record. */
        e->st.hosts_cold_started++;
        /* A record written without them (too large for the topic) names no model: "". */
        char mq[sizeof(model) + 8];
        vg_info("host state restored without its detector states: its series warm up",
                "host=%s record_model=%s record_state_bytes=%zu model=%s state_bytes=%zu", host,
                vg_log_quote(mq, sizeof(mq), model), state_size, e->p.detector->name,
                e->p.detector->state_size);
    }
    /* The checkpoint replaces whatever this engine knew of the host's series: it is newer. */
    for (size_t i = 0; i < h->series.cap; i++) {
        const struct series *s = h->series.keys[i] ? h->series.vals[i] : NULL;
        if (s && s->alert.state == VG_ALERT_FIRING && e->st.firing)
            e->st.firing--;
    }
    e->st.series -= h->series.n;
    vg_strmap_free(&h->series, vg_engine_free_series);
    vg_strmap_init(&h->series);
    /* Rule alerts too: those not in the record were inactive when it was written; and its
     * host_silent alert, which the record states when it fired. */
    if (h->silent_since && e->st.firing) {
        e->st.firing--;
        e->st.hosts_silent--;
    }
    h->silent_since = 0;
    for (size_t i = 0; i < h->n_rs; i++) {
        if (h->rs[i].st.state == VG_RULE_STATE_FIRING && e->st.firing)
            e->st.firing--;
        vg_engine_rstate_forget_alert(&h->rs[i]);
        memset(&h->rs[i], 0, sizeof(h->rs[i]));
    }
    vg_engine_drop_orphans(e, h); /* an earlier record's, not resolved yet: this one is newer */
    snprintf(h->boot, sizeof(h->boot), "%s", boot);
    h->last_seq = last_seq;
    h->last_ts_ms = last_ts;
    h->have_seq = have_seq;
    h->n_past = 0;      /* unless the record has an "engine.boots" blob */
    h->keyed_parts = 0; /* unless it has an "engine.key" blob */
    /* Unless it has an "engine.notify" blob: every firing alert notified, no cold start. */
    h->n_unnotified = 0;
    h->cold_ms = 0;
    h->max_score = max_score;
    /* Checked above: the reads below cannot fail. */
    for (uint32_t i = 0; i < n; i++) {
        struct hs_entry in;
        hs_read_entry(&r, state_size, &in);
        /* Kept by an analyzer from before such names were refused: refused now, as its values
         * would be (vg_engine_process), and counted with them. */
        if (vg_wire_name_reserved(in.name)) {
            e->st.series_reserved++;
            continue;
        }
        struct series *s = vg_engine_get_series(e, h, host, in.name);
        if (!s)
            continue;
        s->value = in.value;
        s->score = in.score;
        if (s->alert.state == VG_ALERT_FIRING && e->st.firing)
            e->st.firing--; /* a name twice in one record: the later entry counts */
        s->alert = in.alert;
        /* The record keeps no time of the series' last score: its host's last message stands in
         * for it, so that a wait still counts no gap across the restart (vg_event_gap). */
        s->alert.last_ms = last_ts;
        if (in.alert.state == VG_ALERT_FIRING)
            e->st.firing++;
        if (use == DET_SAME) {
            s->warm = in.warm;
            memcpy(s->det, in.det, state_size);
        } else if (use == DET_ADOPT) {
            s->warm = in.warm;
            e->p.detector->adopt(s->det, in.det, state_size); /* s->det: init()'s */
        }
        if (s->warm && !h->scoring)
            h->scoring = 1;
    }
    uint32_t n_blobs = (uint32_t)vg_br_uint(&r, 4);
    struct hs_blob hb = {.data = NULL}, fb = {.data = NULL};
    for (uint32_t i = 0; i < n_blobs; i++) {
        struct hs_blob b;
        hs_read_blob(&r, &b);
        if (strcmp(b.type, RULES_BLOB) == 0) {
            if ((rc = rules_import(e, h, b.version, b.data, b.len, err, errlen)) < 0)
                return rc; /* out of memory: the blob itself was checked */
        } else if (strcmp(b.type, HOST_BLOB) == 0) {
            hb = b; /* once the rule alerts it completes are in */
        } else if (strcmp(b.type, HIST_BLOB) == 0) {
            if ((rc = hist_import(e, h, b.version, b.data, b.len, err, errlen)) < 0)
                return rc; /* out of memory, likewise */
        } else if (strcmp(b.type, FIRED_BLOB) == 0) {
            fb = b; /* once the rule alerts it completes are in */
        } else if (strcmp(b.type, BOOTS_BLOB) == 0) {
            boots_import(h, b.version, b.data, b.len, err, errlen); /* checked above */
        } else if (strcmp(b.type, KEY_BLOB) == 0) {
            key_import(h, b.version, b.data, b.len, err, errlen); /* checked above */
        } else if (strcmp(b.type, NOTIFY_BLOB) == 0) {
            if ((rc = notify_import(h, b.version, b.data, b.len, err, errlen)) < 0)
                return rc; /* out of memory: the blob itself was checked */
        } else if (strcmp(b.type, FLABELS_BLOB) == 0) {
            if ((rc = flabels_import(h, b.version, b.data, b.len, err, errlen)) < 0)
                return rc; /* out of memory: the blob itself was checked */
        } else if (fn) {
            fn(ud, host, &(struct vg_engine_blob){b.type, b.version, b.data, b.len});
        }
    }
    if (hb.data &&
        (rc = host_blob_import(e, host, h, hb.version, hb.data, hb.len, err, errlen)) < 0)
        return rc; /* out of memory, likewise */
    if (fb.data && (rc = fired_import(h, fb.version, fb.data, fb.len, err, errlen)) < 0)
        return rc; /* out of memory, likewise */
    return 0;
}
