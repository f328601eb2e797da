/* Preloaded into a daemon by test_security: libcurl as it was before 7.85, which does not know
 * CURLOPT_PROTOCOLS_STR and answers CURLE_UNKNOWN_OPTION, so that the refusal of such a libcurl
 * (vg_http_protocols_probe) is tested on a machine whose libcurl is newer. Every other option
 * goes to the real curl_easy_setopt: its one argument is a long, a pointer or a curl_off_t, each
 * passed as one 64-bit value on the 64-bit targets the tests run on. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdarg.h>

typedef CURLcode (*setopt_fn)(CURL *, CURLoption, ...);

#undef curl_easy_setopt
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    _Static_assert(sizeof(void *) == 8 && sizeof(long) == 8 && sizeof(curl_off_t) == 8,
                   "the argument is forwarded as one 64-bit value");
    va_list ap;
    va_start(ap, opt);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (opt == CURLOPT_PROTOCOLS_STR)
        return CURLE_UNKNOWN_OPTION;
    setopt_fn real = (setopt_fn)dlsym(RTLD_NEXT, "curl_easy_setopt");
    return real ? real(h, opt, arg) : CURLE_FAILED_INIT;
}
