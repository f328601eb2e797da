#include "vg_silence.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vg_atomicfile.h"
#include "vg_config.h"
#include "vg_format.h"
#include "vg_log.h"
#include "vg_util.h"

#define MAX_MATCHERS 32

struct vg_silence {
    char id[VG_SILENCE_ID_LEN];
    char **text; /* matchers as written */
    struct vg_rule_select *m;
    size_t n;
    int64_t starts_ms, ends_ms;
    char *created_by, *comment;
};

struct vg_silences {
    struct vg_silence **v;
    size_t n, cap; /* cap: v's room, which a prepared add sets aside */
    uint64_t gen;
    uint64_t snaps; /* snapshots taken: the seq of the last one */
    /* Bumped whenever v's members, their order or their matchers' meaning could change (an add,
     * a removal): memos (vg_silence_memo) of indices into v are stale then. An expiry only
     * shortens a time window, which the memos check on every call. */
    uint64_t layout;
    uint64_t match_evals;
};

int vg_silences_new(struct vg_silences **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

static void silence_free(struct vg_silence *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->n; i++) {
        free(x->text[i]);
        vg_rule_select_free(&x->m[i]);
    }
    free(x->text);
    free(x->m);
    free(x->created_by);
    free(x->comment);
    free(x);
}

void vg_silences_free(struct vg_silences *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        silence_free(s->v[i]);
    free(s->v);
    free(s);
}

int vg_silence_parse_time(const char *s, int64_t *out_ms)
{
    return vg_parse_rfc3339_ms(s, 0, out_ms);
}

/* Silences live between 1970 and 9999 (RFC 3339's four-digit years): the bounds keep every
 * sum of a time and a duration (at most a few thousand years) far from int64 overflow. */
#define TIME_MAX_MS 253402300799999LL

/* A time given as RFC 3339 text or Unix ms. */
static int json_time(json_t *v, const char *what, int64_t *out, char *err, size_t errlen)
{
    int ok = 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        ok = 1;
    } else if (json_is_string(v) && vg_silence_parse_time(json_string_value(v), out) == 0) {
        ok = 1;
    }
    if (ok && (*out < 0 || *out > TIME_MAX_MS))
        return vg_err(err, errlen, -EINVAL, "%s: outside 1970-01-01 .. 9999-12-31", what);
    if (ok)
        return 0;
    return vg_err(err, errlen, -EINVAL,
                  "%s: expected RFC 3339 (e.g. 2026-11-23T15:00:00Z) or Unix milliseconds", what);
}

static int opt_text(json_t *o, const char *key, size_t max, char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return vg_err(err, errlen, -EINVAL, "%s: must be a string", key);
    if (json_string_length(v) > max)
        return vg_err(err, errlen, -EINVAL, "%s: longer than %zu bytes", key, max);
    *out = strdup(json_string_value(v));
    return *out ? 0 : -ENOMEM;
}

static void new_id(char id[VG_SILENCE_ID_LEN])
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)vg_now_ms() * 6364136223846793005ULL ^ (uint64_t)getpid();
    snprintf(id, VG_SILENCE_ID_LEN, "%016llx", (unsigned long long)r);
}

