/* A minimal HTTP client for tests (libcurl). */
#ifndef VG_TESTHTTP_H
#define VG_TESTHTTP_H

#include <jansson.h>
#include <stddef.h>

/* Performs a request; returns the HTTP status (or -1) and stores a malloc'd NUL-terminated
 * response body in *body (caller frees) when body != NULL. token may be NULL. */
int vg_th_request(const char *method, const char *url, const char *token, const char *req_body,
                  size_t req_len, char **body);

/* GET http://127.0.0.1:port/path, answered 200 with JSON: a new reference. Fails the test
 * (cmocka) otherwise, naming the path, the status and the body. */
json_t *vg_th_get_json(int port, const char *path);

#endif
