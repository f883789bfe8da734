// The public header compiled as C++: extern "C" guards and no C-only syntax.
#include <kvs.h>

static_assert(KVS_OK == 0, "KVS_OK is 0");
static_assert(KVS_NOT_FOUND == 1, "KVS_NOT_FOUND is 1");

int main()
{
    kvs_t *db = nullptr;
    (void)db;
    return KVS_EINVAL < 0 ? 0 : 1;
}
