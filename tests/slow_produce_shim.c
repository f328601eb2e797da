/* Preloaded into one agent by test_cli: rd_kafka_produce takes 500 ms, as a send held up by a
 * slow disk or a busy librdkafka would, so that the `tick late` line is seen to name the send,
 * not a collector, as the slow part of the tick. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef int (*produce_fn)(void *, int32_t, int, void *, size_t, const void *, size_t, void *);

int rd_kafka_produce(void *rkt, int32_t partition, int msgflags, void *payload, size_t len,
                     const void *key, size_t keylen, void *msg_opaque)
{
    struct timespec ts = {0, 500 * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    produce_fn real = (produce_fn)dlsym(RTLD_NEXT, "rd_kafka_produce");
    if (!real)
        return -1;
    return real(rkt, partition, msgflags, payload, len, key, keylen, msg_opaque);
}
