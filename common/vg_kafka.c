#include "vg_kafka.h"

#include <errno.h>
#include <string.h>

#include "vg_log.h"
#include "vg_util.h"

/* librdkafka logs with syslog levels (0 emerg .. 7 debug). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum vg_log_level l = level <= 3   ? VG_LOG_ERROR
                          : level == 4 ? VG_LOG_WARN
                          : level <= 6 ? VG_LOG_INFO
                                       : VG_LOG_DEBUG;
    char q[512];
    vg_log(l, "librdkafka", "client=%s facility=%s detail=%s", rd_kafka_name(rk), fac,
           vg_log_quote(q, sizeof(q), buf));
}

static int set_prop(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char rkerr[256];
    if (rd_kafka_conf_set(conf, k, v, rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK)
        return vg_err(err, errlen, -EINVAL, "kafka property '%s': %s", k, rkerr);
    return 0;
}

int vg_kafka_conf_new(rd_kafka_conf_t **out, const struct vg_kafka_prop *defaults,
                      const struct vg_kvlist *user, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return -ENOMEM;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    int rc = 0;
    for (const struct vg_kafka_prop *p = defaults; !rc && p && p->key; p++)
        rc = set_prop(conf, p->key, p->value, err, errlen);
    for (size_t i = 0; !rc && user && i < user->n; i++)
        rc = set_prop(conf, user->items[i].key, user->items[i].value, err, errlen);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    *out = conf;
    return 0;
}
