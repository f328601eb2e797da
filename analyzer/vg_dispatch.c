#include "vg_dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_format.h"
#include "vg_log.h"
#include "vg_outbox.h"
#include "vg_util.h"

#define MAX_GROUP_BY 16
#define MAX_SIL_IDS  16

struct alert {
    /* A deep copy of the firing notification: the outbox codec's encoding, decoded in place. */
    unsigned char *blob;
    void *arrays;
    struct vg_notification n;
    char **recv;
    size_t n_recv;
    char *group;
    int notified;
    int held_counted; /* counted in stats.silenced */
    int resolve_owed; /* taken over while silenced: its resolve goes out even if never notified */
    int64_t ready_ms;
    int64_t last_sent_ms;
    int64_t repeat_once_ms; /* vg_notification.repeat_once_at_ms, until sent; 0: none */
    uint32_t repeats;
    struct vg_silence_memo sil_memo;
};

struct vg_dispatch {
    struct vg_dispatch_params p;
    char *group_buf;
    char *group_by[MAX_GROUP_BY];
    size_t n_group_by;
    struct vg_silences *sil;
    vg_dispatch_send_fn send;
    void *ud;
    struct alert **v;
    size_t n;
    struct vg_dispatch_stats st;
};

int vg_dispatch_new(struct vg_dispatch **out, const struct vg_dispatch_params *p,
                    struct vg_silences *sil, vg_dispatch_send_fn send, void *ud)
{
    struct vg_dispatch *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->p = *p;
    d->sil = sil;
    d->send = send;
    d->ud = ud;
    if (p->group_by && *p->group_by) {
        if (!(d->group_buf = strdup(p->group_by))) {
            free(d);
            return -ENOMEM;
        }
        char *save = NULL;
        for (char *t = strtok_r(d->group_buf, ", ", &save); t && d->n_group_by < MAX_GROUP_BY;
             t = strtok_r(NULL, ", ", &save))
            d->group_by[d->n_group_by++] = t;
    }
    d->p.group_by = NULL;
    *out = d;
    return 0;
}

static void alert_free(struct alert *a)
{
    if (!a)
        return;
    free(a->blob);
    free(a->arrays);
    for (size_t i = 0; i < a->n_recv; i++)
        free(a->recv[i]);
    free(a->recv);
    free(a->group);
    vg_silence_memo_free(&a->sil_memo);
    free(a);
}

void vg_dispatch_free(struct vg_dispatch *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        alert_free(d->v[i]);
    free(d->v);
    free(d->group_buf);
    free(d);
}

/* Labels as silences and group_by see them: the alert's labels, then alertname, severity and
 * (built-in rule) series. */
static const char *label_of(const void *ud, const char *name)
{
    const struct vg_notification *n = ud;
    if (strcmp(name, "alertname") == 0)
        return n->alertname;
    if (strcmp(name, "severity") == 0)
        return n->severity;
    if (strcmp(name, "series") == 0 && n->series)
        return n->series;
    if (strcmp(name, "host") == 0)
        return n->host;
    for (size_t i = 0; i < n->n_labels; i++)
        if (n->label_keys[i] && strcmp(n->label_keys[i], name) == 0)
            return n->label_values[i];
    return NULL;
}

static size_t silenced_by(const struct vg_dispatch *d, struct alert *a, int64_t now,
                          const char **ids, size_t max)
{
    return d->sil ? vg_silences_match_memo(d->sil, &a->sil_memo, label_of, &a->n, now, ids, max)
                  : 0;
}

static struct alert *find(const struct vg_dispatch *d, const char *fp, size_t *at)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->v[i]->n.fingerprint ? d->v[i]->n.fingerprint : "", fp) == 0) {
            if (at)
                *at = i;
            return d->v[i];
        }
    }
    return NULL;
}

static char *group_key(const struct vg_dispatch *d, const struct vg_notification *n)
{
    if (!d->n_group_by)
        return strdup(n->fingerprint ? n->fingerprint : "");
    size_t len = 1;
    for (size_t i = 0; i < d->n_group_by; i++) {
        const char *v = label_of(n, d->group_by[i]);
        len += (v ? strlen(v) : 0) + 1;
    }
    char *k = malloc(len);
    if (!k)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < d->n_group_by; i++) {
        const char *v = label_of(n, d->group_by[i]);
        size_t l = v ? strlen(v) : 0;
        memcpy(k + o, v ? v : "", l);
        o += l;
        k[o++] = '\x1f';
    }
    k[o] = '\0';
    return k;
}

