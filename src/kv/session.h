/*
 * session.h — exactly-once writes: the internal command a write of a session is applied as
 * (session.c), in the command table (command.c) like any other. X(name, arity, flags, first
 * key, last key, key step, handler), as in command.c.
 */
#ifndef RAFTKV_KV_SESSION_H
#define RAFTKV_KV_SESSION_H

#include "kv/kv_internal.h"

/* It may hold any write, a transaction included: counted as copying and extending. */
#define KV_SESSION_FLAGS                                                                           \
    (KV_COMMAND_WRITE | KV_COMMAND_INTERNAL | KV_COMMAND_COPIES | KV_COMMAND_EXTENDS)

#define KV_SESSION_COMMANDS(X)                                                                     \
    X(KV_SESSION_COMMAND, -6, KV_SESSION_FLAGS, 0, 0, 0, kv_command_raft_session)

KV_HANDLER(kv_command_raft_session);

#endif
