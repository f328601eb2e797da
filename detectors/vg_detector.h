/* Detectors: per-series streaming models that turn each new value into an anomaly score in [0,1].
 * Each model is a struct of callbacks registered in vg_detectors[] (vg_detector.c); the analyzer
 * picks one by name from its config and keeps one state block of state_size bytes per series.
 */
#ifndef VG_DETECTOR_H
#define VG_DETECTOR_H

#include <stddef.h>
#include <stdint.h>

/* Tunables shared by the per-series models; unused fields are ignored by a model. */
struct vg_detector_params {
    double alpha;         /* EWMA weight of a new value once warm (0,1) */
    double alpha_outlier; /* weight of a value beyond clip_k scales: small, so a level shift
                           * stays anomalous for minutes, yet a lasting change is learned */
    uint32_t warmup;      /* values seen before the model scores */
    double clip_k;        /* values beyond clip_k scales from the mean are clipped when learned */
    double min_std_abs;   /* floor of the scale, in the metric's unit */
    double min_std_rel;   /* floor of the scale as a fraction of |mean| */
    /* Seasonal model and its calibration (vg_seasonal.c); 0 selects the model's default. */
    double season_s;     /* period of the time-of-day profile, seconds (default 86400) */
    uint32_t smooth;     /* standardised residuals averaged over this many values (default 1) */
    double calib_q;      /* SPOT tail threshold level of the calibration (default 0.98) */
    uint32_t calib_init; /* values the calibration learns from before scoring (default 256) */
    uint32_t refractory; /* after a reported extreme, values this many rows on are damped unless
                          * far rarer still (escalation); 0 = off */
    double escalation;   /* "far rarer": tail probability below this factor times the last one
                          * reported (default 0.01) */
    /* Anomaly likelihood (vg_seasonal.c): the mean surprise of the last lik_short values against
     * the long-run distribution of that mean (about lik_long values); 0 = off. */
    uint32_t lik_short;
    uint32_t lik_long;
    uint32_t lik_mode; /* 0: the likelihood alone, 1: the larger of it and the value's own score */
    /* Profile deviation (vg_seasonal.c): 1 = the residual off the time-of-day profile is a second
     * signal, calibrated apart, the larger score reported; 0 = off. */
    uint32_t prof;
    /* Weekly profile (vg_seasonal.c): 1 = a weekly profile races the plain level and the daily
     * profile; 0 = off. */
    uint32_t weekly;
    /* Persistence (vg_seasonal.c): drift k of a two-sided CUSUM of the trusted model's signed
     * residual (in its typical errors), a fourth signal calibrated apart; 0 = off. */
    double cusum;
};

struct vg_detector {
    const char *name;
    const char *help;
    size_t state_size;
    /* Zeroes a state block. */
    void (*init)(void *state);
    /* Learns x and scores it. Returns 0 with *score in [0,1], or -EAGAIN while warming up (the
     * value is still learned). Non-finite x is refused with -EINVAL and not learned; a finite x
     * beyond +-VG_DETECTOR_X_MAX counts as that much (vg_detector_bound). */
    int (*update)(void *state, const struct vg_detector_params *p, double x, double *score);
    /* Optional: as update, for a value with its event time (ms since the epoch); models that use
     * time (seasonality) need it, and callers that know the time should prefer it. */
    int (*update_at)(void *state, const struct vg_detector_params *p, int64_t ts_ms, double x,
                     double *score);
    /* Checks a state block copied in whole from elsewhere (a host's state record, read back from
     * Kafka): 0 when it is one update() can have made and can go on from, or -EINVAL with what is
     * wrong in err. Without it such a state would be trusted byte for byte, and a model's counts
     * index its arrays. Every model has one (test_detector checks the table). */
    int (*check)(const void *state, char *err, size_t errlen);
    /* Optional: fills a state block fresh from init() from old, old_size bytes that an earlier
     * version of this model wrote (a host state record read back during an upgrade), so that its
     * series do not start cold: a cold series learns the value it is alerting on and resolves.
     * Returns 0, or -EINVAL when old_size is no layout the model knows. old NULL only asks
     * whether old_size is one (state is not touched): a record states its size, and a reader
     * must not allocate what it says before knowing. The result still goes through check(). */
    int (*adopt)(void *state, const void *old, size_t old_size);
};

/* Values beyond +-VG_DETECTOR_X_MAX count as that much. A square of a deviation then stays
 * finite: 1e200 squared is not, and one such reading left an ewma series' variance infinite, so
 * that it scored 0 for every later value, and a seasonal one's profile not finite. Far beyond
 * any counter (a u64 is at most 1.8e19); such a value still scores as the far outlier it is. */
#define VG_DETECTOR_X_MAX 1e30

static inline double vg_detector_bound(double x)
{
    return x > VG_DETECTOR_X_MAX    ? VG_DETECTOR_X_MAX
           : x < -VG_DETECTOR_X_MAX ? -VG_DETECTOR_X_MAX
                                    : x;
}

/* A level change: run values in a row (signed: + above the level, - below) clipped on one side.
 * After 1/alpha_outlier of them, and at least VG_DETECTOR_CHANGE_MIN, the per-series models learn
 * such values whole, at alpha, so that a move ends its alert a few values later however small
 * their scale had become: a series constant for hours has a scale near 0, which clipped learning
 * widens by only 1-2% a value. The minimum keeps a tuned alpha_outlier (0.05 on NAB) from
 * learning every step within 20 values; alpha_outlier 0 never learns an outlier. */
#define VG_DETECTOR_CHANGE_MIN 200

static inline int vg_detector_level_change(const struct vg_detector_params *p, double run)
{
    double r = run < 0 ? -run : run;
    return r >= VG_DETECTOR_CHANGE_MIN && r * p->alpha_outlier >= 1;
}

/* Most values vg_detector_warmup_baseline() takes. */
#define VG_DETECTOR_WARM_MAX 32

/* Distance, in trimmed standard deviations, beyond which a warm-up value counts as absurd (a
 * glitch: a wrapped counter, a unit error, a sentinel), not as a rare value of the series. Measured
 * on NAB: TravelTime_451 has a real value 105 trimmed deviations off among its first 20, and every
 * limit from 6 to 100 dropped it and lost that file's window (standard profile 68.88-69.09 against
 * 70.51); a glitch is orders of magnitude off, and ordinary outliers are clipped once warm. */
#define VG_DETECTOR_WARM_ABSURD 1000.0

/* The warm-up baseline of the per-series models from their first n values (n at most
 * VG_DETECTOR_WARM_MAX; v is not changed): the mean and (population) variance of the values
 * within VG_DETECTOR_WARM_ABSURD trimmed standard deviations (floored at p's min_std_abs and
 * min_std_rel) of the trimmed mean, trimmed meaning less the max(1, n/10) smallest and as many
 * largest values (no trimming below 5 values). One absurd value among the first would otherwise
 * set the scale for a long time; up to a tenth of them are dropped so. The trimmed statistics only
 * decide what is absurd: their variance alone is about half the true one for normal data (the
 * first values after the warm-up alerted 8 times as often, and the NAB score fell by 5.7). A
 * median and MAD would give a series that is mostly 0 with real bursts a scale of 0. */
void vg_detector_warmup_baseline(const struct vg_detector_params *p, const double *v, size_t n,
                                 double *mean, double *var);

extern const struct vg_detector *const vg_detectors[];
const struct vg_detector *vg_detector_find(const char *name);

#endif
