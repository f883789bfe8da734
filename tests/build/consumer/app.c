/* A program outside the project that uses libkvs only as a user would:
 * through <kvs.h> and whatever pkg-config or meson's dependency('kvs')
 * give it. Built by the pkg-config and subproject tests. */
#include <kvs.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    kvs_t *db;
    if (argc < 2 || kvs_open(argv[1], NULL, &db) != KVS_OK)
        return 1;
    if (kvs_set(db, "answer", 6, "42", 2) != KVS_OK)
        return 2;
    void *v;
    size_t n;
    if (kvs_get(db, "answer", 6, &v, &n) != KVS_OK || n != 2 || strcmp(v, "42") != 0)
        return 3;
    kvs_free(v);
    if (strcmp(kvs_version(), KVS_VERSION_STRING) != 0)
        return 4;
    printf("libkvs %s works\n", kvs_version());
    return kvs_close(db) == KVS_OK ? 0 : 5;
}
