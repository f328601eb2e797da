#include "vg_scalefleet.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <cmocka.h>

#include "vg_testproc.h"

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void *produce_loop(void *arg)
{
    struct vg_sf_fleet *f = arg;
    for (uint64_t seq = 1; !f->stop; seq++) {
        int64_t ts = wall_ms();
        for (int h = 0; h < VG_SF_HOSTS; h++) {
            char key[32], val[256];
            snprintf(key, sizeof(key), "%s-%d", f->prefix, h);
            int n = snprintf(val, sizeof(val),
                             "{\"v\":1,\"host\":\"%s-%d\",\"boot\":\"b1\",\"seq\":%llu,\"ts\":%lld,"
                             "\"interval_ms\":200,\"metrics\":{\"q.depth\":%d}}",
                             f->prefix, h, (unsigned long long)seq, (long long)ts, 10 * (h + 1));
            rd_kafka_producev(f->rk, RD_KAFKA_V_TOPIC("vigil.metrics"),
                              RD_KAFKA_V_PARTITION(h % VG_SF_PARTS),
                              RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(val, (size_t)n),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        }
        rd_kafka_poll(f->rk, 0);
        vg_tp_pause_ms(200);
    }
    rd_kafka_flush(f->rk, 10000);
    return NULL;
}

void vg_sf_fleet_start(struct vg_sf_fleet *f, const char *bootstrap, const char *prefix)
{
    memset(f, 0, sizeof(*f));
    assert_true(strlen(prefix) < sizeof(f->prefix));
    snprintf(f->prefix, sizeof(f->prefix), "%s", prefix);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof(e)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "5", e, sizeof(e)), 0);
    f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    assert_non_null(f->rk);
    assert_int_equal(pthread_create(&f->thread, NULL, produce_loop, f), 0);
}

void vg_sf_fleet_stop(struct vg_sf_fleet *f)
{
    f->stop = 1;
    pthread_join(f->thread, NULL);
    rd_kafka_destroy(f->rk);
}

void vg_sf_write_rules(const char *dir, const char *yaml, char *set_rules, size_t len)
{
    char rules[600], rfile[700];
    snprintf(rules, sizeof(rules), "%s/rules", dir);
    assert_int_equal(mkdir(rules, 0700), 0);
    snprintf(rfile, sizeof(rfile), "%s/scale.yaml", rules);
    assert_int_equal(vg_tp_write_atomic(rfile, yaml), 0);
    snprintf(set_rules, len, "rules.dir=%s", rules);
}

void vg_sf_member_of(const struct vg_ap *a, char *out, size_t len)
{
    char *log = vg_tp_read(a->log);
    assert_non_null(log);
    char *p = strstr(log, "msg=\"scaling decisions fleet-wide\"");
    assert_non_null(p);
    p = strstr(p, " member=");
    assert_non_null(p);
    p += 8;
    size_t l = strcspn(p, " \n");
    snprintf(out, len, "%.*s", (int)l, p);
    free(log);
}
