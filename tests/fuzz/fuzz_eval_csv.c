/* libFuzzer target for the evaluation data readers (NAB CSV, SMD matrices, interpretation
 * labels): any bytes give 0 or an error message, never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vg_eval_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct vg_eval_series s;
    if (vg_eval_series_parse((const char *)data, size, "fuzz", &s, err, sizeof(err)) == 0)
        vg_eval_series_free(&s);
    double *m;
    size_t rows, cols;
    if (vg_eval_matrix_parse((const char *)data, size, "fuzz", &m, &rows, &cols, err,
                             sizeof(err)) == 0)
        free(m);
    uint64_t *masks;
    if (vg_eval_interp_parse((const char *)data, size, "fuzz", 64, &masks, err, sizeof(err)) == 0)
        free(masks);
    return 0;
}
