/* HMAC-SHA256 signatures of webhook bodies (X-Vigil-Signature, docs/alerts.md), on OpenSSL's
 * libcrypto. The same two functions are what a receiver written in C needs to verify them.
 */
#ifndef VG_HMAC_H
#define VG_HMAC_H

#include <stddef.h>

/* "sha256=" + 64 lower-case hex digits */
#define VG_HMAC_SIG_LEN (7 + 64)

/* Writes "sha256=<hex HMAC-SHA256(key, msg)>" and a NUL into out. 0, or -EIO if libcrypto
 * fails. */
int vg_hmac_sign(const void *key, size_t keylen, const void *msg, size_t len,
                 char out[VG_HMAC_SIG_LEN + 1]);

/* 1 when header (an X-Vigil-Signature value) is the signature of msg under key, else 0. The
 * comparison takes the same time wherever the first difference is, so that an attacker cannot
 * learn the signature byte by byte from response times. */
int vg_hmac_verify(const void *key, size_t keylen, const void *msg, size_t len, const char *header);

#endif
