/* Run-time version of the linked library. */
#include "internal.h"

const char *kvs_version(void)
{
    return KVS_VERSION_STRING;
}

int kvs_version_number(void)
{
    return KVS_VERSION_NUMBER;
}
