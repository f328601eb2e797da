/* Point-wise detection metrics and attribution hit rate, as reported for the Server Machine
 * Dataset (OmniAnomaly, KDD 2019). A point is flagged when its score is >= the threshold.
 *   - precision, recall, F1 at a given threshold;
 *   - best F1: the maximum over every distinct score used as the threshold;
 *   - AUPRC: average precision, sum over distinct thresholds (highest first) of
 *     (recall_k - recall_{k-1}) * precision_k (a step-wise area, no interpolation);
 *   - point-adjusted best F1: each labelled segment is detected as a whole when any of its points
 *     is flagged, i.e. every point of a segment takes the segment's highest score;
 *   - HitRate@P: for each labelled point with blamed dimensions G, the share of G among the model's
 *     floor(P |G|) most-contributing dimensions, averaged over those points.
 */
#ifndef VG_EVAL_SMD_H
#define VG_EVAL_SMD_H

#include <stddef.h>
#include <stdint.h>

struct vg_prf {
    double threshold, precision, recall, f1;
    size_t tp, fp, fn;
};

/* Metrics at threshold thr. */
void vg_smd_at(const double *score, const uint8_t *label, size_t n, double thr, struct vg_prf *out);

/* Best F1 over thresholds and the average precision. Returns 0 or -ENOMEM. */
int vg_smd_best(const double *score, const uint8_t *label, size_t n, struct vg_prf *best,
                double *auprc);

/* Best F1 with point adjustment. Returns 0 or -ENOMEM. */
int vg_smd_best_adjusted(const double *score, const uint8_t *label, size_t n, struct vg_prf *best);

/* HitRate@p (p = 1.0 or 1.5): gt[i] is the mask of blamed dimensions of row i (bit d for
 * dimension d, 0-based; 0 = not interpreted), contrib is n x m (row-major) per-dimension
 * contributions, higher = more to blame; ties go to the lower dimension. *rate is NaN when no row
 * is interpreted. Returns 0, or -EINVAL when m > 64. */
int vg_smd_hitrate(const uint64_t *gt, const double *contrib, size_t n, size_t m, double p,
                   double *rate, size_t *rows);

#endif
