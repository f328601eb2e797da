#include "vg_history.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_log.h"
#include "vg_strmap.h"
#include "vg_format.h"
#include "vg_util.h"

struct point {
    int64_t ts_ms; /* event time of the last message in the point's bucket */
    float value;
    float score; /* NAN: not scored (warming up, or the series is not alerted on) */
};

struct hseries {
    size_t head, n; /* ring: oldest at (head - n) mod cap */
    int last_state; /* enum vg_alert_state seen at the previous record, for transitions */
    struct point pts[];
};

struct halert {
    int64_t ts_ms;
    char *series;
    int fired; /* 1 fired, 0 resolved */
    double score, value;
};

struct hhost {
    struct vg_strmap series;
    struct halert alerts[VG_HISTORY_ALERTS_PER_HOST];
    size_t a_head, a_n;
    int64_t bucket;  /* bucket of the message being recorded */
    int64_t last_ts; /* event time of the newest message recorded */
    /* Boot and sequence number of the latest message recorded: they, not event times, tell a
     * redelivery (vg_history_record). */
    char boot[VG_WIRE_BOOT_MAX + 1];
    uint64_t last_seq;
    int have_seq;
    /* The boots before it, most recent first, with their last recorded sequence numbers: their
     * late messages (a spool replayed after a reboot) go among the newer points. */
    struct {
        char boot[VG_WIRE_BOOT_MAX + 1];
        uint64_t last_seq;
    } past[VG_HISTORY_PAST_BOOTS];
    size_t n_past;
};

struct vg_history {
    struct vg_history_params p;
    size_t cap; /* points per series */
    struct vg_strmap hosts;
    struct vg_history_stats st;
};

int vg_history_new(struct vg_history **out, const struct vg_history_params *p, char *err,
                   size_t errlen)
{
    /* Worded with the keys' full names (the params are history.window and history.resolution)
     * so that vg_config_locate places it where history.resolution was written. */
    if (p->resolution_ms <= 0)
        return vg_err(err, errlen, -EINVAL, "history.resolution (%.10gs) must be positive",
                      (double)p->resolution_ms / 1000.0);
    if (p->window_ms < p->resolution_ms)
        return vg_err(err, errlen, -EINVAL,
                      "history.resolution (%.10gs) must not be above history.window (%.10gs)",
                      (double)p->resolution_ms / 1000.0, (double)p->window_ms / 1000.0);
    struct vg_history *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->p = *p;
    h->cap = (size_t)(p->window_ms / p->resolution_ms) + 1;
    vg_strmap_init(&h->hosts);
    *out = h;
    return 0;
}

static void free_series(void *v)
{
    free(v);
}

static size_t series_bytes(const struct vg_history *h)
{
    return sizeof(struct hseries) + h->cap * sizeof(struct point);
}

static struct hhost *get_host(struct vg_history *h, const char *name)
{
    struct hhost *hh = vg_strmap_get(&h->hosts, name);
    if (hh)
        return hh;
    if (h->st.bytes + sizeof(*hh) > h->p.max_bytes)
        return NULL;
    hh = calloc(1, sizeof(*hh));
    if (!hh)
        return NULL;
    vg_strmap_init(&hh->series);
    if (vg_strmap_put(&h->hosts, name, hh) < 0) {
        free(hh);
        return NULL;
    }
    h->st.hosts++;
    h->st.bytes += sizeof(*hh);
    return hh;
}

struct gone_ctx {
    const struct vg_history *h;
    int64_t before;
};

static int ended_before(void *ud, const void *v)
{
    const struct gone_ctx *c = ud;
    const struct hseries *s = v;
    const struct point *lp = s->n ? &s->pts[(s->head + c->h->cap - 1) % c->h->cap] : NULL;
    return !lp || lp->ts_ms < c->before;
}

/* Frees hh's series with no point within the window before ts: names that came and went
 * (containers, cgroups, disks) would otherwise hold the history full for good, and every new
 * series would be refused. Their rings show nothing a report would print. */
static void drop_ended(struct vg_history *h, struct hhost *hh, int64_t ts)
{
    struct gone_ctx c = {h, ts - h->p.window_ms};
    long n = vg_strmap_del_if(&hh->series, ended_before, &c, free_series);
    if (n > 0) {
        h->st.series -= (uint64_t)n;
        h->st.bytes -= (size_t)n * series_bytes(h);
        h->st.series_ended += (uint64_t)n;
    }
}

