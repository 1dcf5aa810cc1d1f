/*
 * acl.h — ACL users' internal commands (acl.c), in the command table (command.c) like any
 * other. X(name, arity, flags, first key, last key, key step, handler), as in command.c.
 */
#ifndef RAFTKV_KV_ACL_H
#define RAFTKV_KV_ACL_H

#include "kv/kv_internal.h"

#define KV_ACL_COMMANDS(X)                                                                         \
    X(KV_ACL_SETUSER_COMMAND, -2, KV_COMMAND_WRITE | KV_COMMAND_INTERNAL, 0, 0, 0,                 \
      kv_command_raft_acl_setuser)                                                                 \
    X(KV_ACL_DELUSER_COMMAND, -2, KV_COMMAND_WRITE | KV_COMMAND_INTERNAL, 0, 0, 0,                 \
      kv_command_raft_acl_deluser)

KV_HANDLER(kv_command_raft_acl_setuser);
KV_HANDLER(kv_command_raft_acl_deluser);

#endif
