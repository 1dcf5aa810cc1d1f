/*
 * transaction.h — MULTI/EXEC's entry: the internal commands a transaction is applied (or read)
 * as, in the command table (command.c) like any other, and the encoding the server builds them
 * with. X(name, arity, flags, first key, last key, key step, handler), as in command.c.
 */
#ifndef RAFTKV_KV_TRANSACTION_H
#define RAFTKV_KV_TRANSACTION_H

#include "kv/kv_internal.h"

/* A transaction may hold a copying or an extending command: counted as one of each. */
#define KV_EXEC_FLAGS                                                                              \
    (KV_COMMAND_WRITE | KV_COMMAND_INTERNAL | KV_COMMAND_COPIES | KV_COMMAND_EXTENDS)

#define KV_TRANSACTION_COMMANDS(X)                                                                 \
    X(KV_EXEC_COMMAND, -3, KV_EXEC_FLAGS, 0, 0, 0, kv_command_raft_exec)                           \
    X(KV_EXEC_READ_COMMAND, -3, KV_COMMAND_READ | KV_COMMAND_INTERNAL, 0, 0, 0,                    \
      kv_command_raft_exec)

/* What the server answers itself, here only so that a transaction can hold them. */
#define KV_QUEUED_ONLY_COMMANDS(X)                                                                 \
    X("ping", -1, KV_COMMAND_READ | KV_COMMAND_QUEUED_ONLY, 0, 0, 0, kv_command_ping)              \
    X("echo", 2, KV_COMMAND_READ | KV_COMMAND_QUEUED_ONLY, 0, 0, 0, kv_command_echo)

KV_HANDLER(kv_command_raft_exec);
KV_HANDLER(kv_command_ping);
KV_HANDLER(kv_command_echo);

#endif
