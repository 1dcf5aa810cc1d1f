/*
 * keys.h — the keys commands' entries in the command table (command.c) and their handlers.
 * X(name, arity, flags, first key, last key, key step, handler), as in command.c; the key
 * positions are those Redis 7.0's COMMAND INFO reports (OBJECT, a container in Redis, reports
 * none: its subcommands name the key).
 */
#ifndef RAFTKV_KV_KEYS_H
#define RAFTKV_KV_KEYS_H

#include "kv/kv_internal.h"

#define KV_KEYS_COMMANDS(X)                                                                        \
    X("rename", 3, KV_COMMAND_WRITE, 1, 2, 1, kv_command_rename)                                   \
    X("renamenx", 3, KV_COMMAND_WRITE, 1, 2, 1, kv_command_renamenx)                               \
    X("copy", -3, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_COPIES, 1, 2, 1,             \
      kv_command_copy)                                                                             \
    X("touch", -2, KV_COMMAND_READ, 1, -1, 1, kv_command_touch)                                    \
    X("randomkey", 1, KV_COMMAND_READ, 0, 0, 0, kv_command_randomkey)                              \
    X("object", -2, KV_COMMAND_READ, 0, 0, 0, kv_command_object)                                   \
    X("time", 1, KV_COMMAND_READ, 0, 0, 0, kv_command_time)

KV_HANDLER(kv_command_rename);
KV_HANDLER(kv_command_renamenx);
KV_HANDLER(kv_command_copy);
KV_HANDLER(kv_command_touch);
KV_HANDLER(kv_command_randomkey);
KV_HANDLER(kv_command_object);
KV_HANDLER(kv_command_time);

#endif
