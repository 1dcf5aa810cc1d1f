/*
 * list.h — the list commands' entries in the command table (command.c) and their handlers.
 * X(name, arity, flags, first key, last key, key step, handler), as in command.c.
 */
#ifndef RAFTKV_KV_LIST_H
#define RAFTKV_KV_LIST_H

#include "kv/kv_internal.h"

#define KV_LIST_COMMANDS(X)

#endif
