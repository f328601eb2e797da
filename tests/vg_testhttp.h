/* A minimal HTTP client for tests (libcurl). */
#ifndef VG_TESTHTTP_H
#define VG_TESTHTTP_H

#include <stddef.h>

/* Performs a request; returns the HTTP status (or -1) and stores a malloc'd NUL-terminated
 * response body in *body (caller frees) when body != NULL. token may be NULL. */
int vg_th_request(const char *method, const char *url, const char *token, const char *req_body,
                  size_t req_len, char **body);

#endif
