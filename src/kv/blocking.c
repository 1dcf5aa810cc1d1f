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
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kv/blocking.h"
#include "kv/list.h"
#include "kv/zset.h"

int kv_blocking_timeout_parse(struct kv_exec *exec, const struct kv_arg *arg, uint64_t *timeout_ms)
{
    long double seconds;
    const char *error = NULL;
    if (!kv_parse_long_double(arg, &seconds)) {
        error = "ERR timeout is not a float or out of range";
    } else if (seconds * 1000.0L > (long double)INT64_MAX) {
        error = "ERR timeout is out of range";
    } else if (ceill(seconds * 1000.0L) < 0) {
        error = "ERR timeout is negative";
    }
    if (error != NULL) {
        if (exec != NULL) {
            kv_reply_text_error(exec, error);
        }
        return -1;
    }
    *timeout_ms = (uint64_t)ceill(seconds * 1000.0L);
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
    if (kv_session_unwrap(&argc, &argv)) {
        /* a session's write: the same, with the keys' positions in the whole entry */
        bool waits = kv_blocking_wait(argc, argv, first_key, key_count, timeout_ms);
        *first_key += KV_SESSION_HEADER_ARGS;
        return waits;
    }
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
    assert(*first_key >= 1 && *first_key + *key_count <= argc);
    return kv_blocking_timeout_parse(NULL, timeout, timeout_ms) == 0;
}

void kv_reply_blocking_timeout(size_t argc, const struct kv_arg *argv, const struct kv_reply *reply)
{
    kv_session_unwrap(&argc, &argv);
    const struct kv_blocking_shape *shape = argc >= 1 ? kv_blocking_shape(&argv[0]) : NULL;
    if (shape != NULL && shape->null_bulk) {
        reply->null(reply->context);
    } else {
        reply->null_array(reply->context);
    }
}

/* ---- the commands ------------------------------------------------------------------------- */

static void kv_block(struct kv_exec *exec, bool null_bulk)
{
    assert(exec->writable); /* only an applied entry may wait: reads never block */
    if (exec->in_transaction) {
        /* Inside MULTI a blocking command does not wait: it answers its timeout reply. */
        if (null_bulk) {
            exec->reply->null(exec->reply->context);
        } else {
            exec->reply->null_array(exec->reply->context);
        }
        return;
    }
    exec->reply->blocked(exec->reply->context);
}

/* BLPOP / BRPOP key [key ...] timeout: the first key holding a list decides. */
static int kv_blocking_list_pop(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                bool left)
{
    uint64_t timeout_ms;
    if (kv_blocking_timeout_parse(exec, &argv[argc - 1], &timeout_ms) != 0) {
        return 0;
    }
    for (size_t i = 1; i + 1 < argc; i++) {
        int outcome = kv_list_pop(exec, &argv[i], left, 1, KV_LIST_REPLY_KEY_ELEMENT);
        if (outcome != KV_LIST_NONE) {
            return outcome < 0 ? outcome : 0;
        }
    }
    kv_block(exec, false);
    return 0;
}

KV_HANDLER(kv_command_blpop)
{
    return kv_blocking_list_pop(exec, argc, argv, true);
}

KV_HANDLER(kv_command_brpop)
{
    return kv_blocking_list_pop(exec, argc, argv, false);
}

static int kv_blocking_move(struct kv_exec *exec, const struct kv_arg *argv, bool from_left,
                            bool to_left, const struct kv_arg *timeout)
{
    uint64_t timeout_ms;
    if (kv_blocking_timeout_parse(exec, timeout, &timeout_ms) != 0) {
        return 0;
    }
    int outcome = kv_list_move(exec, &argv[1], &argv[2], from_left, to_left);
    if (outcome == KV_LIST_NONE) {
        kv_block(exec, true);
        return 0;
    }
    return outcome < 0 ? outcome : 0;
}

/* BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout */
KV_HANDLER(kv_command_blmove)
{
    (void)argc;
    bool from_left, to_left;
    if (!kv_parse_side(exec, &argv[3], "left", "right", &from_left) ||
        !kv_parse_side(exec, &argv[4], "left", "right", &to_left)) {
        return 0;
    }
    return kv_blocking_move(exec, argv, from_left, to_left, &argv[5]);
}

