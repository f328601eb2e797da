/* Fixed-bucket histogram with Prometheus text exposition (cumulative buckets, sum, count). */
#ifndef VG_HISTO_H
#define VG_HISTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VG_HISTO_MAX_BUCKETS 24

struct vg_histo {
    const double *bounds; /* upper bounds, increasing; +Inf is implicit */
    size_t n;
    uint64_t counts[VG_HISTO_MAX_BUCKETS + 1];
    double sum;
    uint64_t count;
};

/* bounds must outlive h; n <= VG_HISTO_MAX_BUCKETS. */
void vg_histo_init(struct vg_histo *h, const double *bounds, size_t n);
void vg_histo_observe(struct vg_histo *h, double v);

/* Writes NAME_bucket{le=...}, NAME_sum and NAME_count with HELP and TYPE lines. */
void vg_histo_write(const struct vg_histo *h, const char *name, const char *help, FILE *f);

/* Estimates quantile q (0..1) by linear interpolation inside the bucket; NAN when empty. */
double vg_histo_quantile(const struct vg_histo *h, double q);

#endif
