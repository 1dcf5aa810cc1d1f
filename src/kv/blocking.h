/*
 * blocking.h — the blocking commands' entries in the command table (command.c) and their
 * handlers (blocking.c). X(name, arity, flags, first key, last key, key step, handler), as in
 * command.c, with the key positions Redis 7.0's COMMAND INFO reports.
 */
#ifndef RAFTKV_KV_BLOCKING_H
#define RAFTKV_KV_BLOCKING_H

#include "kv/kv_internal.h"

#define KV_BLOCKING_WRITE (KV_COMMAND_WRITE | KV_COMMAND_BLOCKING)

#define KV_BLOCKING_COMMANDS(X)                                                                    \
    X("blpop", -3, KV_BLOCKING_WRITE, 1, -2, 1, kv_command_blpop)                                  \
    X("brpop", -3, KV_BLOCKING_WRITE, 1, -2, 1, kv_command_brpop)                                  \
    X("blmove", 6, KV_BLOCKING_WRITE | KV_COMMAND_DENY_OOM, 1, 2, 1, kv_command_blmove)            \
    X("brpoplpush", 4, KV_BLOCKING_WRITE | KV_COMMAND_DENY_OOM, 1, 2, 1, kv_command_brpoplpush)    \
    X("blmpop", -5, KV_BLOCKING_WRITE | KV_COMMAND_NUMKEYS_2, 0, 0, 0, kv_command_blmpop)          \
    X("bzpopmin", -3, KV_BLOCKING_WRITE, 1, -2, 1, kv_command_bzpopmin)                            \
    X("bzpopmax", -3, KV_BLOCKING_WRITE, 1, -2, 1, kv_command_bzpopmax)                            \
    X("bzmpop", -5, KV_BLOCKING_WRITE | KV_COMMAND_NUMKEYS_2, 0, 0, 0, kv_command_bzmpop)

KV_HANDLER(kv_command_blpop);
KV_HANDLER(kv_command_brpop);
KV_HANDLER(kv_command_blmove);
KV_HANDLER(kv_command_brpoplpush);
KV_HANDLER(kv_command_blmpop);
KV_HANDLER(kv_command_bzpopmin);
KV_HANDLER(kv_command_bzpopmax);
KV_HANDLER(kv_command_bzmpop);

#endif
