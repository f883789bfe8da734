/* Status codes: one table (KVS_STATUS_MAP in kvs.h) gives each code its
 * name and its message. */
#include "internal.h"

/* The map and the documented constants agree. */
#define KVS_STATUS_CHECK(code, value, message) _Static_assert(code == (value), #code);
KVS_STATUS_MAP(KVS_STATUS_CHECK)
#undef KVS_STATUS_CHECK

const char *kvs_strerror(int status)
{
    switch (status) {
#define KVS_STATUS_MESSAGE(code, value, message) \
    case code:                            \
        return message;
        KVS_STATUS_MAP(KVS_STATUS_MESSAGE)
#undef KVS_STATUS_MESSAGE
    default:
        return "unknown libkvs status";
    }
}

const char *kvs_status_name(int status)
{
    switch (status) {
#define KVS_STATUS_NAME(code, value, message) \
    case code:                         \
        return #code;
        KVS_STATUS_MAP(KVS_STATUS_NAME)
#undef KVS_STATUS_NAME
    default:
        return "KVS_UNKNOWN";
    }
}
