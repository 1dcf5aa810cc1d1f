/*
 * bits.h — the bits commands' entries in the command table (command.c) and their handlers:
 * bits.c's SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, and strings_more.c's string commands,
 * INCRBYFLOAT and LCS. X(name, arity, flags, first key, last key, key step, handler), as in
 * command.c, with the key positions Redis 7.0's COMMAND INFO reports.
 */
#ifndef RAFTKV_KV_BITS_H
#define RAFTKV_KV_BITS_H

#include "kv/kv_internal.h"

#define KV_BITS_COMMANDS(X)                                                                        \
    X("setbit", 4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_EXTENDS, 1, 1, 1,           \
      kv_command_setbit)                                                                           \
    X("getbit", 3, KV_COMMAND_READ, 1, 1, 1, kv_command_getbit)                                    \
    X("bitcount", -2, KV_COMMAND_READ, 1, 1, 1, kv_command_bitcount)                               \
    X("bitpos", -3, KV_COMMAND_READ, 1, 1, 1, kv_command_bitpos)                                   \
    X("bitop", -4, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_COPIES, 2, -1, 1,           \
      kv_command_bitop)                                                                            \
    X("incrbyfloat", 3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM, 1, 1, 1, kv_command_incrbyfloat)   \
    X("lcs", -3, KV_COMMAND_READ, 1, 2, 1, kv_command_lcs)

KV_HANDLER(kv_command_setbit);
KV_HANDLER(kv_command_getbit);
KV_HANDLER(kv_command_bitcount);
KV_HANDLER(kv_command_bitpos);
KV_HANDLER(kv_command_bitop);
KV_HANDLER(kv_command_incrbyfloat);
KV_HANDLER(kv_command_lcs);

#endif
