#include "vg_histo.h"

#include <math.h>
#include <string.h>

void vg_histo_init(struct vg_histo *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->n = n < VG_HISTO_MAX_BUCKETS ? n : VG_HISTO_MAX_BUCKETS;
}

void vg_histo_observe(struct vg_histo *h, double v)
{
    size_t i = 0;
    while (i < h->n && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void vg_histo_write(const struct vg_histo *h, const char *name, const char *help, FILE *f)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < h->n; i++) {
        cum += h->counts[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
    }
    cum += h->counts[h->n];
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name,
            (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->count);
}

double vg_histo_quantile(const struct vg_histo *h, double q)
{
    if (!h->count)
        return NAN;
    double rank = q * (double)h->count;
    uint64_t cum = 0;
    for (size_t i = 0; i <= h->n; i++) {
        if (cum + h->counts[i] >= rank && h->counts[i]) {
            double lo = i ? h->bounds[i - 1] : 0;
            if (i == h->n)
                return lo; /* beyond the last bound: the best we can say */
            double hi = h->bounds[i];
            return lo + (hi - lo) * (rank - (double)cum) / (double)h->counts[i];
        }
        cum += h->counts[i];
    }
    return h->n ? h->bounds[h->n - 1] : NAN;
}
