/* The analyzer's own Prometheus metrics (GET /metrics), declared once: the writers in api*.c and
 * analyzer_models.c take a metric's help and type from this table, and `vigil-analyzer
 * --metrics-doc` prints it as docs/analyzer-metrics.md. */
#ifndef VG_API_METRICS_H
#define VG_API_METRICS_H

#include <stdint.h>
#include <stdio.h>

enum vg_metric_kind { VG_METRIC_COUNTER, VG_METRIC_GAUGE, VG_METRIC_HISTOGRAM };

struct vg_api_metric {
    const char *name;
    enum vg_metric_kind kind;
    const char *labels; /* label names; NULL: none */
    const char *when;   /* when it is exported; NULL: always */
    const char *help;
};

extern const struct vg_api_metric vg_api_metrics[]; /* NULL-name terminated */

/* The entry of name, or NULL. */
const struct vg_api_metric *vg_api_metric_find(const char *name);

/* name's help text; for a name missing from the table, a text saying so (test_docs scrapes a
 * live analyzer and fails on it). */
const char *vg_api_metric_help(const char *name);

/* "# HELP" and "# TYPE" lines of name, for writers that print their own sample lines. */
void vg_api_metric_head(FILE *f, const char *name);

/* Head and one unlabelled sample. */
void vg_api_counter(FILE *f, const char *name, uint64_t v);
void vg_api_gauge(FILE *f, const char *name, double v);

/* The table as Markdown (docs/analyzer-metrics.md). */
void vg_api_metrics_doc(FILE *f);

#endif
