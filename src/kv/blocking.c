/*
 * blocking.c — what the host needs to know about the blocking commands (BLPOP, BRPOP, BLMOVE,
 * BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP): which keys one waits on, its timeout, and
 * what it replies when the timeout passes. The commands themselves run in list.c and zset.c's
 * pops when an entry applies: something to take is taken (through the log, on every replica);
 * nothing replies `blocked`, and the host parks the client until kv_take_signals names one of
 * its keys, then proposes the same command again.
 *
 * Timeouts follow Redis 6+: seconds as a float, 0 for ever; "ERR timeout is not a float or out
 * of range", "ERR timeout is negative".
 */
#include <math.h>
#include <string.h>

#include "kv/kv_internal.h"

/* Redis's bound on a timeout (its long long milliseconds), well past any real wait. */
#define KV_MAX_TIMEOUT_SECONDS 9.2e15L

int kv_blocking_timeout_parse(struct kv_exec *exec, const struct kv_arg *arg, uint64_t *timeout_ms)
{
    long double seconds;
    if (!kv_parse_long_double(arg, &seconds) || isinf(seconds) ||
        seconds > KV_MAX_TIMEOUT_SECONDS) {
        if (exec != NULL) {
            kv_reply_text_error(exec, "ERR timeout is not a float or out of range");
        }
        return -1;
    }
    if (seconds < 0) {
        if (exec != NULL) {
            kv_reply_text_error(exec, "ERR timeout is negative");
        }
        return -1;
    }
    long double ms = ceill(seconds * 1000.0L);
    *timeout_ms = (uint64_t)ms;
    if (seconds > 0 && *timeout_ms == 0) {
        *timeout_ms = 1;
    }
    return 0;
}

/* Where a blocking command's keys and timeout are. */
struct kv_blocking_shape {
    const char *name;
    bool numkeys;         /* BLMPOP, BZMPOP: timeout numkeys key... */
    size_t keys_from_end; /* arguments after the keys: the timeout, or the destination too */
    size_t fixed_keys;    /* BLMOVE, BRPOPLPUSH: one source key */
    bool null_bulk;       /* replies a null bulk (not a null array) on timeout */
};

static const struct kv_blocking_shape kv_blocking_shapes[] = {
    {"blpop", false, 1, 0, false},    {"brpop", false, 1, 0, false},
    {"bzpopmin", false, 1, 0, false}, {"bzpopmax", false, 1, 0, false},
    {"blmove", false, 0, 1, true},    {"brpoplpush", false, 0, 1, true},
    {"blmpop", true, 0, 0, false},    {"bzmpop", true, 0, 0, false},
};

static const struct kv_blocking_shape *kv_blocking_shape(const struct kv_arg *name)
{
    for (size_t i = 0; i < sizeof kv_blocking_shapes / sizeof kv_blocking_shapes[0]; i++) {
        if (kv_arg_equals_nocase(name, kv_blocking_shapes[i].name)) {
            return &kv_blocking_shapes[i];
        }
    }
    return NULL;
}

bool kv_blocking_wait(size_t argc, const struct kv_arg *argv, size_t *first_key, size_t *key_count,
                      uint64_t *timeout_ms)
{
    const struct kv_blocking_shape *shape = argc >= 3 ? kv_blocking_shape(&argv[0]) : NULL;
    if (shape == NULL) {
        return false;
    }
    const struct kv_arg *timeout;
    if (shape->numkeys) {
        int64_t count;
        timeout = &argv[1];
        if (argc < 4 || !kv_parse_int64(argv[2].data, argv[2].data_bytes, &count) || count < 1 ||
            (uint64_t)count > argc - 3) {
            return false;
        }
        *first_key = 3;
        *key_count = (size_t)count;
    } else if (shape->fixed_keys > 0) {
        /* BLMOVE src dst wherefrom whereto timeout; BRPOPLPUSH src dst timeout */
        timeout = &argv[argc - 1];
        *first_key = 1;
        *key_count = 1;
    } else {
        timeout = &argv[argc - 1];
        *first_key = 1;
        *key_count = argc - 2;
    }
    return kv_blocking_timeout_parse(NULL, timeout, timeout_ms) == 0;
}

void kv_reply_blocking_timeout(size_t argc, const struct kv_arg *argv, const struct kv_reply *reply)
{
    const struct kv_blocking_shape *shape = argc >= 1 ? kv_blocking_shape(&argv[0]) : NULL;
    if (shape != NULL && shape->null_bulk) {
        reply->null(reply->context);
    } else {
        reply->null_array(reply->context);
    }
}
