/* The API's operations endpoints, for `vigilctl status`, `top` and `report` (docs/api.md,
 * "Operations"): a summary of the analyzer, every host with its score, and a host's recent
 * history. Their rows join the route table in api.c through VG_API_OPS_ROUTES. */
#ifndef VG_API_OPS_H
#define VG_API_OPS_H

#include <stddef.h>

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

/* Creates a->history from the config (history.*). Returns 0 or a negative code with err set. */
int vg_api_ops_init(struct analyzer *a, char *err, size_t errlen);

#endif
