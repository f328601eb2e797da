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
 * -ERANGE when the counter went backwards by more than a wrap explains (a reset), or when value
 * does not fit in width_bits (the declared width is wrong, so no delta can be trusted). In the
 * error cases the state is re-primed with this reading.
 *
 * A backwards step is taken as a wrap only when the modular delta is below 2^(width_bits-1):
 * a 64-bit counter read as width 64 that resets to a small value is therefore never mistaken for
 * a wrap, and neither is a 32-bit counter read as width 64 (that costs one sample per wrap).
 * -EINVAL (state untouched) for width_bits outside 1..64. */
int vg_rate_update(struct vg_rate *r, uint64_t value, int64_t now_ms, int width_bits,
                   double *rate_per_s);

#endif
