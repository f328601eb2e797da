/* Parsers shared by several collectors: "key value" files and pressure (PSI) files. */
#include <errno.h>
#include <string.h>

#include "proc_parse.h"
#include "proc_scan.h"
#include "vg_util.h"

int vg_parse_keyed(const char *buf, size_t len, const char *src, const char *const *keys,
                   size_t n_keys, uint64_t *vals, uint64_t *have, char *err, size_t errlen)
{
    size_t klen[64];
    struct vg_scan s;
    struct vg_span line, w, extra;

    *have = 0;
    if (n_keys > 64)
        return vg_err(err, errlen, -EINVAL, "%s: more than 64 keys asked for", src);
    /* /proc/vmstat has some 200 lines: comparing lengths first keeps the per-line cost to a few
     * integer compares instead of a strcmp per key. */
    for (size_t i = 0; i < n_keys; i++)
        klen[i] = strlen(keys[i]);
    uint64_t all = n_keys == 64 ? UINT64_MAX : (UINT64_C(1) << n_keys) - 1;

    vg_scan_init(&s, buf, len);
    while (*have != all && vg_scan_line(&s, &line)) {
        if (!vg_span_word(&line, &w))
            continue;
        size_t wl = (size_t)(w.end - w.p);
        for (size_t i = 0; i < n_keys; i++) {
            if (klen[i] != wl || memcmp(w.p, keys[i], wl) != 0)
                continue;
            if (*have & (UINT64_C(1) << i))
                break;
            if (vg_span_u64(&line, &vals[i]) < 0)
                return vg_err(err, errlen, -EINVAL, "%s:%u: expected a number after \"%s\"", src,
                              s.line, keys[i]);
            if (vg_span_word(&line, &extra))
                return vg_err(err, errlen, -EINVAL, "%s:%u: unexpected text after \"%s\"", src,
                              s.line, keys[i]);
            *have |= UINT64_C(1) << i;
            break;
        }
    }
    return 0;
}

int vg_parse_psi(const char *buf, size_t len, const char *src, struct vg_psi_sample *out, char *err,
                 size_t errlen)
{
    static const char *const kinds[VG_PSI_NLINES] = {"some", "full"};
    struct vg_scan s;
    struct vg_span line, w;

    memset(out, 0, sizeof *out);
    vg_scan_init(&s, buf, len);
    while (vg_scan_line(&s, &line)) {
        if (!vg_span_word(&line, &w))
            continue;
        int k = vg_word_is(w, kinds[VG_PSI_SOME])   ? VG_PSI_SOME
                : vg_word_is(w, kinds[VG_PSI_FULL]) ? VG_PSI_FULL
                                                    : -1;
        if (k < 0)
            continue;
        if (out->have & (1u << k))
            return vg_err(err, errlen, -EINVAL, "%s:%u: second \"%s\" line", src, s.line, kinds[k]);
        int got_avg = 0, got_total = 0;
        while (vg_span_word(&line, &w)) {
            const char *eq = memchr(w.p, '=', (size_t)(w.end - w.p));
            if (!eq)
                return vg_err(err, errlen, -EINVAL, "%s:%u: \"%s\" line has a word without '='",
                              src, s.line, kinds[k]);
            struct vg_span key = {w.p, eq}, val = {eq + 1, w.end};
            if (vg_word_is(key, "avg10")) {
                if (vg_word_decimal(val, &out->avg10[k]) < 0)
                    return vg_err(err, errlen, -EINVAL, "%s:%u: %s avg10 is not a percentage", src,
                                  s.line, kinds[k]);
                got_avg = 1;
            } else if (vg_word_is(key, "total")) {
                if (vg_word_u64(val, &out->total_us[k]) < 0)
                    return vg_err(err, errlen, -EINVAL, "%s:%u: %s total is not a number", src,
                                  s.line, kinds[k]);
                got_total = 1;
            }
            /* avg60 and avg300 are not reported, so they are not checked either. */
        }
        if (!got_avg || !got_total)
            return vg_err(err, errlen, -EINVAL, "%s:%u: \"%s\" line lacks avg10 or total", src,
                          s.line, kinds[k]);
        out->have |= 1u << k;
    }
    if (!(out->have & (1u << VG_PSI_SOME)))
        return vg_err(err, errlen, -EINVAL, "%s: no \"some\" line", src);
    return 0;
}
