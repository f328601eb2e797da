/* The producer fleet, the `step` policy, the rules directory and the member ids shared by the
 * tests of the analyzers' scaling exchange (test_scale_fleet, test_scale_exchange): VG_SF_HOSTS
 * hosts on a vigil.metrics of VG_SF_PARTS partitions (host h on partition h % VG_SF_PARTS, q.depth
 * 10 * (h + 1), wall-clock event time, one sample each per 200 ms). */
#ifndef VG_SCALEFLEET_H
#define VG_SCALEFLEET_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stddef.h>

#include "vg_analyzerproc.h"

#define VG_SF_HOSTS 8
#define VG_SF_PARTS 4

/* The `step` scaling policy of both tests (one entry of a rules file's `scaling:` list): scales
 * out while q.depth > 75, which holds on host 7 only, one step an interval from 2 up to 4. */
#define VG_SF_STEP_RULE                                                                            \
    "  - target: step\n"                                                                           \
    "    when: value(\"q.depth\") > 75\n"                                                          \
    "    min: 1\n"                                                                                 \
    "    max: 4\n"                                                                                 \
    "    initial: 2\n"                                                                             \
    "    interval: 1s\n"                                                                           \
    "    cooldown: 0s\n"                                                                           \
    "    scale_in_stabilization: 0s\n"

/* A producer thread for the fleet; filled by vg_sf_fleet_start, released by vg_sf_fleet_stop. */
struct vg_sf_fleet {
    rd_kafka_t *rk;
    pthread_t thread;
    volatile int stop;
    char prefix[16]; /* the hosts are PREFIX-0 .. PREFIX-7 */
};

/* Starts producing the fleet's samples to vigil.metrics on bootstrap, hosts named
 * "<prefix>-<h>" (prefix shorter than 16 characters, copied); fails the test when the producer
 * cannot be made. f owns the producer and the thread until vg_sf_fleet_stop. */
void vg_sf_fleet_start(struct vg_sf_fleet *f, const char *bootstrap, const char *prefix);

/* Stops the thread, flushes what it produced (10 s at most) and destroys the producer. */
void vg_sf_fleet_stop(struct vg_sf_fleet *f);

/* Makes dir/rules with yaml as its scale.yaml and writes the analyzer's --set for it
 * ("rules.dir=DIR/rules") into set_rules (len bytes; the caller's buffer). Fails the test when
 * the directory or the file cannot be written. */
void vg_sf_write_rules(const char *dir, const char *yaml, char *set_rules, size_t len);

/* Copies the member id from a's log line "scaling decisions fleet-wide" (which the caller has
 * waited for) into out (len bytes; the caller's buffer); fails the test when there is none. */
void vg_sf_member_of(const struct vg_ap *a, char *out, size_t len);

#endif
