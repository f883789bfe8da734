/*
 * libkvs loaded with dlopen(), used from a thread, unloaded with dlclose()
 * while that thread still runs: when the thread exits afterwards, the
 * library's thread-exit destructor (lib/readers.c) must still be mapped
 * (libkvs is linked with -z nodelete). A crash fails the test.
 * usage: dlopen PATH-TO-libkvs.so DIRECTORY
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "kvs.h"

static struct api {
    int (*open)(const char *, const kvs_options_t *, kvs_t **);
    int (*set)(kvs_t *, const void *, size_t, const void *, size_t);
    int (*get)(kvs_t *, const void *, size_t, void **, size_t *);
    void (*free)(void *);
    int (*close)(kvs_t *);
} api;

static kvs_t *db;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage; /* 1: the thread has read; 2: the library is closed */

static int fail(const char *what)
{
    fprintf(stderr, "dlopen test: %s\n", what);
    return 1;
}

static void set_stage(int s)
{
    pthread_mutex_lock(&mu);
    stage = s;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_stage(int s)
{
    pthread_mutex_lock(&mu);
    while (stage < s)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void *reader(void *arg)
{
    void *v = NULL;
    size_t n = 0;
    *(int *)arg = api.get(db, "k", 1, &v, &n) == KVS_OK && n == 1;
    api.free(v);
    set_stage(1);
    wait_stage(2); /* exit after dlclose */
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fail("usage: dlopen LIBRARY DIRECTORY");
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return fail(dlerror());
    *(void **)&api.open = dlsym(lib, "kvs_open");
    *(void **)&api.set = dlsym(lib, "kvs_set");
    *(void **)&api.get = dlsym(lib, "kvs_get");
    *(void **)&api.free = dlsym(lib, "kvs_free");
    *(void **)&api.close = dlsym(lib, "kvs_close");
    if (!api.open || !api.set || !api.get || !api.free || !api.close)
        return fail("a kvs_ symbol is missing");
    if (api.open(argv[2], NULL, &db) != KVS_OK || api.set(db, "k", 1, "v", 1) != KVS_OK)
        return fail("cannot open the store or set a key");
    int read_ok = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, reader, &read_ok) != 0)
        return fail("cannot start a thread");
    wait_stage(1);
    if (api.close(db) != KVS_OK)
        return fail("kvs_close failed");
    dlclose(lib);
    set_stage(2);
    pthread_join(t, NULL);
    return read_ok ? 0 : fail("the thread did not read the value back");
}
