/* Which adapters this build has: each peer is compiled only when meson
 * found its library (HAVE_LMDB, ...). libkvs is always there. */
#include "adapter.h"

#include <string.h>

static const bench_adapter_t *const adapters[] = {
    &bench_adapter_kvs,
#ifdef HAVE_LMDB
    &bench_adapter_lmdb,
#endif
#ifdef HAVE_LEVELDB
    &bench_adapter_leveldb,
#endif
#ifdef HAVE_ROCKSDB
    &bench_adapter_rocksdb,
#endif
#ifdef HAVE_SQLITE
    &bench_adapter_sqlite,
#endif
#ifdef HAVE_TKRZW
    &bench_adapter_tkrzw,
#endif
};

const bench_adapter_t *const *bench_adapters(size_t *count)
{
    *count = sizeof adapters / sizeof adapters[0];
    return adapters;
}

int bench_adapter_find(const char *name)
{
    size_t n;
    const bench_adapter_t *const *a = bench_adapters(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i]->name, name) == 0)
            return (int)i;
    return -1;
}

void *bench_attach_shared(void *db)
{
    return db;
}

void bench_detach_shared(void *ctx)
{
    (void)ctx;
}
