/* CRC-32 (IEEE 802.3, the zlib polynomial), for records that must detect torn writes and flipped
 * bits on disk: the outbox and the agent's spool. */
#ifndef VG_CRC32_H
#define VG_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over n bytes. Thread-safe. */
uint32_t vg_crc32(uint32_t crc, const void *p, size_t n);

#endif