/* BRPOPLPUSH source destination timeout: BLMOVE ... RIGHT LEFT. */
KV_HANDLER(kv_command_brpoplpush)
{
    (void)argc;
    return kv_blocking_move(exec, argv, false, true, &argv[3]);
}

/* BLMPOP and BZMPOP: the shape LMPOP and ZMPOP have, behind the timeout, which Redis parses
 * last. */
static bool kv_blocking_mpop_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                   const char *low, const char *high, struct kv_mpop *mpop)
{
    uint64_t timeout_ms;
    return kv_mpop_parse(exec, argc, argv, 2, low, high, mpop) &&
           kv_blocking_timeout_parse(exec, &argv[1], &timeout_ms) == 0;
}

/* BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT count] */
KV_HANDLER(kv_command_blmpop)
{
    struct kv_mpop mpop;
    if (!kv_blocking_mpop_parse(exec, argc, argv, "left", "right", &mpop)) {
        return 0;
    }
    for (size_t i = 0; i < mpop.key_count; i++) {
        int outcome =
            kv_list_pop(exec, &argv[3 + i], mpop.low, mpop.count, KV_LIST_REPLY_KEY_ARRAY);
        if (outcome != KV_LIST_NONE) {
            return outcome < 0 ? outcome : 0;
        }
    }
    kv_block(exec, false);
    return 0;
}

/* One sorted set's pop for BZPOPMIN/BZPOPMAX (nested false) or BZMPOP (nested true): 1 when
 * it decided the command (replied), 0 when the key holds no sorted set, or a negative error. */
static int kv_blocking_zset_pop(struct kv_exec *exec, const struct kv_arg *key,
                                enum kv_zset_end end, uint64_t count, bool nested)
{
    struct kv_record record;
    int found = kv_zset_lookup(exec, key, &record); /* replies WRONGTYPE itself */
    if (found == KV_LOOKUP_ABSENT || found < 0) {
        return found;
    }
    if (found == KV_LOOKUP_WRONG_TYPE) {
        return 1;
    }
    if (nested) {
        exec->reply->array(exec->reply->context, 2);
        exec->reply->bulk(exec->reply->context, key->data, key->data_bytes);
        exec->reply->array(exec->reply->context, kv_zset_pop_count(&record, count));
    } else {
        exec->reply->array(exec->reply->context, 3);
        exec->reply->bulk(exec->reply->context, key->data, key->data_bytes);
    }
    int result =
        kv_zset_pop(exec, key, &record, end, count, nested ? KV_ZSET_POP_NESTED : KV_ZSET_POP_FLAT);
    return result < 0 ? result : 1;
}

static int kv_blocking_zpop(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                            enum kv_zset_end end)
{
    uint64_t timeout_ms;
    if (kv_blocking_timeout_parse(exec, &argv[argc - 1], &timeout_ms) != 0) {
        return 0;
    }
    for (size_t i = 1; i + 1 < argc; i++) {
        int decided = kv_blocking_zset_pop(exec, &argv[i], end, 1, false);
        if (decided != 0) {
            return decided < 0 ? decided : 0;
        }
    }
    kv_block(exec, false);
    return 0;
}

KV_HANDLER(kv_command_bzpopmin)
{
    return kv_blocking_zpop(exec, argc, argv, KV_ZSET_MIN);
}

KV_HANDLER(kv_command_bzpopmax)
{
    return kv_blocking_zpop(exec, argc, argv, KV_ZSET_MAX);
}

/* BZMPOP timeout numkeys key... MIN|MAX [COUNT count] */
KV_HANDLER(kv_command_bzmpop)
{
    struct kv_mpop mpop;
    if (!kv_blocking_mpop_parse(exec, argc, argv, "min", "max", &mpop)) {
        return 0;
    }
    for (size_t i = 0; i < mpop.key_count; i++) {
        int decided = kv_blocking_zset_pop(exec, &argv[mpop.first_key + i],
                                           mpop.low ? KV_ZSET_MIN : KV_ZSET_MAX, mpop.count, true);
        if (decided != 0) {
            return decided < 0 ? decided : 0;
        }
    }
    kv_block(exec, false);
    return 0;
}