static int reserve(struct vg_silences *s, size_t n)
{
    if (n <= s->cap)
        return 0;
    struct vg_silence **nv = realloc(s->v, n * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    s->v = nv;
    s->cap = n;
    return 0;
}

static int add_parsed(struct vg_silences *s, struct vg_silence *x)
{
    int rc = reserve(s, s->n + 1);
    if (rc)
        return rc;
    s->v[s->n++] = x;
    s->gen++;
    s->layout++;
    return 0;
}

/* Builds a silence from its JSON object; the id is taken from the object when it has one (a
 * load), else made up. */
static int from_json(json_t *o, int64_t now_ms, int loading, struct vg_silence **out, char *err,
                     size_t errlen)
{
    static const char *const known[] = {"matchers",   "starts_at", "ends_at", "duration",
                                        "created_by", "comment",   "id"};
    if (!json_is_object(o))
        return vg_err(err, errlen, -EINVAL, "the body must be a JSON object (docs/api.md)");
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        size_t i;
        for (i = 0; i < VG_ARRAY_LEN(known); i++)
            if (strcmp(key, known[i]) == 0)
                break;
        if (i == VG_ARRAY_LEN(known) || (!loading && strcmp(key, "id") == 0))
            return vg_err(err, errlen, -EINVAL,
                          "unknown field '%.64s' (known: matchers, starts_at, ends_at, duration, "
                          "created_by, comment)",
                          key);
    }
    json_t *ms = json_object_get(o, "matchers");
    if (!json_is_array(ms) || json_array_size(ms) == 0)
        return vg_err(err, errlen, -EINVAL,
                      "matchers: a non-empty list of matchers such as [\"host=~\\\"web-.*\\\"\"]");
    if (json_array_size(ms) > MAX_MATCHERS)
        return vg_err(err, errlen, -EINVAL, "matchers: more than %d", MAX_MATCHERS);
    struct vg_silence *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    int rc = 0;
    size_t n = json_array_size(ms);
    if (!(x->text = calloc(n, sizeof(char *))) || !(x->m = calloc(n, sizeof(*x->m)))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(ms, i);
        if (!json_is_string(t)) {
            rc = vg_err(err, errlen, -EINVAL, "matchers[%zu]: must be a string", i);
            goto fail;
        }
        char msg[VG_ERRLEN];
        size_t off;
        rc = vg_rule_select_parse(json_string_value(t), &x->m[i], &off, msg, sizeof(msg));
        if (rc) {
            vg_err(err, errlen, rc, "matchers: %s", msg);
            goto fail;
        }
        if (!(x->text[i] = strdup(json_string_value(t)))) {
            vg_rule_select_free(&x->m[i]);
            rc = -ENOMEM;
            goto fail;
        }
        x->n++;
    }
    x->starts_ms = now_ms;
    json_t *v;
    if ((v = json_object_get(o, "starts_at")) && !json_is_null(v) &&
        (rc = json_time(v, "starts_at", &x->starts_ms, err, errlen)))
        goto fail;
    json_t *ends = json_object_get(o, "ends_at"), *dur = json_object_get(o, "duration");
    /* null is absent, as for the other optional fields: clients that write every field send
     * "ends_at": null with a duration. */
    if (json_is_null(ends))
        ends = NULL;
    if (json_is_null(dur))
        dur = NULL;
    if (ends && dur) {
        rc = vg_err(err, errlen, -EINVAL, "give either ends_at or duration, not both");
        goto fail;
    }
    if (ends) {
        if ((rc = json_time(ends, "ends_at", &x->ends_ms, err, errlen)))
            goto fail;
    } else if (dur) {
        int64_t d;
        if (!json_is_string(dur) || vg_parse_duration_ms(json_string_value(dur), &d) < 0 ||
            d <= 0) {
            rc = vg_err(err, errlen, -EINVAL, "duration: expected e.g. 30m, 2h, 1d");
            goto fail;
        }
        if (d > TIME_MAX_MS - x->starts_ms) {
            rc = vg_err(err, errlen, -EINVAL, "duration: ends after 9999-12-31");
            goto fail;
        }
        x->ends_ms = x->starts_ms + d;
    } else {
        rc = vg_err(err, errlen, -EINVAL, "ends_at or duration is required");
        goto fail;
    }
    /* A pending silence expired through DELETE ends where it starts; it is saved and loaded
     * back while it is listed. */
    if (loading ? x->ends_ms < x->starts_ms : x->ends_ms <= x->starts_ms) {
        rc = vg_err(err, errlen, -EINVAL, "ends_at is before starts_at");
        goto fail;
    }
    /* One that has already ended would silence nothing and be collected at once; a loaded one
     * is collected as usual. */
    if (!loading && x->ends_ms <= now_ms) {
        rc = vg_err(err, errlen, -EINVAL, "ends_at is in the past: the silence would hold nothing");
        goto fail;
    }
    if ((rc = opt_text(o, "created_by", 256, &x->created_by, err, errlen)) ||
        (rc = opt_text(o, "comment", 1024, &x->comment, err, errlen)))
        goto fail;
    json_t *id = json_object_get(o, "id");
    if (loading && json_is_string(id) && json_string_length(id) == VG_SILENCE_ID_LEN - 1)
        memcpy(x->id, json_string_value(id), VG_SILENCE_ID_LEN);
    else
        new_id(x->id);
    *out = x;
    return 0;
fail:
    silence_free(x);
    return rc;
}

