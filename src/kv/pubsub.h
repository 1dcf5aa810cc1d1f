/*
 * pubsub.h — PUBLISH and the notify-keyspace-events setting in the command table (command.c),
 * and their handlers (pubsub.c). X(name, arity, flags, first key, last key, key step, handler),
 * as in command.c; PUBLISH names no key (Redis 7.0's COMMAND INFO reports 0 0 0).
 */
#ifndef RAFTKV_KV_PUBSUB_H
#define RAFTKV_KV_PUBSUB_H

#include "kv/kv_internal.h"

#define KV_PUBSUB_COMMANDS(X)                                                                      \
    X("publish", 3, KV_COMMAND_WRITE, 0, 0, 0, kv_command_publish)                                 \
    X(KV_NOTIFY_CONFIG_COMMAND, 2, KV_COMMAND_WRITE | KV_COMMAND_INTERNAL, 0, 0, 0,                \
      kv_command_raft_config_notify)

KV_HANDLER(kv_command_publish);
KV_HANDLER(kv_command_raft_config_notify);

#endif
