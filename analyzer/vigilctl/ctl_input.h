/* Recorded input for `vigilctl replay` and `vigilctl report FILE`: a stream of wire messages as
 * `kcat -C` dumps them (one JSON message per line; kcat -J envelopes are unwrapped), or a CSV of
 * one host: a header "timestamp,metric1,metric2,...", then one row per tick. Timestamps are Unix
 * seconds or milliseconds, or RFC 3339 (Z or an offset, converted to UTC) or "YYYY-MM-DD
 * HH:MM:SS[.fff]" UTC; an empty cell is a missing value. Lines starting with '#' and blank lines
 * are skipped. */
#ifndef VG_CTL_INPUT_H
#define VG_CTL_INPUT_H

#include <stdint.h>
#include <stdio.h>

#include "vg_wire.h"

/* The interval of rows that declare none (a CSV, a NAB file): the median of the last
 * VG_CTL_STEP_WINDOW positive steps between rows. Not the shortest step: one short step (a
 * duplicated sample, a DST fold, irregular data) then made every later step of hourly rows a gap
 * (vg_event_gap), so that no `for` was met and no firing alert resolved. The median ignores a few
 * odd steps, short or long (a gap), and follows a change of sampling within half a window. */
#define VG_CTL_STEP_WINDOW 31
struct vg_ctl_step {
    int64_t ring[VG_CTL_STEP_WINDOW];
    size_t n, pos;
    int64_t prev_ts_ms; /* the previous row's time; 0 before the first */
};

/* Takes the row at ts_ms and returns the interval so far: the median (of an even count, the
 * upper one) of the last VG_CTL_STEP_WINDOW positive steps; 0 before the second row. */
int64_t vg_ctl_step_next(struct vg_ctl_step *s, int64_t ts_ms);

struct vg_ctl_input {
    FILE *f;
    const char *path;
    int csv;     /* detected from the first line */
    char **cols; /* CSV: metric names, cols[0] unused (timestamp) */
    size_t n_cols;
    const char *host;        /* CSV: the host name given to every row */
    uint64_t seq;            /* CSV: sequence numbers made up for the rows */
    struct vg_ctl_step step; /* CSV: the rows' interval_ms (vg_ctl_step_next) */
    char *line;
    int pending; /* line holds a message not yet returned */
    size_t cap;
    uint64_t line_no;
    uint64_t bad;   /* lines skipped: each reported on stderr (the first 20) */
    FILE *report;   /* where skipped lines are told; stderr when NULL (set after open) */
    long long size; /* bytes in the file, for a progress bar; 0 when unknown (a pipe) */
};

/* Opens path ("-" is stdin) and reads the CSV header if it is one. host names CSV rows (NULL:
 * "csv"). Returns 0 or a negative code with err set. */
int vg_ctl_input_open(struct vg_ctl_input *in, const char *path, const char *host, char *err,
                      size_t errlen);

/* Reads the next message into m: 1 when one was read, 0 at the end of input. Bad lines are
 * reported on stderr with the file and line, counted in in->bad and skipped. */
int vg_ctl_input_next(struct vg_ctl_input *in, struct vg_wire_msg *m);

/* Bytes consumed so far. */
long long vg_ctl_input_pos(const struct vg_ctl_input *in);

void vg_ctl_input_close(struct vg_ctl_input *in);

/* Parses a time: Unix ms (> 1e11), Unix seconds, or RFC 3339 (Z or an offset +hh:mm/-hh:mm,
 * converted to UTC) / "YYYY-MM-DD HH:MM:SS[.fff]" (no offset: UTC), vg_parse_rfc3339_ms lenient;
 * a fraction is digits, of which the first three count. From 1970 up to the end of year 9999.
 * Returns 0 with *ms or -EINVAL. */
int vg_ctl_parse_time(const char *s, int64_t *ms);

#endif