static void send_one(struct vg_dispatch *d, struct alert *a, const struct vg_notification *n)
{
    struct vg_notification copy = *n;
    copy.receivers = a && a->n_recv ? (const char *const *)a->recv : n->receivers;
    copy.n_receivers = a && a->n_recv ? a->n_recv : n->n_receivers;
    d->st.sent++;
    if (n->repeat)
        d->st.repeats++;
    d->send(d->ud, &copy);
}

/* Sends a held firing notification when nothing holds it any more. */
static void try_fire(struct vg_dispatch *d, struct alert *a, int64_t now)
{
    if (a->notified || now < a->ready_ms)
        return;
    const char *ids[1];
    if (silenced_by(d, a, now, ids, 1)) {
        if (!a->held_counted) {
            a->held_counted = 1;
            d->st.silenced++;
            vg_info("notification silenced", "alertname=%s host=%s fingerprint=%s silence=%s",
                    a->n.alertname, a->n.host, a->n.fingerprint, ids[0]);
        }
        return;
    }
    a->notified = 1;
    a->last_sent_ms = now;
    /* First sent after the resolve it was to follow: that is enough. */
    if (a->repeat_once_ms && now >= a->repeat_once_ms)
        a->repeat_once_ms = 0;
    send_one(d, a, &a->n);
}

static int copy_alert(struct alert *a, const struct vg_notification *n)
{
    size_t len;
    if (vg_outbox_encode(n, &a->blob, &len) < 0)
        return -ENOMEM;
    int rc = vg_outbox_decode(a->blob, len, &a->n, &a->arrays);
    if (rc < 0)
        return rc;
    if (n->n_receivers) {
        if (!(a->recv = calloc(n->n_receivers, sizeof(char *))))
            return -ENOMEM;
        for (size_t i = 0; i < n->n_receivers; i++) {
            if (!(a->recv[i] = strdup(n->receivers[i])))
                return -ENOMEM;
            a->n_recv++;
        }
    }
    return 0;
}

/* When a's first notification may go, its own wait ending at ready: the group's first alert
 * starts the wait; later ones join it, and once the group has been notified, newcomers go at
 * once. */
static int64_t group_ready(const struct vg_dispatch *d, const struct alert *a, int64_t ready,
                           int64_t now)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct alert *o = d->v[i];
        if (o == a || strcmp(o->group, a->group) != 0)
            continue;
        if (o->notified)
            return now;
        if (o->ready_ms < ready)
            ready = o->ready_ms;
    }
    return ready;
}

static void on_firing(struct vg_dispatch *d, const struct vg_notification *n, int64_t now)
{
    if (n->fingerprint && find(d, n->fingerprint, NULL)) {
        d->st.deduplicated++;
        return;
    }
    struct alert *a = calloc(1, sizeof(*a));
    struct alert **nv = a ? realloc(d->v, (d->n + 1) * sizeof(*nv)) : NULL;
    if (!nv || copy_alert(a, n) < 0 || !(a->group = group_key(d, n))) {
        /* Out of memory: still notify, only the bookkeeping is lost. */
        if (nv)
            d->v = nv;
        alert_free(a);
        send_one(d, NULL, n);
        return;
    }
    d->v = nv;
    a->repeat_once_ms = n->repeat_once_at_ms; /* the copy does not keep it */
    a->ready_ms = group_ready(d, a, now + d->p.group_wait_ms, now);
    d->v[d->n++] = a;
    try_fire(d, a, now);
}

static void on_resolved(struct vg_dispatch *d, const struct vg_notification *n, int64_t now)
{
    (void)now;
    size_t at;
    struct alert *a = n->fingerprint ? find(d, n->fingerprint, &at) : NULL;
    if (!a) {
        /* Fired before this process started (or out of memory then): the receiver may hold
         * it, so the resolve goes out. */
        send_one(d, NULL, n);
        return;
    }
    if (a->notified || a->resolve_owed)
        send_one(d, a, n);
    else
        d->st.resolved_quiet++;
    alert_free(a);
    d->v[at] = d->v[--d->n];
}

/* An alert group_wait still holds goes out now rather than never: whoever restores its host (a
 * new owner, or this analyzer after a restart) takes it over as notified. One a silence holds
 * stays held: the silence decides. Returns 1 when it was sent. */
static int send_if_held(struct vg_dispatch *d, struct alert *a, int64_t now, const char *why)
{
    const char *ids[1];
    if (a->notified || silenced_by(d, a, now, ids, 1))
        return 0;
    a->notified = 1;
    a->last_sent_ms = now;
    d->st.sent_early++;
    vg_info("held notification sent early", "reason=%s alertname=%s host=%s fingerprint=%s", why,
            a->n.alertname, a->n.host, a->n.fingerprint);
    send_one(d, a, &a->n);
    return 1;
}

