/* What every outgoing HTTP request of the analyzer must satisfy (docs/security.md): its URL
 * passes the receiver allow-list, plain http:// only to loopback unless allowed, and TLS
 * verification of the peer's certificate and host name, optionally against a private CA.
 *
 * URLs are parsed with libcurl's own parser, the one that later connects, so that what is checked
 * is what is used (no parser differential: "https://a.example@b.example/" is host b.example). */
#ifndef VG_HTTPSEC_H
#define VG_HTTPSEC_H

#include <curl/curl.h>
#include <stddef.h>

struct vg_url_policy {
    /* Comma-separated prefixes "scheme://host[:port][/path]"; NULL or "": every URL passes.
     * Scheme, host (case-insensitively) and port (the scheme's default when absent) match
     * exactly; the path by prefix, on a '/' boundary unless the prefix ends with '/'. */
    const char *allowed;
    /* Plain http:// to a host other than localhost, 127.0.0.0/8 or [::1] passes. */
    int allow_plain_http;
    /* The key that allows it, named in the refusal; NULL: "actions.allow_plain_http". */
    const char *plain_http_key;
};

/* 0 when url may be used. Otherwise -EINVAL (url or an allow-list entry is not a usable URL) or
 * -EACCES (refused by the policy), with err "KEY: URL: why". The URL in err carries no userinfo
 * or query (they often hold credentials) and, with hide_path (Slack, whose path is the
 * credential), no path. */
int vg_url_policy_check(const struct vg_url_policy *p, const char *key, const char *url,
                        int hide_path, char *err, size_t errlen);

/* Checks that the allow-list itself parses: 0 or -EINVAL naming the bad entry. */
int vg_url_policy_validate(const struct vg_url_policy *p, const char *key, char *err,
                           size_t errlen);

/* Checks that a CA bundle file can be opened and read as PEM-ish text; 0 or -errno, err naming
 * key and path. NULL or "": 0. */
int vg_http_ca_file_check(const char *ca_file, const char *key, char *err, size_t errlen);

/* Turns TLS verification on explicitly (peer certificate and host name; libcurl's defaults,
 * stated so that nothing can have turned them off) and, when ca_file is set, trusts it in
 * addition to the system's CA path. 0 or -EINVAL. */
int vg_http_tls_apply(CURL *e, const char *ca_file);

/* Restricts e's transfers to http and https (CURLOPT_PROTOCOLS_STR), so that no receiver URL can
 * make libcurl read a file:// or speak another protocol. 0, or -ENOTSUP with err naming the
 * running libcurl: the option needs libcurl 7.85.0 or later, and a refusal ignored would leave
 * every protocol on without a word. */
int vg_http_protocols_apply(CURL *e, char *err, size_t errlen);

/* Whether the libcurl this process runs with accepts CURLOPT_PROTOCOLS_STR: applies it to a
 * handle made for the purpose (vg_http_protocols_apply). A libcurl before 7.85 refuses the option
 * (CURLE_UNKNOWN_OPTION, or CURLE_BAD_FUNCTION_ARGUMENT), whichever version the program was built
 * against, so this is asked of the library at run time: by --check-config, which opens no
 * receiver, and at a start before the first receiver, in the same words. 0, or -ENOTSUP with err
 * naming the running libcurl's version, or -ENOMEM. */
int vg_http_protocols_probe(char *err, size_t errlen);

/* 1 when a transfer failed because the peer's certificate or host name did not verify, or the
 * TLS handshake failed: counted as tls_errors. */
int vg_http_is_tls_error(CURLcode cc);

#endif
