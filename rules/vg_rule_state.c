#include "vg_rule_state.h"

#include <stdio.h>
#include <string.h>

#include "vg_util.h"

static void rebase(int64_t *t, int64_t ts)
{
    if (*t > ts)
        *t = ts;
}

enum vg_rule_state_event vg_rule_state_step(struct vg_rule_state *s, int64_t for_ms,
                                            int64_t keep_firing_for_ms, int64_t gap_ms, int cond,
                                            int64_t ts_ms)
{
    /* Nothing was observed during a gap: a wait running across it restarts here. */
    int gap = vg_event_gap(s->last_ts, ts_ms, gap_ms);
    if (ts_ms < s->last_ts) {
        rebase(&s->active_since, ts_ms);
        rebase(&s->last_true, ts_ms);
    }
    s->last_ts = ts_ms;
    if (gap && s->state == VG_RULE_STATE_PENDING)
        s->active_since = ts_ms;
    if (gap && s->state == VG_RULE_STATE_FIRING)
        s->last_true = ts_ms; /* keep_firing_for's wait, counted from here */
    switch (s->state) {
    case VG_RULE_STATE_INACTIVE:
    case VG_RULE_STATE_RESOLVED:
        if (!cond)
            return VG_RULE_EV_NONE;
        s->active_since = ts_ms;
        if (for_ms > 0) {
            s->state = VG_RULE_STATE_PENDING;
            return VG_RULE_EV_PENDING;
        }
        break;
    case VG_RULE_STATE_PENDING:
        if (!cond) {
            s->state = VG_RULE_STATE_INACTIVE;
            return VG_RULE_EV_NONE;
        }
        if (ts_ms - s->active_since < for_ms)
            return VG_RULE_EV_NONE;
        break;
    case VG_RULE_STATE_FIRING:
        if (cond) {
            s->last_true = ts_ms;
            return VG_RULE_EV_NONE;
        }
        if (ts_ms - s->last_true < keep_firing_for_ms)
            return VG_RULE_EV_NONE;
        s->state = VG_RULE_STATE_RESOLVED;
        s->resolved_at = vg_event_resolved_at(s->fired_at, ts_ms);
        return VG_RULE_EV_RESOLVED;
    }
    s->state = VG_RULE_STATE_FIRING;
    s->fired_at = s->last_true = ts_ms;
    s->resolved_at = 0;
    return VG_RULE_EV_FIRED;
}

const char *vg_rule_state_name(enum vg_rule_state_kind k)
{
    switch (k) {
    case VG_RULE_STATE_INACTIVE:
        return "inactive";
    case VG_RULE_STATE_PENDING:
        return "pending";
    case VG_RULE_STATE_FIRING:
        return "firing";
    case VG_RULE_STATE_RESOLVED:
        return "resolved";
    }
    return "?";
}

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME  1099511628211ULL

/* Each string is followed by a byte no UTF-8 text contains, so ("ab","c") and ("a","bc")
 * hash differently. */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= FNV_PRIME;
    }
    h ^= 0xff;
    return h * FNV_PRIME;
}

/* Orders labels by name, then value, then position, so that even a set with a repeated name has
 * one order. */
static int before(const struct vg_kv *l, size_t i, size_t j)
{
    int c = strcmp(l[i].key, l[j].key);
    if (!c)
        c = strcmp(l[i].value, l[j].value);
    return c < 0 || (c == 0 && i < j);
}

void vg_rule_fingerprint(const char *rule, const struct vg_kv *labels, size_t n,
                         char out[VG_RULE_FINGERPRINT_LEN])
{
    uint64_t h = fnv(FNV_OFFSET, rule);
    /* Selection in place of sorting: label sets are small, and this needs no memory, so the
     * fingerprint cannot fail (or differ) for want of it. */
    size_t prev = 0;
    for (size_t k = 0; k < n; k++) {
        size_t next = n;
        for (size_t i = 0; i < n; i++) {
            if (k > 0 && !before(labels, prev, i))
                continue;
            if (next == n || before(labels, i, next))
                next = i;
        }
        h = fnv(fnv(h, labels[next].key), labels[next].value);
        prev = next;
    }
    snprintf(out, VG_RULE_FINGERPRINT_LEN, "%016llx", (unsigned long long)h);
}