size_t vg_dispatch_forget_host(struct vg_dispatch *d, const char *host, int64_t now_ms)
{
    size_t dropped = 0;
    for (size_t i = 0; i < d->n;) {
        if (d->v[i]->n.host && strcmp(d->v[i]->n.host, host) == 0) {
            send_if_held(d, d->v[i], now_ms, "host-handed-over");
            alert_free(d->v[i]);
            d->v[i] = d->v[--d->n];
            dropped++;
        } else {
            i++;
        }
    }
    d->st.handed_over += dropped;
    return dropped;
}

size_t vg_dispatch_send_held(struct vg_dispatch *d, int64_t now_ms, const char *why)
{
    size_t sent = 0;
    for (size_t i = 0; i < d->n; i++)
        sent += (size_t)send_if_held(d, d->v[i], now_ms, why);
    return sent;
}

/* An adopted alert whose firing was never notified (vg_dispatch_adopt): held like a new one for
 * what is left of its group_wait, counted from its start (event time, which is all the record
 * has), and its resolve owed since the old owner may have sent it after its last checkpoint. */
static void adopt_unnotified(struct vg_dispatch *d, struct alert *a,
                             const struct vg_notification *n, int64_t now_ms)
{
    int64_t ready = n->starts_at_ms > 0 ? n->starts_at_ms + d->p.group_wait_ms : now_ms;
    if (ready < now_ms)
        ready = now_ms;
    if (ready > now_ms + d->p.group_wait_ms) /* an agent's clock ahead */
        ready = now_ms + d->p.group_wait_ms;
    a->notified = 0;
    a->resolve_owed = 1;
    a->ready_ms = group_ready(d, a, ready, now_ms);
    a->repeat_once_ms = n->repeat_once_at_ms;
    d->v[d->n++] = a;
    d->st.adopted++;
    d->st.adopted_unnotified++;
    vg_info("alert taken over before its firing was notified: it is sent here",
            "alertname=%s host=%s fingerprint=%s in_ms=%lld", a->n.alertname, a->n.host,
            a->n.fingerprint, (long long)(a->ready_ms - now_ms));
    try_fire(d, a, now_ms);
}

void vg_dispatch_adopt(struct vg_dispatch *d, const struct vg_notification *n, int notified,
                       int64_t now_ms)
{
    if (!n->fingerprint || find(d, n->fingerprint, NULL))
        return;
    struct alert *a = calloc(1, sizeof(*a));
    struct alert **nv = a ? realloc(d->v, (d->n + 1) * sizeof(*nv)) : NULL;
    if (nv)
        d->v = nv;
    if (!nv || copy_alert(a, n) < 0 || !(a->group = group_key(d, n))) {
        alert_free(a); /* out of memory: not listed nor repeated; its resolve still goes out */
        return;
    }
    if (!notified) {
        adopt_unnotified(d, a, n, now_ms);
        return;
    }
    a->repeat_once_ms = n->repeat_once_at_ms;
    const char *ids[1];
    int silenced = silenced_by(d, a, now_ms, ids, 1) > 0;
    /* A record from an analyzer that did not keep whether it notified the alert says notified
     * whatever it did, and one a silence holds now may have been held since it fired: taken as
     * notified, it would never go out when the silence ends. So it is held as the silence holds a
     * new one, and try_fire sends it then; the firing's Idempotency-Key
     * (fingerprint-firing-starts_at) is the one the old owner used, so a receiver that did get it
     * drops the duplicate. Its resolve still goes out, since the receiver may hold it. */
    a->notified = !silenced;
    a->resolve_owed = silenced;
    a->ready_ms = now_ms;
    a->last_sent_ms = now_ms;
    /* Keep the old owner's schedule: it reminded once per interval from the alert's start, so
     * the next reminder is due at the next whole interval, not one interval after the take-over
     * (which would leave up to two intervals of silence). */
    if (d->p.repeat_interval_ms > 0 && n->starts_at_ms > 0 && now_ms > n->starts_at_ms) {
        int64_t k = (now_ms - n->starts_at_ms) / d->p.repeat_interval_ms;
        a->repeats = (uint32_t)k;
        a->last_sent_ms = n->starts_at_ms + k * d->p.repeat_interval_ms;
    }
    d->v[d->n++] = a;
    d->st.adopted++;
    if (silenced) {
        try_fire(d, a, now_ms); /* only counts it as held and logs the silence */
        return;
    }
    struct vg_notification again = *n;
    again.adopted = 1;
    d->send(d->ud, &again);
}

void vg_dispatch_event(struct vg_dispatch *d, const struct vg_notification *n, int64_t now_ms)
{
    if (n->status && strcmp(n->status, "resolved") == 0)
        on_resolved(d, n, now_ms);
    else
        on_firing(d, n, now_ms);
}

