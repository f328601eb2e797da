/* The API's operations endpoints, for `vigilctl status`, `top` and `report` (docs/api.md,
 * "Operations"): a summary of the analyzer, every host with its score, and a host's recent
 * history. Their rows join the route table in api.c through VG_API_OPS_ROUTES. */
#ifndef VG_API_OPS_H
#define VG_API_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "vg_http.h"

struct analyzer;

void vg_api_ops_status(void *ud, const struct vg_http_request *req, struct vg_http_response *resp);
void vg_api_ops_hosts(void *ud, const struct vg_http_request *req, struct vg_http_response *resp);
void vg_api_ops_history(void *ud, const struct vg_http_request *req, struct vg_http_response *resp);

#define VG_API_OPS_ROUTES                                                                          \
    {"GET", "/api/v1/status", 0, vg_api_ops_status},                                               \
        {"GET", "/api/v1/hosts", 0, vg_api_ops_hosts},                                             \
    {                                                                                              \
        "GET", "/api/v1/history/", 0, vg_api_ops_history                                           \
    }

/* Whether the analyzer is ready (/readyz, and "ready" in /api/v1/status): partitions assigned
 * and, with a state topic, a state producer that works and a last checkpoint that was
 * acknowledged. 1, or 0 with the reason in why. Called with a->lock held. */
int vg_api_ready(struct analyzer *a, char *why, size_t whylen);

/* Observes one message's event lag, now_ms (the analyzer's wall clock) minus its timestamp
 * ts_ms, in a->lag_s. One stamped later than now_ms (its host's clock ahead, or the analyzer's
 * behind) is observed as 0 and counted in a->lag_negative: a negative lag made
 * vigil_event_lag_seconds_sum fall, which Prometheus takes for a counter reset, and pulled the
 * quantiles down unseen. Called with a->lock held. */
void vg_api_observe_lag(struct analyzer *a, int64_t now_ms, int64_t ts_ms);

/* Creates a->history from the config (history.*). Returns 0 or a negative code with err set. */
int vg_api_ops_init(struct analyzer *a, char *err, size_t errlen);

#endif
