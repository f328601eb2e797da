/* libFuzzer target for the recorded input of `vigilctl replay` and `vigilctl report FILE`
 * (analyzer/vigilctl/ctl_input.c): kcat dumps of wire messages, with or without kcat -J
 * envelopes, and one-host CSVs with their timestamps (Unix seconds or ms, RFC 3339). Whatever
 * the file holds, every line must be read or skipped with a reason, and nothing may crash or
 * touch memory it does not own. Each input is written to a file (in /dev/shm when there is one)
 * and read to its end; the first line also goes through vg_ctl_parse_time on its own. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_input.h"
#include "fuzz_util.h"
#include "vg_util.h"

static char g_path[256];
static FILE *g_null;

static void remove_file(void)
{
    unlink(g_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_path, sizeof(g_path), "%s/vigil-fuzz-input.%d", base, (int)getpid());
    g_null = fopen("/dev/null", "w"); /* skipped lines are told, one per line: not here */
    if (!g_null)
        abort();
    atexit(remove_file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write(g_path, data, size);

    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    char *line = malloc(first + 1);
    if (!line)
        abort();
    memcpy(line, data, first);
    line[first] = '\0';
    int64_t ms;
    vg_ctl_parse_time(line, &ms);
    free(line);

    struct vg_ctl_input in;
    char err[VG_ERRLEN];
    if (vg_ctl_input_open(&in, g_path, "fuzz-host", err, sizeof(err)) == 0) {
        in.report = g_null;
        struct vg_wire_msg m;
        vg_wire_msg_init(&m);
        while (vg_ctl_input_next(&in, &m) == 1)
            vg_wire_msg_reset(&m);
        vg_wire_msg_free(&m);
    }
    vg_ctl_input_close(&in);
    return 0;
}