static struct hseries *get_series(struct vg_history *h, struct hhost *hh, const char *name,
                                  int64_t ts)
{
    struct hseries *s = vg_strmap_get(&hh->series, name);
    if (s)
        return s;
    size_t sz = series_bytes(h);
    if (h->st.bytes + sz > h->p.max_bytes)
        drop_ended(h, hh, ts);
    if (h->st.bytes + sz > h->p.max_bytes) {
        if (h->st.series_refused++ == 0)
            vg_warn("history full: new series are not recorded", "max_bytes=%zu", h->p.max_bytes);
        return NULL;
    }
    s = calloc(1, sz);
    if (!s)
        return NULL;
    if (vg_strmap_put(&hh->series, name, s) < 0) {
        free(s);
        return NULL;
    }
    h->st.series++;
    h->st.bytes += sz;
    return s;
}

static struct point *last_point(const struct vg_history *h, struct hseries *s)
{
    return s->n ? &s->pts[(s->head + h->cap - 1) % h->cap] : NULL;
}

/* s's k-th oldest point. */
static struct point *point_k(const struct vg_history *h, struct hseries *s, size_t k)
{
    return &s->pts[(s->head + h->cap - s->n + k) % h->cap];
}

/* Puts v at ts in its place in event time order: a message is usually the newest (appended, or
 * the last value of the newest point's bucket), but a previous boot's late one goes among the
 * points after it. A bucket holds the value of its latest message; a ring that is full loses its
 * oldest point, or, when v is older still, v. */
static void put_value(const struct vg_history *h, struct hseries *s, int64_t ts, double v)
{
    int64_t res = h->p.resolution_ms;
    size_t k = s->n; /* where v goes: after every point not later than ts */
    while (k && point_k(h, s, k - 1)->ts_ms > ts)
        k--;
    if (k < s->n && point_k(h, s, k)->ts_ms / res == ts / res)
        return; /* its bucket holds a later message's value */
    struct point *prev = k ? point_k(h, s, k - 1) : NULL;
    if (prev && prev->ts_ms / res == ts / res) {
        prev->ts_ms = ts;
        prev->value = (float)v;
        return;
    }
    if (s->n == h->cap) {
        if (!k)
            return;
        s->n--; /* the oldest point goes */
        k--;
    }
    s->head = (s->head + 1) % h->cap;
    s->n++;
    for (size_t j = s->n - 1; j > k; j--)
        *point_k(h, s, j) = *point_k(h, s, j - 1);
    *point_k(h, s, k) = (struct point){.ts_ms = ts, .value = (float)v, .score = NAN};
}

/* The point of s stamped ts (the message being recorded wrote it), or NULL. */
static struct point *point_at(const struct vg_history *h, struct hseries *s, int64_t ts)
{
    for (size_t k = s->n; k--;) {
        struct point *p = point_k(h, s, k);
        if (p->ts_ms <= ts)
            return p->ts_ms == ts ? p : NULL;
    }
    return NULL;
}

/* hh's k-th oldest alert transition. */
static struct halert *alert_k(struct hhost *hh, size_t k)
{
    return &hh->alerts[(hh->a_head + VG_HISTORY_ALERTS_PER_HOST - hh->a_n + k) %
                       VG_HISTORY_ALERTS_PER_HOST];
}

/* Adds a transition in its place in event time order, as put_value a point (slots outside the
 * ring hold no series). */
static void add_alert(struct hhost *hh, int64_t ts, const char *series, int fired, double score,
                      double value)
{
    size_t k = hh->a_n;
    while (k && alert_k(hh, k - 1)->ts_ms > ts)
        k--;
    if (hh->a_n == VG_HISTORY_ALERTS_PER_HOST) {
        if (!k)
            return;
        struct halert *oldest = alert_k(hh, 0);
        free(oldest->series);
        oldest->series = NULL;
        hh->a_n--;
        k--;
    }
    hh->a_head = (hh->a_head + 1) % VG_HISTORY_ALERTS_PER_HOST;
    hh->a_n++;
    for (size_t j = hh->a_n - 1; j > k; j--)
        *alert_k(hh, j) = *alert_k(hh, j - 1);
    *alert_k(hh, k) = (struct halert){ts, strdup(series), fired, score, value};
}

