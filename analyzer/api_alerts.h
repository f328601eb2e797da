/* The API's alert, silence, rule and scaling endpoints (docs/api.md): their rows join the route
 * table in api.c through VG_API_ALERT_ROUTES, their counters /metrics through
 * vg_api_alerts_metrics(). */
#ifndef VG_API_ALERTS_H
#define VG_API_ALERTS_H

#include <stdio.h>

#include "vg_http.h"

struct analyzer;

void vg_api_alerts(void *ud, const struct vg_http_request *req, struct vg_http_response *resp);
void vg_api_silences_get(void *ud, const struct vg_http_request *req,
                         struct vg_http_response *resp);
void vg_api_silences_post(void *ud, const struct vg_http_request *req,
                          struct vg_http_response *resp);
void vg_api_silences_delete(void *ud, const struct vg_http_request *req,
                            struct vg_http_response *resp);
void vg_api_rules(void *ud, const struct vg_http_request *req, struct vg_http_response *resp);
void vg_api_reload(void *ud, const struct vg_http_request *req, struct vg_http_response *resp);
void vg_api_scale_all(void *ud, const struct vg_http_request *req, struct vg_http_response *resp);
void vg_api_scale(void *ud, const struct vg_http_request *req, struct vg_http_response *resp);

/* clang-format off */
#define VG_API_ALERT_ROUTES                                         \
    {"GET", "/api/v1/alerts", 0, vg_api_alerts},                    \
    {"GET", "/api/v1/silences", 0, vg_api_silences_get},            \
    {"POST", "/api/v1/silences", 1, vg_api_silences_post},          \
    {"DELETE", "/api/v1/silences/", 1, vg_api_silences_delete},     \
    {"GET", "/api/v1/rules", 0, vg_api_rules},                      \
    {"POST", "/api/v1/reload", 1, vg_api_reload},                   \
    {"GET", "/api/v1/scale", 0, vg_api_scale_all},                  \
    {"GET", "/api/v1/scale/", 0, vg_api_scale}
/* clang-format on */

/* Writes the rule, dispatch, silence and scaling counters (lock held). */
void vg_api_alerts_metrics(struct analyzer *a, FILE *f);

#endif
