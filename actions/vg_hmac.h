/* HMAC-SHA256 signatures of webhook requests (X-Vigil-Signature, docs/alerts.md), on OpenSSL's
 * libcrypto. The same two functions are what a receiver written in C needs to verify them.
 *
 * What is signed is "<X-Vigil-Timestamp>.<body>": the timestamp is that of the attempt, so a
 * receiver can refuse a captured request replayed later, and each retry is signed afresh.
 */
#ifndef VG_HMAC_H
#define VG_HMAC_H

#include <stddef.h>

/* "sha256=" + 64 lower-case hex digits */
#define VG_HMAC_SIG_LEN (7 + 64)

/* Writes "sha256=<hex HMAC-SHA256(key, ts "." msg)>" and a NUL into out; ts is the decimal
 * X-Vigil-Timestamp exactly as sent. 0, -ENOMEM, or -EIO if libcrypto fails. */
int vg_hmac_sign(const void *key, size_t keylen, const char *ts, const void *msg, size_t len,
                 char out[VG_HMAC_SIG_LEN + 1]);

/* 1 when header (an X-Vigil-Signature value) is the signature of ts and msg under key, else 0.
 * The comparison takes the same time wherever the first difference is, so that an attacker
 * cannot learn the signature byte by byte from response times. How old ts may be is the
 * receiver's policy, checked apart (docs/alerts.md). */
int vg_hmac_verify(const void *key, size_t keylen, const char *ts, const void *msg, size_t len,
                   const char *header);

#endif