/* Forgets hh's points and alert transitions after ts: the transitions go with the points they
 * describe, so that the list stays in event time order (vigilctl report pairs a firing with the
 * next resolution of its series). */
static void drop_after(const struct vg_history *h, struct hhost *hh, int64_t ts)
{
    for (size_t i = 0; i < hh->series.cap; i++) {
        struct hseries *s = hh->series.keys[i] ? hh->series.vals[i] : NULL;
        for (struct point *lp; s && (lp = last_point(h, s)) && lp->ts_ms > ts;) {
            s->head = (s->head + h->cap - 1) % h->cap;
            s->n--;
        }
    }
    while (hh->a_n) {
        size_t last = (hh->a_head + VG_HISTORY_ALERTS_PER_HOST - 1) % VG_HISTORY_ALERTS_PER_HOST;
        struct halert *a = &hh->alerts[last];
        if (a->ts_ms <= ts)
            break;
        free(a->series);
        a->series = NULL;
        hh->a_head = last;
        hh->a_n--;
    }
}

struct score_ctx {
    struct vg_history *h;
    struct hhost *hh;
    int64_t ts;
};

/* Scores come from the engine after it processed the message: a series scored in this message
 * has its point in the current bucket. */
static void take_score(void *ud, const struct vg_engine_series *es)
{
    struct score_ctx *c = ud;
    struct hseries *s = vg_strmap_get(&c->hh->series, es->name);
    if (!s)
        return;
    struct point *lp = point_at(c->h, s, c->ts);
    if (lp && es->warm && isfinite(es->score) && (isnan(lp->score) || es->score > lp->score))
        lp->score = (float)es->score;
    int firing = es->state == VG_ALERT_FIRING;
    int was = s->last_state == VG_ALERT_FIRING;
    if (firing != was)
        add_alert(c->hh, c->ts, es->name, firing, es->score, es->value);
    s->last_state = (int)es->state;
}

/* The last sequence number recorded of boot: the current one's, a previous one's, or NULL for a
 * boot not seen (or older than the VG_HISTORY_PAST_BOOTS before the current one). */
static uint64_t *seq_of(struct hhost *hh, const char *boot)
{
    if (!hh->have_seq)
        return NULL;
    if (strcmp(hh->boot, boot) == 0)
        return &hh->last_seq;
    for (size_t i = 0; i < hh->n_past; i++)
        if (strcmp(hh->past[i].boot, boot) == 0)
            return &hh->past[i].last_seq;
    return NULL;
}

/* The current boot becomes the most recent previous one, as a new boot takes its place. */
static void boot_changed(struct hhost *hh)
{
    size_t n = hh->n_past < VG_HISTORY_PAST_BOOTS ? hh->n_past : VG_HISTORY_PAST_BOOTS - 1;
    memmove(&hh->past[1], &hh->past[0], n * sizeof(hh->past[0]));
    snprintf(hh->past[0].boot, sizeof(hh->past[0].boot), "%s", hh->boot);
    hh->past[0].last_seq = hh->last_seq;
    hh->n_past = n + 1;
}