static void gc(struct vg_silences *s, int64_t now);

static void drop_at(struct vg_silences *s, size_t i)
{
    silence_free(s->v[i]);
    memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof(*s->v));
    s->n--;
    s->layout++;
}

static int dropped(const struct vg_silences_change *ch, const char *id)
{
    for (size_t k = 0; k < ch->n_drop; k++)
        if (strcmp(ch->drop[k], id) == 0)
            return 1;
    return 0;
}

/* Only silences that still hold (active or pending) count against VG_SILENCE_MAX: expired ones
 * stay listed for VG_SILENCE_KEEP_MS as a courtesy, and must not refuse a new silence when none
 * is in force. At the cap the ones that ended longest ago make room, named in ch->drop and
 * dropped only by vg_silences_apply(): dropped here, an add the API then refused (503, the file
 * not written) took them off the list until a restart loaded them back from the file. */
static int find_room(struct vg_silences *s, int64_t now, struct vg_silences_change *ch, char *err,
                     size_t errlen)
{
    if (s->n < VG_SILENCE_MAX)
        return 0;
    gc(s, now); /* past VG_SILENCE_KEEP_MS: gone from any listing and from the next load */
    size_t need = s->n >= VG_SILENCE_MAX ? s->n - VG_SILENCE_MAX + 1 : 0, ended = 0;
    if (!need)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        ended += s->v[i]->ends_ms <= now;
    if (ended < need)
        return vg_err(err, errlen, -ENOSPC, "%d silences are active or pending already",
                      VG_SILENCE_MAX);
    if (!(ch->drop = calloc(need, sizeof(*ch->drop))))
        return -ENOMEM;
    while (ch->n_drop < need) {
        size_t old = s->n;
        for (size_t i = 0; i < s->n; i++)
            if (s->v[i]->ends_ms <= now && !dropped(ch, s->v[i]->id) &&
                (old == s->n || s->v[i]->ends_ms < s->v[old]->ends_ms))
                old = i;
        if (old == s->n) /* ids not unique after all (vg_silences_load skips repeats) */
            return vg_err(err, errlen, -ENOSPC, "%d silences are active or pending already",
                          VG_SILENCE_MAX);
        memcpy(ch->drop[ch->n_drop++], s->v[old]->id, VG_SILENCE_ID_LEN);
    }
    return 0;
}

int vg_silences_prepare_add(struct vg_silences *s, const char *body, size_t len, int64_t now_ms,
                            struct vg_silences_change *ch, char *err, size_t errlen)
{
    memset(ch, 0, sizeof(*ch));
    json_error_t je;
    /* A repeated key would otherwise keep its last value silently ("duration" given twice). */
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o && je.line < 1) /* no place in the body (jansson's -1) */
        return vg_err(err, errlen, -EINVAL, "body is not JSON: %s", je.text);
    if (!o)
        return vg_err(err, errlen, -EINVAL, "body is not JSON: %s (line %d, column %d)", je.text,
                      je.line, je.column);
    struct vg_silence *x;
    int rc = from_json(o, now_ms, 0, &x, err, errlen);
    json_decref(o);
    if (rc)
        return rc;
    /* Room found now (only expired silences go) and memory set aside: the add itself cannot fail
     * once the file holds it. */
    if ((rc = find_room(s, now_ms, ch, err, errlen)) || (rc = reserve(s, s->n + 1))) {
        silence_free(x);
        vg_silences_change_free(ch);
        return rc;
    }
    memcpy(ch->id, x->id, VG_SILENCE_ID_LEN);
    ch->now_ms = now_ms;
    ch->add = x;
    return 0;
}

