/* Turning kernel counters into per-second rates.
 *
 * Counters wrap (32-bit fields on some kernels and drivers) or reset (interface re-created, module
 * reloaded). Neither may ever produce a negative or absurd rate: a wrap is unfolded, a reset
 * skips one sample and starts again from the new value.
 */
#ifndef VG_RATE_H
#define VG_RATE_H

#include <stdint.h>

struct vg_rate {
    uint64_t prev;
    int64_t prev_ms;
    int primed;
};

/* Feeds one counter reading taken at now_ms. width_bits is the counter's width (32 or 64).
 * Returns 0 and sets *rate_per_s; -EAGAIN for the first reading or a zero/negative interval;
 * -ERANGE when the counter went backwards by more than a wrap explains (a reset). In the
 * error cases the state is re-primed with this reading. */
int vg_rate_update(struct vg_rate *r, uint64_t value, int64_t now_ms, int width_bits,
                   double *rate_per_s);

#endif
