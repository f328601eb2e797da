/* libFuzzer target for alert rules. The same bytes go to the rule loader (as a YAML file) and,
 * as a string, to the expression, template and matcher parsers. Whatever parses is then used:
 * rules are matched, evaluated against a made-up host, their labels and annotations rendered
 * into small buffers. Any input must give 0 or a positioned error, never a crash or a leak. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_expr.h"
#include "vg_rule.h"
#include "vg_rule_load.h"
#include "vg_rule_select.h"
#include "vg_rule_state.h"
#include "vg_tmpl.h"
#include "vg_util.h"

/* A host whose data depends only on the series name, so a run is reproducible. */
static double name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return (double)(h % 1000) / 10.0;
}

static int f_scores(void *ud, vg_expr_series_fn fn, void *fnud)
{
    static const char *const names[] = {"cpu.user_pct", "disk.sda.await_ms", "load.1m",
                                        "psi.io.some_avg10", "tcp.retrans_segs_ps"};
    for (size_t i = 0; i < VG_ARRAY_LEN(names); i++) {
        int rc = fn(fnud, names[i], name_hash(names[i]) / 100.0);
        if (rc)
            return rc;
    }
    return 0;
}

static int f_value(void *ud, const char *name, double *out)
{
    double h = name_hash(name);
    if (h < 20)
        return -ENOENT;
    *out = h - 50;
    return 0;
}

static int f_window(void *ud, const char *name, int64_t dur_ms, enum vg_expr_window_fn fn,
                    double *out)
{
    if (dur_ms <= 0)
        abort(); /* the parser refuses empty windows */
    double h = name_hash(name);
    if (h < 30)
        return -ENOENT;
    *out = h + (double)fn;
    return 0;
}

static const struct vg_expr_env env = {NULL, f_scores, f_value, f_window};

/* A cut never leaves half a character at the end (of text that was valid UTF-8: YAML's). */
static void check_utf8_cut(const char *buf, size_t used)
{
    size_t i = used;
    size_t cont = 0;
    while (i > 0 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i > 0) {
        unsigned char lead = (unsigned char)buf[i - 1];
        size_t want = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
        if (want && cont < want)
            abort();
    }
}

static void use_rules(const struct vg_rule_set *s)
{
    static const struct vg_label labels[] = {{"env", "prod"}, {"role", "api"}, {"zone", "eu-1"}};
    for (size_t i = 0; i < vg_rule_set_count(s); i++) {
        const struct vg_rule *r = vg_rule_set_rule(s, i);
        (void)vg_rule_matches_host(r, "web-1", labels, VG_ARRAY_LEN(labels));
        struct vg_rule_result res;
        if (vg_rule_eval(r, &env, &res) != 0)
            abort(); /* the made-up host never fails */
        struct vg_kvlist l = {0};
        if (vg_rule_alert_labels(r, "web-1", labels, VG_ARRAY_LEN(labels), &l) == 0) {
            char fp[VG_RULE_FINGERPRINT_LEN];
            vg_rule_fingerprint(vg_rule_name(r), l.items, l.n, fp);
        }
        for (size_t a = 0; a < vg_rule_annotation_count(r); a++) {
            char small[7];
            size_t need = vg_rule_render_annotation(r, a, "web-1", &l, &res, small, sizeof(small));
            if (strlen(small) > need || strlen(small) >= sizeof(small))
                abort();
            check_utf8_cut(small, strlen(small));
        }
        vg_kvlist_free(&l);
        (void)vg_rule_set_find(s, vg_rule_name(r));
    }
    (void)vg_rule_set_max_window_ms(s);
}

static void fuzz_loader(const uint8_t *data, size_t size)
{
    struct vg_rule_set *s = NULL;
    char err[1024] = "";
    int rc = vg_rule_set_load_buffer("f.yaml", (const char *)data, size, &s, err, sizeof(err));
    if (rc == 0) {
        use_rules(s);
        vg_rule_set_free(s);
        return;
    }
    if (s)
        abort();
    if (rc != -ENOMEM && strncmp(err, "f.yaml:", 7) != 0) {
        fprintf(stderr, "error without position: %s\n", err);
        abort();
    }
}

static void fuzz_strings(const char *text, size_t len)
{
    char err[VG_ERRLEN];
    size_t off;
    struct vg_expr *e;
    int rc = vg_expr_parse(text, &e, &off, err, sizeof(err));
    if (rc == 0) {
        struct vg_expr_result res;
        char *series[] = {"disk.*", "cpu.*"};
        if (vg_expr_eval(e, &env, series, (size_t)(len & 1) * 2, &res) != 0)
            abort();
        vg_expr_free(e);
    } else if (off > len) {
        abort();
    }

    struct vg_tmpl *t;
    rc = vg_tmpl_parse(text, (unsigned)(len & 1), &t, &off, err, sizeof(err));
    if (rc == 0) {
        struct vg_tmpl_ctx c = {"rule", "h\xc3\xa9st", "warning", 1.5, NAN, "a=1", NULL, NULL};
        char buf[9];
        size_t need = vg_tmpl_render(t, &c, buf, sizeof(buf));
        if (strlen(buf) > need)
            abort();
        vg_tmpl_free(t);
    } else if (off > len) {
        abort();
    }

    struct vg_rule_select m;
    rc = vg_rule_select_parse(text, &m, &off, err, sizeof(err));
    if (rc == 0)
        vg_rule_select_free(&m);
    else if (off > len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_loader(data, size);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_strings(text, strlen(text));
    free(text);
    return 0;
}