static struct vg_silence *find(const struct vg_silences *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->id, id) == 0)
            return s->v[i];
    return NULL;
}

int vg_silences_prepare_expire(struct vg_silences *s, const char *id, int64_t now_ms,
                               struct vg_silences_change *ch)
{
    memset(ch, 0, sizeof(*ch));
    if (strlen(id) != VG_SILENCE_ID_LEN - 1 || !find(s, id))
        return -ENOENT;
    memcpy(ch->id, id, VG_SILENCE_ID_LEN);
    ch->now_ms = now_ms;
    return 0;
}

/* x as an expiry at now leaves it: a copy that shares x's strings. */
static struct vg_silence expired(const struct vg_silence *x, int64_t now)
{
    struct vg_silence e = *x;
    if (e.ends_ms > now)
        e.ends_ms = now;
    if (e.starts_ms > e.ends_ms)
        e.starts_ms = e.ends_ms;
    return e;
}

int vg_silences_apply(struct vg_silences *s, struct vg_silences_change *ch)
{
    if (ch->add) {
        /* Gone already when they ended over VG_SILENCE_KEEP_MS ago meanwhile (gc). */
        for (size_t i = s->n; i-- > 0;)
            if (dropped(ch, s->v[i]->id))
                drop_at(s, i);
        int rc = add_parsed(s, ch->add);
        if (!rc)
            ch->add = NULL;
        return rc;
    }
    struct vg_silence *x = find(s, ch->id);
    if (!x)
        return -ENOENT;
    *x = expired(x, ch->now_ms);
    /* No layout change: the memos keep the silence, and its time window now rules it out. */
    s->gen++;
    return 0;
}

void vg_silences_change_free(struct vg_silences_change *ch)
{
    silence_free(ch->add);
    ch->add = NULL;
    free(ch->drop);
    ch->drop = NULL;
    ch->n_drop = 0;
}

int vg_silences_add_json(struct vg_silences *s, const char *body, size_t len, int64_t now_ms,
                         char id[VG_SILENCE_ID_LEN], char *err, size_t errlen)
{
    struct vg_silences_change ch;
    int rc = vg_silences_prepare_add(s, body, len, now_ms, &ch, err, errlen);
    if (!rc && !(rc = vg_silences_apply(s, &ch)))
        memcpy(id, ch.id, VG_SILENCE_ID_LEN);
    vg_silences_change_free(&ch);
    return rc;
}

int vg_silences_expire(struct vg_silences *s, const char *id, int64_t now_ms)
{
    struct vg_silences_change ch;
    int rc = vg_silences_prepare_expire(s, id, now_ms, &ch);
    return rc ? rc : vg_silences_apply(s, &ch);
}

static const char *state_of(const struct vg_silence *x, int64_t now)
{
    return now < x->starts_ms ? "pending" : now < x->ends_ms ? "active" : "expired";
}

static json_t *to_json(const struct vg_silence *x, int64_t now)
{
    json_t *o = json_object(), *m = json_array();
    for (size_t i = 0; i < x->n; i++)
        json_array_append_new(m, json_string(x->text[i]));
    json_object_set_new(o, "id", json_string(x->id));
    json_object_set_new(o, "matchers", m);
    json_object_set_new(o, "starts_at", vg_fmt_time(x->starts_ms));
    json_object_set_new(o, "starts_at_ms", json_integer(x->starts_ms));
    json_object_set_new(o, "ends_at", vg_fmt_time(x->ends_ms));
    json_object_set_new(o, "ends_at_ms", json_integer(x->ends_ms));
    json_object_set_new(o, "created_by", vg_fmt_str(x->created_by ? x->created_by : ""));
    json_object_set_new(o, "comment", vg_fmt_str(x->comment ? x->comment : ""));
    json_object_set_new(o, "state", json_string(state_of(x, now)));
    return o;
}

