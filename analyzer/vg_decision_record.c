#include "vg_decision_record.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vg_util.h"

/* An optional count: absent or null gives -1, an integer in [0, INT32_MAX] itself; anything
 * else (another type, negative, beyond an int) is an error, not a wrapped int. */
static int opt_count(json_t *o, const char *key, int64_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return vg_err(err, errlen, -EINVAL, "\"%s\" is not a count from 0 to 2147483647", key);
    *out = json_integer_value(v);
    return 0;
}

int vg_decision_record_parse(const void *key, size_t key_len, const void *payload, size_t len,
                             struct vg_decision_record *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    json_error_t je;
    json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return vg_err(err, errlen, -EINVAL, "not JSON: %s", je.text);
    const char *name = json_string_value(json_object_get(o, "target"));
    json_t *des = json_object_get(o, "desired"), *tm = json_object_get(o, "time_ms");
    json_t *ch = json_object_get(o, "changed_at_ms");
    int64_t rec = -1, cur = -1, hosts = -1;
    int rc = 0;
    if (!json_is_object(o))
        rc = vg_err(err, errlen, -EINVAL, "not a JSON object");
    else if (!name || !*name || strlen(name) >= sizeof(r->target))
        rc = vg_err(err, errlen, -EINVAL, "no \"target\" string");
    else if (!key || key_len != strlen(name) || memcmp(key, name, key_len) != 0)
        rc = vg_err(err, errlen, -EINVAL, "key is not the record's target");
    else if (!json_is_integer(des) || json_integer_value(des) < 0 ||
             json_integer_value(des) > INT32_MAX)
        rc = vg_err(err, errlen, -EINVAL, "\"desired\" is not a replica count");
    else if (!json_is_integer(tm) && !json_is_null(tm))
        rc = vg_err(err, errlen, -EINVAL, "\"time_ms\" is not an integer");
    else if (ch && !json_is_integer(ch) && !json_is_null(ch))
        rc = vg_err(err, errlen, -EINVAL, "\"changed_at_ms\" is not an integer");
    else if ((rc = opt_count(o, "recommended", &rec, err, errlen)) == 0 &&
             (rc = opt_count(o, "current", &cur, err, errlen)) == 0)
        rc = opt_count(o, "hosts", &hosts, err, errlen);
    if (!rc) {
        snprintf(r->target, sizeof(r->target), "%s", name);
        r->desired = (int)json_integer_value(des);
        /* A target not yet evaluated publishes no time: it decided nothing to keep a window
         * for. */
        r->time_ms = json_is_integer(tm) ? json_integer_value(tm) : INT64_MIN;
        r->changed_ms = json_is_integer(ch) ? json_integer_value(ch) : INT64_MIN;
        r->recommended = (int)rec;
        r->current = (int)cur;
        r->hosts = hosts;
        json_t *metric = json_object_get(o, "metric");
        r->metric = json_is_number(metric) ? json_number_value(metric) : NAN;
        const char *reason = json_string_value(json_object_get(o, "reason"));
        snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
        const char *by = json_string_value(json_object_get(o, "decided_by"));
        if (by && strlen(by) < sizeof(r->decided_by))
            snprintf(r->decided_by, sizeof(r->decided_by), "%s", by);
        r->fleet = json_is_true(json_object_get(o, "fleet"));
        r->changed = json_is_true(json_object_get(o, "changed"));
    }
    json_decref(o);
    return rc;
}
