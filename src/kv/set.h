/*
 * set.h — the set commands' entries in the command table (command.c) and their handlers.
 * X(name, arity, flags, first key, last key, key step, handler), as in command.c.
 */
#ifndef RAFTKV_KV_SET_H
#define RAFTKV_KV_SET_H

#include "kv/kv_internal.h"

#define KV_SET_COMMANDS(X)

#endif