static void gc(struct vg_silences *s, int64_t now)
{
    size_t o = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i]->ends_ms + VG_SILENCE_KEEP_MS < now)
            silence_free(s->v[i]);
        else
            s->v[o++] = s->v[i];
    }
    if (o != s->n)
        s->layout++;
    s->n = o;
}

json_t *vg_silences_json(struct vg_silences *s, const char *id, int64_t now_ms)
{
    gc(s, now_ms);
    if (id) {
        for (size_t i = 0; i < s->n; i++)
            if (strcmp(s->v[i]->id, id) == 0)
                return to_json(s->v[i], now_ms);
        return NULL;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < s->n; i++)
        json_array_append_new(a, to_json(s->v[i], now_ms));
    json_t *o = json_object();
    json_object_set_new(o, "silences", a);
    return o;
}

json_t *vg_silences_change_json(const struct vg_silences *s, const struct vg_silences_change *ch)
{
    if (ch->add)
        return to_json(ch->add, ch->now_ms);
    const struct vg_silence *x = find(s, ch->id);
    if (!x)
        return NULL;
    struct vg_silence e = expired(x, ch->now_ms);
    return to_json(&e, ch->now_ms);
}

static int matchers_hold(struct vg_silences *s, const struct vg_silence *x, vg_rule_label_fn lookup,
                         const void *ud)
{
    s->match_evals++;
    for (size_t k = 0; k < x->n; k++)
        if (!vg_rule_select_match(&x->m[k], lookup, ud))
            return 0;
    return 1;
}

static size_t note_match(const struct vg_silence *x, int64_t now_ms, const char **ids, size_t max,
                         size_t found)
{
    if (now_ms < x->starts_ms || now_ms >= x->ends_ms)
        return found;
    if (found < max)
        ids[found] = x->id;
    return found + 1;
}

size_t vg_silences_match(struct vg_silences *s, vg_rule_label_fn lookup, const void *ud,
                         int64_t now_ms, const char **ids, size_t max)
{
    size_t found = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct vg_silence *x = s->v[i];
        if (now_ms >= x->starts_ms && now_ms < x->ends_ms && matchers_hold(s, x, lookup, ud))
            found = note_match(x, now_ms, ids, max, found);
    }
    return found;
}

size_t vg_silences_match_memo(struct vg_silences *s, struct vg_silence_memo *memo,
                              vg_rule_label_fn lookup, const void *ud, int64_t now_ms,
                              const char **ids, size_t max)
{
    if (!memo->valid || memo->layout != s->layout) {
        /* Silences that ended never hold again (an API change is made only once saved, so an
         * expiry is never taken back): pending and active ones are all that need their matchers
         * run. */
        size_t n = 0;
        size_t *idx = NULL;
        for (size_t i = 0; i < s->n; i++) {
            if (s->v[i]->ends_ms <= now_ms || !matchers_hold(s, s->v[i], lookup, ud))
                continue;
            size_t *ni = realloc(idx, (n + 1) * sizeof(*ni));
            if (!ni) { /* out of memory: answer without a memo */
                free(idx);
                vg_silence_memo_free(memo);
                return vg_silences_match(s, lookup, ud, now_ms, ids, max);
            }
            idx = ni;
            idx[n++] = i;
        }
        free(memo->idx);
        memo->idx = idx;
        memo->n = n;
        memo->layout = s->layout;
        memo->valid = 1;
    }
    size_t found = 0;
    for (size_t k = 0; k < memo->n; k++)
        found = note_match(s->v[memo->idx[k]], now_ms, ids, max, found);
    return found;
}

void vg_silence_memo_free(struct vg_silence_memo *memo)
{
    free(memo->idx);
    memset(memo, 0, sizeof(*memo));
}

uint64_t vg_silences_match_evals(const struct vg_silences *s)
{
    return s->match_evals;
}

size_t vg_silences_active(const struct vg_silences *s, int64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += now_ms >= s->v[i]->starts_ms && now_ms < s->v[i]->ends_ms;
    return n;
}

