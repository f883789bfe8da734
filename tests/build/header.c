/* The public header on its own, as strict C11: every declaration must parse
 * with -Wall -Wextra -Wpedantic -Werror and nothing else included. */
#include <kvs.h>

int main(void)
{
    /* Header and library versions are the same numbers. */
    return KVS_VERSION_NUMBER == KVS_VERSION_MAJOR * 10000 + KVS_VERSION_MINOR * 100 +
                                     KVS_VERSION_PATCH
               ? 0
               : 1;
}
