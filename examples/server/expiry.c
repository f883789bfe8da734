/* Expiry arguments as Redis 7.0 reads them; see expiry.h. */
#include "expiry.h"

#include <limits.h>
#include <time.h>

#include "commands.h"

long long expiry_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The option an argument names and the options it may not follow; 0 if none. */
static unsigned option_of(const struct resp_arg *a, bool set, unsigned *conflicts)
{
    static const struct {
        const char *name;
        unsigned flag, conflicts;
        bool set_only, get_only;
    } opts[] = {
        {"nx", SO_NX, SO_XX, true, false},
        {"xx", SO_XX, SO_NX, true, false},
        {"get", SO_GET, 0, true, false},
        {"keepttl", SO_KEEPTTL, SO_PERSIST | SO_ANY_EXPIRY, true, false},
        {"persist", SO_PERSIST, SO_KEEPTTL | SO_ANY_EXPIRY, false, true},
        /* an expiry kind may repeat, but not follow another kind */
        {"ex", SO_EX, SO_KEEPTTL | SO_PERSIST | (SO_ANY_EXPIRY & ~SO_EX), false, false},
        {"px", SO_PX, SO_KEEPTTL | SO_PERSIST | (SO_ANY_EXPIRY & ~SO_PX), false, false},
        {"exat", SO_EXAT, SO_KEEPTTL | SO_PERSIST | (SO_ANY_EXPIRY & ~SO_EXAT), false, false},
        {"pxat", SO_PXAT, SO_KEEPTTL | SO_PERSIST | (SO_ANY_EXPIRY & ~SO_PXAT), false, false},
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (!arg_is(a, opts[i].name))
            continue;
        if ((opts[i].set_only && !set) || (opts[i].get_only && set))
            return 0;
        *conflicts = opts[i].conflicts;
        return opts[i].flag;
    }
    return 0;
}

bool string_opts_parse(size_t argc, const struct resp_arg *argv, bool set, struct string_opts *o)
{
    *o = (struct string_opts){0};
    for (size_t j = set ? 3 : 2; j < argc; j++) {
        unsigned conflicts = 0, flag = option_of(&argv[j], set, &conflicts);
        if (!flag || (o->flags & conflicts))
            return false;
        if (flag & SO_ANY_EXPIRY) {
            if (j + 1 >= argc)
                return false; /* no time after it */
            o->expire = &argv[++j];
        }
        o->flags |= flag;
    }
    return true;
}

enum expiry_status expiry_from_arg(unsigned flags, const struct resp_arg *a, long long now_ms,
                                   uint64_t *at_ms)
{
    long long v;
    if (!resp_parse_ll(a->ptr, a->len, &v))
        return EXPIRY_NOT_INTEGER;
    bool seconds = flags & (SO_EX | SO_EXAT);
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000))
        return EXPIRY_INVALID;
    if (seconds)
        v *= 1000;
    if (flags & (SO_EX | SO_PX)) {
        if (v > LLONG_MAX - now_ms)
            return EXPIRY_INVALID;
        v += now_ms;
    }
    *at_ms = (uint64_t)v;
    return EXPIRY_OK;
}

void reply_expiry_error(struct session *s, enum expiry_status st, const char *cmd)
{
    if (st == EXPIRY_NOT_INTEGER)
        reply_not_integer(s);
    else
        resp_add_errorf(s->out, "ERR invalid expire time in '%s' command", cmd);
}