uint64_t vg_silences_generation(const struct vg_silences *s)
{
    return s->gen;
}

static int snapshot(struct vg_silences *s, int64_t now_ms, const struct vg_silences_change *ch,
                    struct vg_silences_snap *snap)
{
    json_t *a = json_array();
    /* Expired ones too, while they are listed (gc's rule): a restart must not forget who
     * silenced what an hour ago. */
    for (size_t i = 0; a && i < s->n; i++) {
        struct vg_silence e = *s->v[i];
        if (ch && !ch->add && strcmp(e.id, ch->id) == 0)
            e = expired(&e, ch->now_ms);
        if (ch && ch->add && dropped(ch, e.id)) /* the room it takes */
            continue;
        if (!(e.ends_ms + VG_SILENCE_KEEP_MS < now_ms))
            json_array_append_new(a, to_json(&e, now_ms));
    }
    if (a && ch && ch->add) /* where vg_silences_apply() puts it */
        json_array_append_new(a, to_json(ch->add, now_ms));
    /* A tree of its own (jansson copies the strings): its text is made by the write. */
    snap->doc = a;
    if (!a)
        return -ENOMEM;
    snap->seq = ++s->snaps;
    return 0;
}

int vg_silences_snapshot(struct vg_silences *s, int64_t now_ms, struct vg_silences_snap *snap)
{
    return snapshot(s, now_ms, NULL, snap);
}

int vg_silences_snapshot_change(struct vg_silences *s, const struct vg_silences_change *ch,
                                struct vg_silences_snap *snap)
{
    return snapshot(s, ch->now_ms, ch, snap);
}

void vg_silences_snap_free(struct vg_silences_snap *snap)
{
    json_decref(snap->doc);
    snap->doc = NULL;
}

int vg_silences_write(const struct vg_silences_snap *snap, const char *path, uint64_t *written,
                      char *err, size_t errlen)
{
    /* A later snapshot holds every change this one does: writing this one over it would lose
     * the changes in between, already answered as saved. */
    if (snap->seq <= *written)
        return 1;
    char *text = json_dumps(snap->doc, JSON_INDENT(1));
    if (!text)
        return vg_err(err, errlen, -ENOMEM, "silences.file %s: out of memory", path);
    /* A crash leaves the old file or the new one, never a torn one that would stop the next
     * start. The directory's sync is best effort: once the rename is done the file holds the
     * change, and refusing the change then would leave the file and the store disagreeing. */
    static const char what[] = "silences.file ";
    char why[VG_ERRLEN];
    /* Asked to fit in what "silences.file " leaves of err, it shortens the path rather than lose
     * the cause at its end. */
    size_t left = errlen > sizeof(what) ? errlen - (sizeof(what) - 1) : sizeof(why);
    int rc = vg_atomicfile_write(path, text, strlen(text), 0600, VG_ATOMICFILE_DIRSYNC_BEST_EFFORT,
                                 why, left < sizeof(why) ? left : sizeof(why));
    free(text);
    if (rc)
        return vg_err(err, errlen, rc, "%s%s", what, why);
    *written = snap->seq;
    return 0;
}

int vg_silences_save(struct vg_silences *s, const char *path, int64_t now_ms, char *err,
                     size_t errlen)
{
    struct vg_silences_snap snap;
    uint64_t written = 0;
    int rc = vg_silences_snapshot(s, now_ms, &snap);
    if (rc)
        return vg_err(err, errlen, rc, "silences.file %s: out of memory", path);
    rc = vg_silences_write(&snap, path, &written, err, errlen);
    vg_silences_snap_free(&snap);
    return rc;
}

/* vg_silences_save() makes path.tmp beside path and renames it over path, so its directory must
 * exist and take new files, and path must not be a directory. */
