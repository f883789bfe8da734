/* Status codes: one table gives each code its name and its message. */
#include "internal.h"

#define KVS_STATUS_MAP(X)                                                           \
    X(KVS_OK, "success")                                                            \
    X(KVS_NOT_FOUND, "key not found")                                               \
    X(KVS_EXISTS, "key already exists")                                             \
    X(KVS_EINVAL, "invalid argument")                                               \
    X(KVS_EIO, "I/O error")                                                         \
    X(KVS_ECORRUPT, "data on disk is corrupt")                                      \
    X(KVS_ENOMEM, "out of memory")                                                  \
    X(KVS_EBUSY, "store is locked by another handle")                               \
    X(KVS_ETOOBIG, "key or value too large")                                        \
    X(KVS_EREADONLY, "store is open read-only")                                     \
    X(KVS_EVERSION, "unsupported on-disk format version")                           \
    X(KVS_ENOENT, "no store in this directory")

const char *kvs_strerror(int status)
{
    switch (status) {
#define KVS_STATUS_MESSAGE(code, message) \
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
#define KVS_STATUS_NAME(code, message) \
    case code:                         \
        return #code;
        KVS_STATUS_MAP(KVS_STATUS_NAME)
#undef KVS_STATUS_NAME
    default:
        return "KVS_UNKNOWN";
    }
}
