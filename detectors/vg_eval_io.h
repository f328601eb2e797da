/* Readers for the evaluation data sets (outside input: every malformed line is an error that
 * names the origin and line, never a crash):
 *   - NAB series: "timestamp,value" CSV with a header; CRLF or LF, final newline optional, rows
 * kept in file order (repeated or out-of-order timestamps are kept as they are).
 *   - NAB label windows: labels/combined_windows.json, {"<category>/<file>.csv": [[start,
 * end]...]}.
 *   - SMD matrices: rows of comma-separated numbers, no header, same column count on every row.
 *   - SMD point labels (one 0/1 per line) and interpretation labels ("start-end:d1,d2,...", rows
 *     [start, end) 0-based, dimensions 1-based).
 */
#ifndef VG_EVAL_IO_H
#define VG_EVAL_IO_H

#include <stddef.h>
#include <stdint.h>

struct vg_eval_series {
    size_t n;
    int64_t *ts_us; /* timestamp, microseconds since the epoch (UTC, no zone in the data) */
    double *value;
    char **ts_text; /* the timestamp and value exactly as written, for the results file */
    char **val_text;
};

/* Parses "YYYY-MM-DD HH:MM:SS[.ffffff]" (a 'T' separator is accepted too) of len bytes. Returns 0
 * or -EINVAL. */
int vg_eval_parse_time(const char *s, size_t len, int64_t *us);

/* Parses a NAB series from buf (len bytes; need not be NUL-terminated). origin names it in errors.
 * On success fills *out, which the caller frees with vg_eval_series_free(); on error *out is left
 * empty. Returns 0, -EINVAL (malformed input, message in err) or -ENOMEM. */
int vg_eval_series_parse(const char *buf, size_t len, const char *origin,
                         struct vg_eval_series *out, char *err, size_t errlen);
/* Reads the file at path and parses it as above. */
int vg_eval_series_read(const char *path, struct vg_eval_series *out, char *err, size_t errlen);
void vg_eval_series_free(struct vg_eval_series *s);

struct vg_eval_window {
    int64_t start_us, end_us;
};

/* The windows of one file (key "<category>/<file>.csv") from combined_windows.json. *out is
 * malloc'd (caller frees; NULL when the file has none); *n receives the count. A key missing from
 * the JSON is -ENOENT. */
int vg_eval_nab_windows(const char *json_path, const char *key, struct vg_eval_window **out,
                        size_t *n, char *err, size_t errlen);

/* Parses a numeric matrix (SMD). *data is rows x cols row-major, malloc'd, caller frees. */
int vg_eval_matrix_parse(const char *buf, size_t len, const char *origin, double **data,
                         size_t *rows, size_t *cols, char *err, size_t errlen);
int vg_eval_matrix_read(const char *path, double **data, size_t *rows, size_t *cols, char *err,
                        size_t errlen);

/* Reads one 0/1 per line into *labels (malloc'd, caller frees). */
int vg_eval_labels_read(const char *path, uint8_t **labels, size_t *n, char *err, size_t errlen);

/* Interpretation labels: for each of n_rows rows, a bit mask of the blamed dimensions (bit d-1 for
 * dimension d; at most 64 dimensions), 0 where the row has no interpretation. *masks is malloc'd,
 * caller frees. Segments beyond n_rows or dimensions beyond 64 are errors. */
int vg_eval_interp_parse(const char *buf, size_t len, const char *origin, size_t n_rows,
                         uint64_t **masks, char *err, size_t errlen);
int vg_eval_interp_read(const char *path, size_t n_rows, uint64_t **masks, char *err,
                        size_t errlen);

/* Reads a whole file into a NUL-terminated malloc'd buffer (caller frees). */
int vg_eval_slurp(const char *path, char **buf, size_t *len, char *err, size_t errlen);

#endif
