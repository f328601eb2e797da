/* Preloaded into kcat by test_consumer_faults: the first LZ4 block its librdkafka compresses gets
 * an impossible block size (0x7fffffff, "uncompressed" bit clear) in its header, so that a
 * consumer's LZ4F_decompress refuses the whole batch (_BAD_COMPRESSION): a stand-in for a batch
 * damaged on a producer's host or on a broker's disk, which the broker stores and serves as it
 * is. Only the first block of the process: the test produces one batch with it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

typedef size_t (*update_fn)(void *, void *, size_t, const void *, size_t, const void *);
typedef size_t (*end_fn)(void *, void *, size_t, const void *);

static int g_damaged;

/* dst holds what LZ4F wrote: n bytes (an LZ4F error code is a huge size_t), starting with a
 * block's 4-byte little-endian size when it wrote one. */
static void damage_block(void *dst, size_t n)
{
    if (g_damaged || n < 8 || n > (size_t)-1 - 128)
        return;
    memcpy(dst, "\xff\xff\xff\x7f", 4);
    g_damaged = 1;
}

size_t LZ4F_compressUpdate(void *cctx, void *dst, size_t cap, const void *src, size_t len,
                           const void *opts)
{
    update_fn real = (update_fn)dlsym(RTLD_NEXT, "LZ4F_compressUpdate");
    if (!real)
        return (size_t)-1;
    size_t n = real(cctx, dst, cap, src, len, opts);
    damage_block(dst, n);
    return n;
}

/* Small input stays in LZ4F's buffer until the end, which writes it as the frame's only block. */
size_t LZ4F_compressEnd(void *cctx, void *dst, size_t cap, const void *opts)
{
    end_fn real = (end_fn)dlsym(RTLD_NEXT, "LZ4F_compressEnd");
    if (!real)
        return (size_t)-1;
    size_t n = real(cctx, dst, cap, opts);
    damage_block(dst, n);
    return n;
}