void vg_history_record(struct vg_history *h, const struct vg_engine *e, const struct vg_wire_msg *m)
{
    if (!h || !h->p.max_bytes)
        return;
    /* A host the engine refused (limits.max_hosts) gets no history either: its bytes would go
     * from the hosts that are held, and nothing would free them (vg_history_forget_host follows
     * the engine's hosts). */
    struct vg_engine_host info;
    if (vg_engine_describe_host(e, m->host, &info, NULL, NULL) < 0)
        return;
    struct hhost *hh = get_host(h, m->host);
    if (!hh)
        return;
    uint64_t *last_seq = seq_of(hh, m->boot);
    /* A redelivery the caller did not skip (boot known, sequence not newer): counted, not
     * recorded twice. */
    if (last_seq && m->seq <= *last_seq) {
        h->st.messages_late++;
        return;
    }
    if (last_seq && last_seq != &hh->last_seq) {
        /* A previous boot's late message: recorded among the newer points (put_value), which
         * stay; the current boot goes on as it was. */
        *last_seq = m->seq;
        h->st.messages_previous_boot++;
    } else {
        if (hh->have_seq && strcmp(hh->boot, m->boot) != 0)
            boot_changed(hh);
        snprintf(hh->boot, sizeof(hh->boot), "%s", m->boot);
        hh->last_seq = m->seq;
        hh->have_seq = 1;
        /* The rings are in event time order, which a report reads them in: after the host's
         * clock stepped back (a new boot's too: a hardware clock before NTP), the points and
         * alert transitions now in its future go (as the engine's rule windows do), and the
         * message is recorded. Refusing it instead, as once, froze the host's history until its
         * clock passed the bad time (a tick stamped a day ahead: a day). */
        if (m->ts_ms < hh->last_ts)
            drop_after(h, hh, m->ts_ms);
        hh->last_ts = m->ts_ms;
    }
    for (size_t i = 0; i < m->n_metrics; i++) {
        if (vg_wire_name_reserved(m->metrics[i].name))
            continue; /* refused by the engine (vg_engine_process), which counts it */
        struct hseries *s = get_series(h, hh, m->metrics[i].name, m->ts_ms);
        if (s)
            put_value(h, s, m->ts_ms, m->metrics[i].value);
    }
    struct score_ctx c = {h, hh, m->ts_ms};
    vg_engine_describe_host(e, m->host, &info, take_score, &c);
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *vg_history_host_json(const struct vg_history *h, const char *host, int64_t since_ms)
{
    const struct hhost *hh = vg_strmap_get(&h->hosts, host);
    if (!hh)
        return NULL;
    json_t *o = json_object(), *series = json_object(), *alerts = json_array();
    json_object_set_new(o, "host", vg_fmt_str(host));
    json_object_set_new(o, "window_ms", json_integer(h->p.window_ms));
    json_object_set_new(o, "resolution_ms", json_integer(h->p.resolution_ms));
    for (size_t i = 0; i < hh->series.cap; i++) {
        if (!hh->series.keys[i])
            continue;
        const struct hseries *s = hh->series.vals[i];
        json_t *t = json_array(), *v = json_array(), *sc = json_array();
        for (size_t k = 0; k < s->n; k++) {
            const struct point *p = &s->pts[(s->head + h->cap - s->n + k) % h->cap];
            if (p->ts_ms < since_ms)
                continue;
            json_array_append_new(t, json_integer(p->ts_ms));
            json_array_append_new(v, num_or_null(p->value));
            json_array_append_new(sc, num_or_null(p->score));
        }
        json_t *so = json_object();
        json_object_set_new(so, "t", t);
        json_object_set_new(so, "value", v);
        json_object_set_new(so, "score", sc);
        vg_fmt_set(series, hh->series.keys[i], so);
    }
    for (size_t k = 0; k < hh->a_n; k++) {
        const struct halert *a =
            &hh->alerts[(hh->a_head + VG_HISTORY_ALERTS_PER_HOST - hh->a_n + k) %
                        VG_HISTORY_ALERTS_PER_HOST];
        if (a->ts_ms < since_ms || !a->series)
            continue;
        json_t *ao = json_object();
        json_object_set_new(ao, "ts", json_integer(a->ts_ms));
        json_object_set_new(ao, "series", vg_fmt_str(a->series));
        json_object_set_new(ao, "status", json_string(a->fired ? "firing" : "resolved"));
        json_object_set_new(ao, "score", num_or_null(a->score));
        json_object_set_new(ao, "value", num_or_null(a->value));
        json_array_append_new(alerts, ao);
    }
    json_object_set_new(o, "series", series);
    json_object_set_new(o, "alerts", alerts);
    return o;
}

void vg_history_get_stats(const struct vg_history *h, struct vg_history_stats *out)
{
    if (h)
        *out = h->st;
    else
        memset(out, 0, sizeof(*out));
}

static void free_host(void *v)
{
    struct hhost *hh = v;
    vg_strmap_free(&hh->series, free_series);
    for (size_t i = 0; i < VG_HISTORY_ALERTS_PER_HOST; i++)
        free(hh->alerts[i].series);
    free(hh);
}

void vg_history_forget_host(struct vg_history *h, const char *host)
{
    struct hhost *hh = h ? vg_strmap_del(&h->hosts, host) : NULL;
    if (!hh)
        return;
    h->st.hosts--;
    h->st.series -= hh->series.n;
    h->st.bytes -= sizeof(*hh) + hh->series.n * series_bytes(h);
    free_host(hh);
}

void vg_history_free(struct vg_history *h)
{
    if (!h)
        return;
    vg_strmap_free(&h->hosts, free_host);
    free(h);
}
