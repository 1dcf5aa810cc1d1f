/*
 * set.h — the set commands' entries in the command table (command.c) and their handlers.
 * X(name, arity, flags, first key, last key, key step, handler), as in command.c. Sets use
 * the hashed-member layout of hash.h (a member's item has an empty value).
 */
#ifndef RAFTKV_KV_SET_H
#define RAFTKV_KV_SET_H

#include "kv/kv_internal.h"

/* SINTERCARD's keys follow its numkeys argument: Redis's COMMAND INFO reports 0 0 0 for it
 * (movablekeys), and so does this table. */
#define KV_SET_COMMANDS(X)                                                                         \
    X("sadd", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_sadd)                \
    X("srem", -3, KV_COMMAND_WRITE, 1, 1, 1, kv_command_srem)                                      \
    X("smembers", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_smembers)                                \
    X("sismember", 3, KV_COMMAND_READ, 1, 1, 1, kv_command_sismember)                              \
    X("smismember", -3, KV_COMMAND_READ, 1, 1, 1, kv_command_smismember)                           \
    X("scard", 2, KV_COMMAND_READ, 1, 1, 1, kv_command_scard)                                      \
    X("spop", -2, KV_COMMAND_WRITE, 1, 1, 1, kv_command_spop)                                      \
    X("srandmember", -2, KV_COMMAND_READ, 1, 1, 1, kv_command_srandmember)                         \
    X("smove", 4, KV_COMMAND_WRITE, 1, 2, 1, kv_command_smove)                                     \
    X("sinter", -2, KV_COMMAND_READ, 1, -1, 1, kv_command_sinter)                                  \
    X("sunion", -2, KV_COMMAND_READ, 1, -1, 1, kv_command_sunion)                                  \
    X("sdiff", -2, KV_COMMAND_READ, 1, -1, 1, kv_command_sdiff)                                    \
    X("sinterstore", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_COPIES, 1, -1, 1,     \
      kv_command_sinterstore)                                                                      \
    X("sunionstore", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_COPIES, 1, -1, 1,     \
      kv_command_sunionstore)                                                                      \
    X("sdiffstore", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_COPIES, 1, -1, 1,      \
      kv_command_sdiffstore)                                                                       \
    X("sintercard", -3, KV_COMMAND_READ | KV_COMMAND_NUMKEYS_1, 0, 0, 0, kv_command_sintercard)    \
    X("sscan", -3, KV_COMMAND_READ, 1, 1, 1, kv_command_sscan)

KV_HANDLER(kv_command_sadd);
KV_HANDLER(kv_command_srem);
KV_HANDLER(kv_command_smembers);
KV_HANDLER(kv_command_sismember);
KV_HANDLER(kv_command_smismember);
KV_HANDLER(kv_command_scard);
KV_HANDLER(kv_command_spop);
KV_HANDLER(kv_command_srandmember);
KV_HANDLER(kv_command_smove);
KV_HANDLER(kv_command_sinter);
KV_HANDLER(kv_command_sunion);
KV_HANDLER(kv_command_sdiff);
KV_HANDLER(kv_command_sinterstore);
KV_HANDLER(kv_command_sunionstore);
KV_HANDLER(kv_command_sdiffstore);
KV_HANDLER(kv_command_sintercard);
KV_HANDLER(kv_command_sscan);

#endif
