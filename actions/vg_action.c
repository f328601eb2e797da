#include "vg_action.h"
#include "vg_format.h"
#include "vg_log.h"
#include "vg_util.h"
#include "vg_webhook.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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

#define SECRET_MAX 4096

int vg_action_read_secret(const char *path, const char *what, char **out, size_t *len, char *err,
                          size_t errlen)
{
    *out = NULL;
    *len = 0;
    if (!path || !*path)
        return vg_err(err, errlen, -EINVAL, "%s: no file given", what);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return vg_err(err, errlen, -e, "%s: cannot open %s: %s", what, path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vg_err(err, errlen, -EINVAL, "%s: %s is not a regular file", what, path);
    }
    if (st.st_size > SECRET_MAX) {
        close(fd);
        return vg_err(err, errlen, -EINVAL,
                      "%s: %s is %lld bytes; a secret file holds one line of at most %d", what,
                      path, (long long)st.st_size, SECRET_MAX);
    }
    char *buf = malloc(SECRET_MAX + 1);
    if (!buf) {
        close(fd);
        return vg_err(err, errlen, -ENOMEM, "%s: out of memory", what);
    }
    size_t n = 0;
    while (n < SECRET_MAX) {
        ssize_t r = read(fd, buf + n, SECRET_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            vg_action_secret_free(buf, SECRET_MAX + 1);
            return vg_err(err, errlen, -e, "%s: cannot read %s: %s", what, path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    /* Editors add a trailing newline; "echo key > file" too. Whitespace is never part of a key. */
    size_t b = 0;
    while (b < n && (buf[b] == ' ' || buf[b] == '\t' || buf[b] == '\r' || buf[b] == '\n'))
        b++;
    while (n > b &&
           (buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\r' || buf[n - 1] == '\n'))
        n--;
    if (n == b) {
        vg_action_secret_free(buf, SECRET_MAX + 1);
        return vg_err(err, errlen, -EINVAL, "%s: %s is empty", what, path);
    }
    if (memchr(buf + b, '\n', n - b) || memchr(buf + b, '\0', n - b)) {
        vg_action_secret_free(buf, SECRET_MAX + 1);
        return vg_err(err, errlen, -EINVAL, "%s: %s must hold a single line", what, path);
    }
    memmove(buf, buf + b, n - b);
    n -= b;
    explicit_bzero(buf + n, SECRET_MAX + 1 - n);
    buf[n] = '\0';
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        char q[512];
        vg_warn("secret file is accessible to group or others; chmod 600 it", "what=%s file=%s",
                what, vg_log_quote(q, sizeof(q), path));
    }
    *out = buf;
    *len = n;
    return 0;
}

void vg_action_secret_free(char *s, size_t len)
{
    if (!s)
        return;
    explicit_bzero(s, len);
    free(s);
}