void vg_dispatch_tick(struct vg_dispatch *d, int64_t now_ms)
{
    for (size_t i = 0; i < d->n; i++) {
        struct alert *a = d->v[i];
        if (!a->notified) {
            try_fire(d, a, now_ms);
            continue;
        }
        int after_cold = a->repeat_once_ms && now_ms >= a->repeat_once_ms;
        if (!after_cold &&
            (d->p.repeat_interval_ms <= 0 || now_ms - a->last_sent_ms < d->p.repeat_interval_ms))
            continue;
        const char *ids[1];
        if (silenced_by(d, a, now_ms, ids, 1))
            continue;
        a->last_sent_ms = now_ms;
        a->repeat_once_ms = 0;
        struct vg_notification r = a->n;
        r.repeat = ++a->repeats;
        r.accepted_ms = vg_now_ms();
        if (after_cold) {
            /* The analyzer its host may have moved from has resolved it by now (vg_engine.h,
             * VG_ENGINE_COLD_REPEAT_MARGIN_MS): this opens it again at the receivers. */
            d->st.repeated_after_cold_start++;
            vg_info("firing notification repeated after its host's cold start",
                    "alertname=%s host=%s fingerprint=%s repeat=%u", a->n.alertname, a->n.host,
                    a->n.fingerprint, (unsigned)r.repeat);
        }
        send_one(d, a, &r);
    }
}

void vg_dispatch_get_stats(const struct vg_dispatch *d, struct vg_dispatch_stats *out)
{
    *out = d->st;
    out->firing = d->n;
}

static int newest_first(const void *x, const void *y)
{
    const struct alert *a = *(struct alert *const *)x, *b = *(struct alert *const *)y;
    if (a->n.starts_at_ms != b->n.starts_at_ms)
        return a->n.starts_at_ms > b->n.starts_at_ms ? -1 : 1;
    return strcmp(a->n.fingerprint ? a->n.fingerprint : "",
                  b->n.fingerprint ? b->n.fingerprint : "");
}

json_t *vg_dispatch_alerts_json(const struct vg_dispatch *d, int64_t now_ms)
{
    struct alert **sorted = malloc((d->n ? d->n : 1) * sizeof(*sorted));
    if (!sorted)
        return NULL;
    if (d->n) /* d->v is NULL before the first alert, and memcpy's source must not be */
        memcpy(sorted, d->v, d->n * sizeof(*sorted));
    qsort(sorted, d->n, sizeof(*sorted), newest_first);
    json_t *arr = json_array();
    for (size_t i = 0; i < d->n; i++) {
        struct alert *a = sorted[i];
        const struct vg_notification *n = &a->n;
        json_t *o = json_object(), *labels = json_object(), *ann = json_object(),
               *recv = json_array(), *sil = json_array();
        for (size_t k = 0; k < n->n_labels; k++)
            vg_fmt_set(labels, n->label_keys[k] ? n->label_keys[k] : "?",
                       vg_fmt_str(n->label_values[k]));
        for (size_t k = 0; k < n->n_annotations; k++)
            vg_fmt_set(ann, n->annotation_keys[k] ? n->annotation_keys[k] : "?",
                       vg_fmt_str(n->annotation_values[k]));
        for (size_t k = 0; k < a->n_recv; k++)
            json_array_append_new(recv, json_string(a->recv[k]));
        const char *ids[MAX_SIL_IDS];
        size_t ns = silenced_by(d, a, now_ms, ids, MAX_SIL_IDS);
        for (size_t k = 0; k < ns && k < MAX_SIL_IDS; k++)
            json_array_append_new(sil, json_string(ids[k]));
        json_object_set_new(o, "fingerprint", vg_fmt_str(n->fingerprint));
        json_object_set_new(o, "alertname", vg_fmt_str(n->alertname));
        json_object_set_new(o, "host", vg_fmt_str(n->host));
        json_object_set_new(o, "series", vg_fmt_str(n->series));
        json_object_set_new(o, "state", json_string("firing"));
        json_object_set_new(o, "severity", vg_fmt_str(n->severity));
        json_object_set_new(o, "starts_at", vg_fmt_time(n->starts_at_ms));
        json_object_set_new(o, "starts_at_ms", json_integer(n->starts_at_ms));
        json_object_set_new(o, "value", vg_fmt_num(n->value));
        json_object_set_new(o, "score", vg_fmt_num(n->score));
        json_object_set_new(o, "labels", labels);
        json_object_set_new(o, "annotations", ann);
        json_object_set_new(o, "receivers", recv);
        json_object_set_new(o, "notified", json_boolean(a->notified));
        json_object_set_new(o, "silenced_by", sil);
        json_array_append_new(arr, o);
    }
    free(sorted);
    json_t *root = json_object();
    json_object_set_new(root, "alerts", arr);
    return root;
}
