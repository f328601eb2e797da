#include "vg_action.h"

#include "vg_secret.h"
#include "vg_format.h"
#include "vg_log.h"
#include "vg_util.h"
#include "vg_webhook.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const struct vg_action *const vg_actions[] = {
    &vg_webhook_action, &vg_alertmanager_action, &vg_pagerduty_action, &vg_slack_action, NULL,
};

const struct vg_action *vg_action_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; vg_actions[i]; i++) {
        if (strcmp(vg_actions[i]->name, name) == 0)
            return vg_actions[i];
    }
    return NULL;
}

struct stopping {
    const struct vg_action_running *rx;
    int64_t deadline_ms;
    pthread_t thread;
    int started;
};

/* destroy() with what is left of the shared deadline, so that a late start does not extend it. */
static void destroy_by(const struct vg_action_running *rx, int64_t deadline_ms)
{
    int64_t left = deadline_ms - vg_mono_ms();
    rx->act->destroy(rx->inst, left > 0 ? left : 0);
}

static void *stop_main(void *arg)
{
    struct stopping *s = arg;
    destroy_by(s->rx, s->deadline_ms);
    return NULL;
}

void vg_action_destroy_all(const struct vg_action_running *rx, size_t n, int64_t deadline_ms)
{
    struct stopping *s = n ? calloc(n, sizeof(*s)) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (!rx[i].act || !rx[i].inst)
            continue;
        if (s) {
            s[i] = (struct stopping){.rx = &rx[i], .deadline_ms = deadline_ms};
            s[i].started = pthread_create(&s[i].thread, NULL, stop_main, &s[i]) == 0;
        }
        if (!s || !s[i].started)
            destroy_by(&rx[i], deadline_ms); /* in turn, but still within the one deadline */
    }
    for (size_t i = 0; s && i < n; i++) {
        if (s[i].started)
            pthread_join(s[i].thread, NULL);
    }
    free(s);
}

