/*
 * replica_internal.h — what replica.c (modes, the clock, naive) and lww.c share.
 */
#ifndef RAFTKV_REPLICA_INTERNAL_H
#define RAFTKV_REPLICA_INTERNAL_H

#include "replica/replica.h"

struct replica {
    int mode;
    raft_node_id self;
    struct kv *kv;
    struct replica_host host;
    struct replica_stats stats;
    uint64_t clock_physical_ms; /* the hybrid logical clock: never goes backwards */
    uint32_t clock_logical;
    /* Anti-entropy's place in the keyspace: the next round's digest starts after this key
     * (or at the first key when digest_at_start). */
    bool digest_at_start;
    uint8_t digest_after[PEER_REPLICA_MAX_KEY_BYTES];
    size_t digest_after_bytes;
};

/* The next stamp for a local write. */
struct peer_replica_stamp replica_clock_next(struct replica *replica);
/* A stamp seen from a sibling: our clock moves past it (unless it is absurdly far ahead). */
void replica_clock_observe(struct replica *replica, const struct peer_replica_stamp *stamp);
/* The stamp as kv compares it: big-endian physical, logical, node (memcmp order). */
void replica_stamp_encode(const struct peer_replica_stamp *stamp, uint8_t out[KV_LWW_STAMP_BYTES]);
void replica_stamp_decode(const uint8_t in[KV_LWW_STAMP_BYTES], struct peer_replica_stamp *stamp);

/* Applies entries (kv-encoded commands) as this node's next ones; *applied counts those whose
 * command replied the integer 1 (lww's "newer, applied"). */
int replica_apply(struct replica *replica, uint8_t *const *data, const size_t *data_bytes,
                  size_t count, uint64_t *applied);

/* lww.c */
const char *replica_lww_refuses(const struct kv_command *command, size_t argc,
                                const struct kv_arg *argv);
int replica_lww_write(struct replica *replica, size_t argc, const struct kv_arg *argv,
                      const struct kv_reply *reply, const raft_node_id *peers, size_t peer_count);
int replica_lww_receive(struct replica *replica, const struct peer_replica *message);
int replica_lww_anti_entropy(struct replica *replica, const raft_node_id *peers, size_t peer_count);

#endif
