/* Preloaded into one agent by test_cli: pthread_create called from the local webhook module
 * (libvigil-agent-webhook.so) fails with EAGAIN, as it does at a thread limit, so that the start's
 * handling of a receiver that cannot start (not a config error) is tested. Other callers
 * (librdkafka) get the real one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    Dl_info info;
    if (dladdr(__builtin_return_address(0), &info) && info.dli_fname &&
        strstr(info.dli_fname, "libvigil-agent-webhook"))
        return EAGAIN;
    create_fn real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    return real ? real(t, attr, fn, arg) : ENOSYS;
}