int vg_action_create(const struct vg_receiver_cfg *cfg, const struct vg_action **act, void **inst,
                     char *err, size_t errlen)
{
    *inst = NULL;
    *act = NULL;
    if (!cfg)
        return vg_err(err, errlen, -EINVAL, "receiver: no configuration");
    const char *type = cfg->type ? cfg->type : "webhook";
    const struct vg_action *a = vg_action_find(type);
    if (!a) {
        char known[128] = "";
        size_t o = 0;
        for (size_t i = 0; vg_actions[i] && o < sizeof(known); i++) {
            int w =
                snprintf(known + o, sizeof(known) - o, "%s%s", i ? ", " : "", vg_actions[i]->name);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        char q[80];
        return vg_err(err, errlen, -EINVAL, "receiver type %s is unknown (known: %s)",
                      vg_log_quote(q, sizeof(q), type), known);
    }
    int rc = a->create(inst, cfg, err, errlen);
    if (rc == 0)
        *act = a;
    return rc;
}

char *vg_notification_to_json(const struct vg_notification *n)
{
    json_t *o = json_object();
    json_t *labels = json_object();
    int bad = !o || !labels;

    /* Host labels first so that the reserved keys below win over a host label of the same name:
     * receivers route on them and must be able to trust them. */
    for (size_t i = 0; !bad && i < n->n_labels; i++) {
        const char *k = n->label_keys ? n->label_keys[i] : NULL;
        const char *v = n->label_values ? n->label_values[i] : NULL;
        if (!k || !*k)
            continue;
        json_t *jk = vg_fmt_str(k);
        if (!jk) {
            bad = 1;
            break;
        }
        /* json_object_set_new takes the key as UTF-8; jk holds the sanitised form. */
        bad |= json_object_set_new(labels, json_string_value(jk), vg_fmt_str(v)) != 0;
        json_decref(jk);
    }
    bad |= json_object_set_new(labels, "host", vg_fmt_str(n->host)) != 0;
    if (n->series)
        bad |= json_object_set_new(labels, "series", vg_fmt_str(n->series)) != 0;
    bad |= json_object_set_new(labels, "alertname", vg_fmt_str(n->alertname)) != 0;
    bad |= json_object_set_new(labels, "severity", vg_fmt_str(n->severity)) != 0;

    char summary[1024];
    vg_fmt_summary(n, summary, sizeof(summary));

    bad |= json_object_set_new(o, "version", json_string("1")) != 0;
    bad |= json_object_set_new(o, "status", vg_fmt_str(n->status)) != 0;
    bad |= json_object_set_new(o, "alertname", vg_fmt_str(n->alertname)) != 0;
    bad |= json_object_set_new(o, "fingerprint", vg_fmt_str(n->fingerprint)) != 0;
    bad |= json_object_set_new(o, "host", vg_fmt_str(n->host)) != 0;
    bad |= json_object_set_new(o, "series", vg_fmt_str(n->series)) != 0;
    bad |= json_object_set_new(o, "severity", vg_fmt_str(n->severity)) != 0;
    bad |= json_object_set_new(o, "score", vg_fmt_num(n->score)) != 0;
    bad |= json_object_set_new(o, "value", vg_fmt_num(n->value)) != 0;
    bad |= json_object_set_new(o, "threshold", vg_fmt_num(n->threshold)) != 0;
    bad |= json_object_set_new(o, "starts_at", vg_fmt_time(n->starts_at_ms)) != 0;
    bad |= json_object_set_new(o, "ends_at",
                               n->ends_at_ms ? vg_fmt_time(n->ends_at_ms) : json_null()) != 0;
    bad |= json_object_set_new(o, "event_ts", vg_fmt_time(n->event_ts_ms)) != 0;
    if (!bad) {
        bad |= json_object_set_new(o, "labels", labels) != 0;
        labels = NULL;
    }
    bad |= json_object_set_new(o, "summary", vg_fmt_str(summary)) != 0;
    /* Only when the analyzer ranked metrics, so that receivers of version "1" written before it
     * existed see exactly the documented fields. */
    if (!bad && n->n_top_metrics && n->top_metrics) {
        json_t *top = json_array();
        bad |= !top;
        for (size_t i = 0; !bad && i < n->n_top_metrics; i++) {
            const struct vg_top_metric *m = &n->top_metrics[i];
            json_t *e = json_object();
            bad |= !e;
            if (!bad) {
                bad |= json_object_set_new(e, "name", vg_fmt_str(m->name)) != 0;
                bad |= json_object_set_new(e, "value", vg_fmt_num(m->value)) != 0;
                bad |= json_object_set_new(e, "contribution", vg_fmt_num(m->contribution)) != 0;
            }
            bad |= json_array_append_new(top, e) != 0;
        }
        bad |= json_object_set_new(o, "top_metrics", top) != 0;
    }
    /* Likewise only for a rule's alert, and only for a repeat. */
    if (!bad && n->n_annotations && n->annotation_keys && n->annotation_values) {
        json_t *ann = json_object();
        bad |= !ann;
        for (size_t i = 0; !bad && i < n->n_annotations; i++)
            if (n->annotation_keys[i])
                bad |= json_object_set_new(ann, n->annotation_keys[i],
                                           vg_fmt_str(n->annotation_values[i])) != 0;
        bad |= json_object_set_new(o, "annotations", ann) != 0;
    }
    if (!bad && n->repeat)
        bad |= json_object_set_new(o, "repeat", json_integer(n->repeat)) != 0;

    char *out = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(labels);
    json_decref(o);
    return out;
}

/* Keys never hold whitespace: it is trimmed all round (a Kafka password keeps it, vg_kafka). */
int vg_action_read_secret(const char *path, const char *what, char **out, size_t *len, char *err,
                          size_t errlen)
{
    int rc = vg_secret_read(path, what, VG_SECRET_TRIM_SPACE, out, len, err, errlen);
    if (rc == 0 && vg_secret_register(*out) < 0)
        vg_warn("too many secrets to scrub them all from log lines", "what=%s", what);
    return rc;
}

void vg_action_secret_free(char *s, size_t len)
{
    vg_secret_free(s, len);
}
