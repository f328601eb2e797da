/* Per-device state for collectors whose devices come and go (disks, interfaces): a small table
 * keyed by the device's name as it appears in metric names.
 *
 * A tick brackets one pass over the source file: vg_devtab_begin(), one vg_devtab_get() per
 * device line, vg_devtab_end(). An entry not seen in a tick is dropped at its end: a name that
 * comes back may be another device (a container's veth, a re-created dm device), and comparing it
 * with the old one's counters would report a bogus rate, so it starts over as a new device and
 * skips one sample. That also keeps a host that churns through veth interfaces from growing the
 * table. Entries stay in file order so that lookups, which start where the previous one matched,
 * are O(1) in the steady state.
 */
#ifndef VG_DEVTAB_H
#define VG_DEVTAB_H

#include <stddef.h>
#include <stdint.h>

#include "proc_parse.h"
#include "vg_rate.h"
#include "vg_wire.h"

#define VG_DEVTAB_RATES 8
#define VG_DEVTAB_MAX   4096 /* devices tracked at most; more are not reported */

struct vg_dev {
    char name[VG_DEV_NAME_MAX + 1]; /* sanitised, see vg_metric_sanitise() */
    uint64_t last_seen;             /* tick number */
    unsigned flags;                 /* the collector's own, zero when created */
    struct vg_rate rate[VG_DEVTAB_RATES];
};

struct vg_devtab {
    struct vg_dev *dev; /* owned */
    size_t n, cap;
    size_t hint; /* where the next lookup starts */
    uint64_t tick;
};

/* Zeroes t; nothing is allocated until the first vg_devtab_get(). */
void vg_devtab_init(struct vg_devtab *t);

void vg_devtab_begin(struct vg_devtab *t);

/* Finds or creates the entry for name (already sanitised, NUL-terminated, at most
 * VG_DEV_NAME_MAX bytes) and marks it seen. *dev points into the table until the next get or end.
 * Returns 0 for an existing entry, 1 for a new one, -EEXIST when name was already seen this tick
 * (two raw names that sanitise alike: the second is not reported, so metric names stay unique),
 * -ENOSPC when VG_DEVTAB_MAX entries exist, -ENOMEM. */
int vg_devtab_get(struct vg_devtab *t, const char *name, struct vg_dev **dev);

void vg_devtab_end(struct vg_devtab *t);

void vg_devtab_free(struct vg_devtab *t);

/* Keeps a device collector's metrics within the tick message's size limit
 * (vg_collector_cfg.max_message_bytes; the collector sets keeps_within), as the cgroup collector
 * does. Past that limit Kafka refuses the whole message, so a host with thousands of interfaces or
 * multipath LUNs would lose every metric, every tick. Each device is counted at its longest (every
 * metric, every value at VG_WIRE_METRIC_SIZE_MAX), from its name alone, and in file order: the
 * first that does not fit is left out with every one after it, so the same devices are sent from
 * tick to tick. What the collectors before this one sent varies from tick to tick; the largest of
 * it over the last VG_DEVBUDGET_TICKS to twice as many ticks is counted instead of this tick's,
 * never less than this tick's, so the limit holds and a peak does not make the last devices come
 * and go. */
#define VG_DEVBUDGET_TICKS 60

struct vg_devbudget {
    size_t max_bytes;     /* 0: no limit */
    size_t others_max[2]; /* the most the message held before us, this window and the last */
    uint64_t tick;
    size_t used;           /* this tick: the others' bound plus the devices taken */
    size_t sent, left_out; /* devices this tick */
};

/* Zeroes b; max_bytes 0 takes every device. */
void vg_devbudget_init(struct vg_devbudget *b, size_t max_bytes);

/* Starts a tick whose message out holds what the collectors before this one sent. */
void vg_devbudget_begin(struct vg_devbudget *b, const struct vg_wire_msg *out);

/* Counts bytes of the collector's own that it sends beside its devices (totals, loss counters)
 * against the limit before any device is taken, so that they fit whatever the devices take.
 * After vg_devbudget_begin; a no-op without a limit. */
void vg_devbudget_reserve(struct vg_devbudget *b, size_t bytes);

/* Returns 1 when a device whose metrics add at most bytes to the message fits (it is counted),
 * else 0 (it is left out, and so is every later one this tick). */
int vg_devbudget_take(struct vg_devbudget *b, size_t bytes);

/* For a collector that meets several problems in one tick and returns one error for them all:
 * when rc is 0, writes the message to err and returns code; otherwise appends "; " and the
 * message to what err holds and returns rc, so the first problem's code is kept. */
int vg_devtab_problem(int rc, char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The end of a device collector's tick (net: noun "interface", prefix "net"; disk: "device",
 * "disk"): adds to rc, as vg_devtab_problem does, one problem for each thing the tick left out:
 * devices past VG_DEVTAB_MAX (full), devices past b's size budget, and dups devices whose metric
 * name was an earlier one's (dup_raw as read, dup_key as cleaned up, for the first of them). */
int vg_devtab_report(int rc, const char *path, const char *noun, const char *prefix, int full,
                     const struct vg_devbudget *b, size_t dups, const char *dup_raw,
                     const char *dup_key, char *err, size_t errlen);

/* Copies src[0..len) into dst (dstsize bytes, at least 1) with every byte outside the metric name
 * charset [A-Za-z0-9_.:-] replaced by '_', truncating to fit. Returns the length written. */
size_t vg_metric_sanitise(char *dst, size_t dstsize, const char *src, size_t len);

#endif
