/* libFuzzer target for the analyzer's HTTP request handling: the real API routes (analyzer/api.c)
 * behind vg_http_dispatch, with an engine that knows a few hosts, driven without sockets.
 *
 * Input: four '\n'-separated fields, then the body:
 *   METHOD \n PATH \n AUTHORIZATION (empty: none) \n CONTENT-LENGTH \n BODY...
 * Every request must get a status in 200..599 and a body, the mutating-route checks must hold
 * (no 2xx from a mutating route without the token), and nothing may crash or leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyzer.h"
#include "analyzer_rules.h"
#include "analyzer_config.h"
#include "api_ops.h"
#include "vg_ewma.h"
#include "vg_http.h"
#include "vg_util.h"

#define TOKEN "fuzz-token-0123456789abcdef"

/* main.c's; the fuzzer's analyzer has no receivers. */
void analyzer_receiver_stats(struct analyzer *a, struct vg_action_stats *sum, uint64_t *refused)
{
    (void)a;
    memset(sum, 0, sizeof(*sum));
    *refused = 0;
}

static struct analyzer g_a;
static const double bounds[] = {0.001, 0.01, 0.1, 1};

static void feed(const char *host, uint64_t seq, double v)
{
    struct vg_wire_msg m;
    vg_wire_msg_init(&m);
    snprintf(m.host, sizeof(m.host), "%s", host);
    snprintf(m.boot, sizeof(m.boot), "b1");
    m.seq = seq;
    m.ts_ms = 1700000000000LL + (int64_t)seq * 1000;
    m.interval_ms = 1000;
    char err[VG_ERRLEN];
    vg_wire_msg_add_metric(&m, "cpu.user_pct", v, err, sizeof(err));
    vg_wire_msg_add_metric(&m, "mem.used_pct", v / 2, err, sizeof(err));
    vg_wire_msg_add_label(&m, "env", "fuzz", err, sizeof(err));
    vg_engine_process(g_a.engine, &m, NULL, NULL);
    vg_wire_msg_free(&m);
}

static void setup(void)
{
    pthread_mutex_init(&g_a.lock, NULL);
    vg_histo_init(&g_a.processing_s, bounds, VG_ARRAY_LEN(bounds));
    vg_histo_init(&g_a.lag_s, bounds, VG_ARRAY_LEN(bounds));
    struct vg_engine_params p = {
        .detector = &vg_detector_ewma,
        .dp = {.alpha = 0.05,
               .alpha_outlier = 0.005,
               .warmup = 3,
               .clip_k = 3,
               .min_std_abs = 0.01,
               .min_std_rel = 0.02},
        .ap = {.threshold = 0.999, .for_ms = 0, .resolve_for_ms = 0},
        .max_hosts = 100,
        .max_series_per_host = 100,
    };
    char err[VG_ERRLEN];
    /* The defaults, as an analyzer started without a config file has them. */
    if (vg_config_defaults(&analyzer_config_table, &g_a.cfg, err, sizeof(err)) != 0 ||
        vg_engine_new(&g_a.engine, &p, err, sizeof(err)) != 0 ||
        vg_api_ops_init(&g_a, err, sizeof(err)) != 0 ||
        analyzer_rules_load(&g_a, err, sizeof(err)) != 0) /* silences, alerts */
        abort();
    for (uint64_t i = 1; i <= 6; i++) {
        feed("web-1", i, 10 + (double)(i % 2));
        feed("db.example.com", i, i == 6 ? 1e6 : 5);
    }
}

/* Splits off the next '\n'-terminated field as a NUL-terminated copy (caller frees). */
static char *field(const uint8_t **p, size_t *n)
{
    const uint8_t *nl = memchr(*p, '\n', *n);
    size_t len = nl ? (size_t)(nl - *p) : *n;
    char *s = malloc(len + 1);
    if (!s)
        abort();
    memcpy(s, *p, len);
    s[len] = '\0';
    *p += nl ? len + 1 : len;
    *n -= nl ? len + 1 : len;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    const uint8_t *p = data;
    size_t n = size;
    char *method = field(&p, &n), *path = field(&p, &n), *auth = field(&p, &n);
    char *clen = field(&p, &n);
    /* The body as the server hands it over: a NUL-terminated copy. */
    char *body = malloc(n + 1);
    if (!body)
        abort();
    memcpy(body, p, n);
    body[n] = '\0';

    struct vg_http_router rt = {vg_api_routes, vg_api_n_routes, &g_a, TOKEN, 4096};
    struct vg_http_response resp = {0};
    if (vg_http_too_large(&rt, clen) && strtoull(clen, NULL, 10) <= rt.max_body)
        abort(); /* a Content-Length within the limit was called too large */
    vg_http_dispatch(&rt, method, path, auth[0] ? auth : NULL, body, n, &resp);
    if (resp.status < 200 || resp.status > 599 || (resp.len && !resp.body))
        abort();
    /* RFC 7235: the scheme in any case, then one or more spaces, then the token exactly, then
     * only spaces and tabs (no part of the field value, RFC 9110 5.5). */
    int authorized = 0;
    if (strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *cred = auth + 7 + strspn(auth + 7, " ");
        size_t tl = strlen(TOKEN);
        authorized = strncmp(cred, TOKEN, tl) == 0 && cred[tl + strspn(cred + tl, " \t")] == '\0';
    }
    for (size_t i = 0; i < vg_api_n_routes; i++)
        /* A path can be open to GET and mutating for POST (/api/v1/silences). */
        if (vg_api_routes[i].kind == VG_HTTP_MUTATING && strcmp(path, vg_api_routes[i].path) == 0 &&
            strcmp(method, vg_api_routes[i].method) == 0 && !authorized && resp.status < 300)
            abort();

    free(resp.body);
    free(method);
    free(path);
    free(auth);
    free(clen);
    free(body);
    return 0;
}
