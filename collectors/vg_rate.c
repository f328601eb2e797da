#include "vg_rate.h"

#include <errno.h>

static int reprime(struct vg_rate *r, uint64_t value, int64_t now_ms, int rc)
{
    r->prev = value;
    r->prev_ms = now_ms;
    r->primed = 1;
    return rc;
}

int vg_rate_update(struct vg_rate *r, uint64_t value, int64_t now_ms, int width_bits,
                   double *rate_per_s)
{
    if (width_bits < 1 || width_bits > 64)
        return -EINVAL;
    if (!r->primed)
        return reprime(r, value, now_ms, -EAGAIN);
    if (now_ms <= r->prev_ms)
        return reprime(r, value, now_ms, -EAGAIN);

    uint64_t mask = width_bits == 64 ? UINT64_MAX : (UINT64_C(1) << width_bits) - 1;
    if (value > mask || r->prev > mask)
        return reprime(r, value, now_ms, -ERANGE);

    uint64_t delta = (value - r->prev) & mask;
    /* Going forward is always progress. Going backward is a wrap only when the distance the
     * counter travelled to reach value again is under half its range; anything larger is far more
     * likely a counter restarted from zero, and unfolding it would report a huge bogus rate. */
    if (value < r->prev && delta >= (UINT64_C(1) << (width_bits - 1)))
        return reprime(r, value, now_ms, -ERANGE);

    double dt_s = (double)(now_ms - r->prev_ms) / 1000.0;
    *rate_per_s = (double)delta / dt_s;
    r->prev = value;
    r->prev_ms = now_ms;
    return 0;
}
