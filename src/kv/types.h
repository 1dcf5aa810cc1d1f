/*
 * types.h — the command lists of each data type's file, gathered for command.c's table. Each
 * file (hash.c, set.c, list.c, zset.c, keys.c, bits.c, blocking.c, pubsub.c) declares its list and
 * handlers in its own header, so that adding commands to one type touches no other type's files.
 */
#ifndef RAFTKV_KV_TYPES_H
#define RAFTKV_KV_TYPES_H

#include "kv/acl.h"
#include "kv/bits.h"
#include "kv/blocking.h"
#include "kv/hash.h"
#include "kv/keys.h"
#include "kv/list.h"
#include "kv/pubsub.h"
#include "kv/script.h"
#include "kv/session.h"
#include "kv/set.h"
#include "kv/transaction.h"
#include "kv/zset.h"

#endif
