/* hello: open a store, set, get, remove, close, with error handling. */
#include <kvs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "hello: %s: %s\n", what, kvs_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "hello-db";
    kvs_t *db;
    int rc = kvs_open(dir, NULL, &db);
    if (rc != KVS_OK)
        return fail("open", rc);

    const char *key = "greeting", *value = "hello, world";
    rc = kvs_set(db, key, strlen(key), value, strlen(value));
    if (rc != KVS_OK) {
        kvs_close(db);
        return fail("set", rc);
    }

    void *got;
    size_t len;
    rc = kvs_get(db, key, strlen(key), &got, &len);
    if (rc != KVS_OK) {
        kvs_close(db);
        return fail("get", rc);
    }
    printf("%s = %s (%zu bytes)\n", key, (char *)got, len);
    kvs_free(got);

    rc = kvs_remove(db, key, strlen(key));
    if (rc != KVS_OK) {
        kvs_close(db);
        return fail("remove", rc);
    }
    rc = kvs_get(db, key, strlen(key), &got, &len);
    printf("after remove: %s\n", rc == KVS_NOT_FOUND ? "not found" : kvs_strerror(rc));

    rc = kvs_close(db);
    if (rc != KVS_OK)
        return fail("close", rc);
    return 0;
}
