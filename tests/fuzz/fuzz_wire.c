/* libFuzzer target for the wire decoder: arbitrary bytes must never crash it, and whatever it
 * accepts must survive encode -> decode unchanged (otherwise the agent and analyzer disagree). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_util.h"
#include "vg_wire.h"

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_wire: %s: %s\n", what, detail);
    abort();
}

static void check_equal(const struct vg_wire_msg *a, const struct vg_wire_msg *b)
{
    if (a->version != b->version || strcmp(a->host, b->host) || strcmp(a->boot, b->boot) ||
        a->seq != b->seq || a->ts_ms != b->ts_ms || a->interval_ms != b->interval_ms)
        fail("round trip changed the header", a->host);
    if (a->n_labels != b->n_labels)
        fail("round trip changed the label count", a->host);
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i].key, b->labels[i].key) ||
            strcmp(a->labels[i].value, b->labels[i].value))
            fail("round trip changed a label", a->labels[i].key);
    if (a->n_metrics != b->n_metrics)
        fail("round trip changed the metric count", a->host);
    for (size_t i = 0; i < a->n_metrics; i++)
        /* Bitwise, so -0.0 turning into 0.0 counts as a change. */
        if (strcmp(a->metrics[i].name, b->metrics[i].name) ||
            memcmp(&a->metrics[i].value, &b->metrics[i].value, sizeof(double)))
            fail("round trip changed a metric", a->metrics[i].name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Reused across inputs, as the analyzer reuses one message per consumer. */
    static struct vg_wire_msg first, second;
    static int ready;
    if (!ready) {
        vg_wire_msg_init(&first);
        vg_wire_msg_init(&second);
        ready = 1;
    }
    char err[VG_ERRLEN], ref_err[VG_ERRLEN];
    /* The fast path must decide exactly as the jansson path does. */
    int rc = vg_wire_decode((const char *)data, size, 0, &first, err, sizeof(err));
    int ref =
        vg_wire_decode_reference((const char *)data, size, 0, &second, ref_err, sizeof(ref_err));
    if (rc != ref || (rc && strcmp(err, ref_err) != 0))
        fail("fast and jansson decoders disagree", rc ? err : ref_err);
    if (rc == 0) {
        check_equal(&first, &second);
        if (first.n_labels_dropped != second.n_labels_dropped)
            fail("fast and jansson decoders left out different label counts", first.host);
    }
    if (rc != 0) {
        if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
            fail("rejection without a message", "");
        return 0;
    }
    char *buf;
    size_t len;
    if (vg_wire_encode(&first, &buf, &len, err, sizeof(err)) != 0)
        fail("encoder refused what the decoder accepted", err);
    if (vg_wire_decode(buf, len, 0, &second, err, sizeof(err)) != 0)
        fail("decoder refused the encoder's output", err);
    check_equal(&first, &second);
    free(buf);
    return 0;
}