int vg_silences_file_check(const char *path, char *err, size_t errlen)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        *(slash == dir ? slash + 1 : slash) = '\0';
    struct stat st;
    int e = 0;
    if (stat(dir, &st) != 0)
        e = errno;
    else if (!S_ISDIR(st.st_mode))
        e = ENOTDIR;
    else if (access(dir, W_OK | X_OK) != 0)
        e = errno;
    if (e)
        return vg_err(err, errlen, -e,
                      "silences.file %s: directory %s: %s (silences could not be saved)", path, dir,
                      strerror(e));
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return vg_err(err, errlen, -EISDIR, "silences.file %s: is a directory", path);
    return 0;
}

int vg_silences_load(struct vg_silences *s, const char *path, int64_t now_ms, uint64_t *skipped,
                     char *err, size_t errlen)
{
    /* Refused at start rather than at the first silence: the API would answer 201 to silences
     * that a restart then loses, with only a log line to say so. */
    int rc = vg_silences_file_check(path, err, errlen);
    if (rc < 0)
        return rc;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT
                   ? 0
                   : vg_err(err, errlen, -errno, "silences.file %s: %s", path, strerror(errno));
    json_error_t je;
    /* An empty file holds no silences (what a crash between creating and writing leaves with
     * an older analyzer, or an operator's `: > file`). */
    int c = fgetc(f);
    if (c == EOF) {
        fclose(f);
        return 0;
    }
    ungetc(c, f);
    json_t *a = json_loadf(f, 0, &je);
    fclose(f);
    if (!json_is_array(a)) {
        json_decref(a);
        return vg_err(err, errlen, -EINVAL, "silences.file %s: not a JSON list of silences (%s)",
                      path, je.text);
    }
    size_t i;
    json_t *o;
    json_array_foreach(a, i, o)
    {
        json_t *copy = json_deep_copy(o);
        /* Written by us: drop what to_json adds that a request does not take. */
        json_object_del(copy, "starts_at_ms");
        json_object_del(copy, "ends_at_ms");
        json_object_del(copy, "state");
        struct vg_silence *x;
        char msg[VG_ERRLEN];
        rc = from_json(copy, now_ms, 1, &x, msg, sizeof(msg));
        json_decref(copy);
        if (rc == -ENOMEM) {
            rc = vg_err(err, errlen, rc, "silences.file %s: out of memory", path);
            break;
        }
        if (rc) {
            /* Saved by an older analyzer that took what this one refuses (a backreference in a
             * matcher, say): the other silences still hold, and refusing the start over it would
             * keep the analyzer down. It is gone from the file at the next save. */
            json_t *id = json_object_get(o, "id");
            char q[VG_ERRLEN + 8], qid[80];
            vg_warn("silences.file: silence refused, skipped", "file=%s index=%zu id=%s reason=%s",
                    path, i,
                    vg_log_quote(qid, sizeof qid, json_is_string(id) ? json_string_value(id) : "-"),
                    vg_log_quote(q, sizeof q, msg));
            if (skipped)
                (*skipped)++;
            rc = 0;
            continue;
        }
        if (x->ends_ms + VG_SILENCE_KEEP_MS < now_ms) {
            silence_free(x);
            continue;
        }
        /* A hand-edited or merged file may repeat an id: changes name silences by id, so an add
         * at the cap that dropped the expired one of two took the active one with it. The one
         * that ends later is kept. */
        struct vg_silence *dup = find(s, x->id);
        if (dup) {
            struct vg_silence *skip = x;
            if (x->ends_ms > dup->ends_ms) {
                for (size_t k = 0; k < s->n; k++)
                    if (s->v[k] == dup)
                        s->v[k] = x;
                skip = dup;
            }
            char qid[80];
            vg_warn("silences.file: silence with an id already loaded, skipped (the one that ends "
                    "later is kept)",
                    "file=%s index=%zu id=%s", path, i, vg_log_quote(qid, sizeof qid, x->id));
            silence_free(skip);
            if (skipped)
                (*skipped)++;
            continue;
        }
        if ((rc = add_parsed(s, x))) {
            silence_free(x);
            break;
        }
    }
    json_decref(a);
    return rc;
}
