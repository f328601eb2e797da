#include "vg_hmac.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

int vg_hmac_sign(const void *key, size_t keylen, const char *ts, const void *msg, size_t len,
                 char out[VG_HMAC_SIG_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    /* One buffer and the one-shot HMAC(): the streaming HMAC_CTX calls are deprecated in
     * OpenSSL 3, and these bodies are a few KiB. */
    size_t tl = ts ? strlen(ts) : 0;
    unsigned char *buf = malloc(tl + 1 + len + 1);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, ts ? ts : "", tl);
    buf[tl] = '.';
    if (len)
        memcpy(buf + tl + 1, msg, len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    /* HMAC() wants a non-NULL key pointer even for an empty key. */
    static const unsigned char none;
    const unsigned char *ok =
        HMAC(EVP_sha256(), keylen ? key : &none, (int)keylen, buf, tl + 1 + len, md, &mdlen);
    free(buf);
    if (!ok || mdlen != 32)
        return -EIO;
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < mdlen; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[7 + 2 * i + 1] = hex[md[i] & 15];
    }
    out[VG_HMAC_SIG_LEN] = '\0';
    OPENSSL_cleanse(md, sizeof(md));
    return 0;
}

int vg_hmac_verify(const void *key, size_t keylen, const char *ts, const void *msg, size_t len,
                   const char *header)
{
    char want[VG_HMAC_SIG_LEN + 1];
    if (!header || !ts || vg_hmac_sign(key, keylen, ts, msg, len, want) < 0)
        return 0;
    /* The length is public (it is fixed), so checking it first leaks nothing. */
    if (strlen(header) != VG_HMAC_SIG_LEN)
        return 0;
    return CRYPTO_memcmp(want, header, VG_HMAC_SIG_LEN) == 0;
}
