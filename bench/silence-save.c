/* bench/silence-save: how long a silence change holds the analyzer's lock, which message scoring
 * waits for (docs/bench.md). For each count of silences, the store is filled, then each round
 * times a whole vg_silences_save() (what a change held the lock for before: snapshot, write,
 * fsync, rename) and what an expiry through the API holds it for now: its preparation, answer
 * and snapshot before the write, and its making after it (the write and fsync run without it).
 * Prints the median and the max of each.
 *
 *   silence-save [DIR] [COUNT...]     DIR defaults to /var/tmp; counts to 300 3000 10000
 */
#include "vg_silence.h"
#include "vg_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 21

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    long def[] = {300, 3000, 10000}, counts[16];
    int n = 0;
    for (int i = 2; i < argc && n < 16; i++)
        counts[n++] = strtol(argv[i], NULL, 10);
    if (!n)
        for (; n < 3; n++)
            counts[n] = def[n];
    char path[4096];
    snprintf(path, sizeof(path), "%s/vigil-bench-silences.%d.json", dir, (int)getpid());
    printf("%-8s %-12s %22s %22s\n", "count", "file", "save (lock before) ms", "change (now) ms");
    for (int c = 0; c < n; c++) {
        if (counts[c] < 1) {
            fprintf(stderr, "silence-save: a count is at least 1\n");
            return 1;
        }
        struct vg_silences *s;
        if (vg_silences_new(&s))
            return 1;
        int64_t now = 1700000000000LL;
        char ids[ROUNDS][VG_SILENCE_ID_LEN];
        for (long i = 0; i < counts[c]; i++) {
            char body[256], id[VG_SILENCE_ID_LEN], err[VG_ERRLEN];
            snprintf(body, sizeof(body),
                     "{\"matchers\":[\"host=\\\"web-%ld\\\"\",\"alertname=~\\\"cpu.*\\\"\"],"
                     "\"duration\":\"2h\",\"created_by\":\"bench\",\"comment\":\"maintenance "
                     "window %ld\"}",
                     i, i);
            if (vg_silences_add_json(s, body, strlen(body), now, id, err, sizeof(err))) {
                fprintf(stderr, "silence-save: %s\n", err);
                return 1;
            }
            if (i < ROUNDS)
                memcpy(ids[i], id, sizeof(id));
        }
        int64_t save[ROUNDS], snap[ROUNDS];
        size_t bytes = 0;
        for (int r = 0; r < ROUNDS; r++) {
            char err[VG_ERRLEN];
            int64_t t0 = now_us();
            if (vg_silences_save(s, path, now, err, sizeof(err))) {
                fprintf(stderr, "silence-save: %s\n", err);
                return 1;
            }
            save[r] = now_us() - t0;
            /* Round r expires silence r (each round one, while there are enough). */
            struct vg_silences_snap sn;
            struct vg_silences_change ch;
            t0 = now_us();
            if (vg_silences_prepare_expire(s, ids[r % counts[c]], now, &ch))
                return 1;
            json_t *answer = vg_silences_change_json(s, &ch);
            if (!answer || vg_silences_snapshot_change(s, &ch, &sn))
                return 1;
            int64_t held = now_us() - t0;
            t0 = now_us();
            if (vg_silences_apply(s, &ch))
                return 1;
            snap[r] = held + now_us() - t0;
            json_decref(answer);
            char *text = json_dumps(sn.doc, JSON_INDENT(1));
            bytes = text ? strlen(text) : 0;
            free(text);
            vg_silences_snap_free(&sn);
        }
        qsort(save, ROUNDS, sizeof(save[0]), cmp);
        qsort(snap, ROUNDS, sizeof(snap[0]), cmp);
        char size[32];
        snprintf(size, sizeof(size), "%.1f KiB", (double)bytes / 1024);
        printf("%-8ld %-12s %10.2f (max %6.2f) %10.2f (max %6.2f)\n", counts[c], size,
               save[ROUNDS / 2] / 1000.0, save[ROUNDS - 1] / 1000.0, snap[ROUNDS / 2] / 1000.0,
               snap[ROUNDS - 1] / 1000.0);
        vg_silences_free(s);
    }
    unlink(path);
    return 0;
}
