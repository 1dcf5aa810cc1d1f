/*
 * list.h — the list commands' entries in the command table (command.c) and their handlers.
 * X(name, arity, flags, first key, last key, key step, handler), as in command.c. The key
 * positions and flags are those Redis 7.0's COMMAND INFO reports; LMPOP's keys follow its
 * numkeys argument ("movablekeys" in Redis), so it reports 0 0 0 as Redis does.
 *
 * Besides the handlers, list.c offers kv_list_pop and kv_list_move, the two operations the
 * blocking variants (BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH) are made of: they run inside a
 * write (a committed entry) and reply what the non-blocking commands reply, and they tell an
 * absent key (nothing replied: block, or answer the timeout) from a done pop and from an
 * error already replied.
 */
#ifndef RAFTKV_KV_LIST_H
#define RAFTKV_KV_LIST_H

#include "kv/kv_internal.h"

#define KV_LIST_COMMANDS(X)                                                                        \
    X("lpush", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_lpush)              \
    X("rpush", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_rpush)              \
    X("lpushx", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_lpushx)            \
    X("rpushx", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_rpushx)            \
    X("lpop", -2, KV_COMMAND_WRITE, 1, 1, 1, kv_command_lpop)                                      \
    X("rpop", -2, KV_COMMAND_WRITE, 1, 1, 1, kv_command_rpop)                                      \
    X("llen", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_llen)                                        \
    X("lrange", 4, KV_COMMAND_READ, 1, 1, 1, kv_command_lrange)                                    \
    X("lindex", 3, KV_COMMAND_READ, 1, 1, 1, kv_command_lindex)                                    \
    X("lset", 4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_lset)                 \
    X("linsert", 5, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_linsert)           \
    X("lrem", 4, KV_COMMAND_WRITE, 1, 1, 1, kv_command_lrem)                                       \
    X("ltrim", 4, KV_COMMAND_WRITE | KV_COMMAND_COPIES, 1, 1, 1, kv_command_ltrim)                 \
    X("lpos", -3, KV_COMMAND_READ, 1, 1, 1, kv_command_lpos)                                       \
    X("lmove", 5, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 2, 1, kv_command_lmove)               \
    X("rpoplpush", 3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 2, 1, kv_command_rpoplpush)       \
    X("lmpop", -4, KV_COMMAND_WRITE | KV_COMMAND_NUMKEYS_1, 0, 0, 0, kv_command_lmpop)

KV_HANDLER(kv_command_lpush);
KV_HANDLER(kv_command_rpush);
KV_HANDLER(kv_command_lpushx);
KV_HANDLER(kv_command_rpushx);
KV_HANDLER(kv_command_lpop);
KV_HANDLER(kv_command_rpop);
KV_HANDLER(kv_command_llen);
KV_HANDLER(kv_command_lrange);
KV_HANDLER(kv_command_lindex);
KV_HANDLER(kv_command_lset);
KV_HANDLER(kv_command_linsert);
KV_HANDLER(kv_command_lrem);
KV_HANDLER(kv_command_ltrim);
KV_HANDLER(kv_command_lpos);
KV_HANDLER(kv_command_lmove);
KV_HANDLER(kv_command_rpoplpush);
KV_HANDLER(kv_command_lmpop);

/* How kv_list_pop replies the elements it pops. */
enum kv_list_reply_style {
    KV_LIST_REPLY_ELEMENT,     /* the element as a bulk string (LPOP key); count must be 1 */
    KV_LIST_REPLY_ARRAY,       /* an array of the elements (LPOP key count) */
    KV_LIST_REPLY_KEY_ELEMENT, /* [key, element] (BLPOP, BRPOP); count must be 1 */
    KV_LIST_REPLY_KEY_ARRAY,   /* [key, [elements]] (LMPOP, BLMPOP) */
};

/* What kv_list_pop and kv_list_move did (a negative enum kv_error when storage failed). */
enum kv_list_outcome {
    KV_LIST_NONE = 0,    /* the key (LMOVE's source) is absent or expired: nothing replied */
    KV_LIST_DONE = 1,    /* popped (or moved) and replied */
    KV_LIST_REFUSED = 2, /* an error was replied (WRONGTYPE, a destination key too long) */
};

/* Pops up to `count` (at least 1) elements from the head (left) or the tail of the list under
 * key, in pop order, and replies them in `style`; the list is deleted when emptied. Returns an
 * enum kv_list_outcome. Writes: call it in a write only (exec->writable). BLPOP over keys is
 * "stop at the first outcome that is not KV_LIST_NONE"; when all are NONE, nothing has been
 * replied and the caller blocks or replies its timeout (a null array in Redis). */
int kv_list_pop(struct kv_exec *exec, const struct kv_arg *key, bool left, uint64_t count,
                enum kv_list_reply_style style);

/* LMOVE: pops one element from source's head (from_left) or tail, pushes it on destination's
 * head (to_left) or tail (creating that list), and replies the element as a bulk string. The
 * same key for both rotates the list. Returns an enum kv_list_outcome: NONE when the source is
 * absent (nothing replied: LMOVE replies null, BLMOVE blocks), REFUSED when an error was
 * replied (WRONGTYPE on either key, a destination key too long to write). Writes only. */
int kv_list_move(struct kv_exec *exec, const struct kv_arg *source,
                 const struct kv_arg *destination, bool from_left, bool to_left);

#endif
