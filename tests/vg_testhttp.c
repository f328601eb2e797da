#include "vg_testhttp.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct buf {
    char *p;
    size_t n;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ud)
{
    struct buf *b = ud;
    char *np = realloc(b->p, b->n + sz * nm + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, d, sz * nm);
    b->n += sz * nm;
    np[b->n] = '\0';
    b->p = np;
    return sz * nm;
}

int vg_th_request(const char *method, const char *url, const char *token, const char *req_body,
                  size_t req_len, char **body)
{
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    struct buf b = {calloc(1, 1), 0};
    struct curl_slist *h = NULL;
    char auth[600];
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (req_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (body)
        *body = b.p;
    else
        free(b.p);
    return (int)status;
}

json_t *vg_th_get_json(int port, const char *path)
{
    char url[512], *body = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    int st = vg_th_request("GET", url, NULL, NULL, 0, &body);
    if (st != 200)
        fail_msg("GET %s: %d %s", path, st, body ? body : "");
    json_t *o = json_loads(body, 0, NULL);
    if (!o)
        fail_msg("GET %s: not JSON: %s", path, body ? body : "");
    free(body);
    return o;
}
