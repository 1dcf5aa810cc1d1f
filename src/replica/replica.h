/*
 * replica.h — the lecture's two foils beside Raft: replication modes that are NOT safe, kept
 * so that raftkv can show on real processes what its lecture argues with pictures.
 *
 *   naive  exactly the lecture's protocol: a write is applied locally at once, sent to every
 *          sibling as "apply this entry" (fire and forget, errors ignored), and answered;
 *          reads are local. Every node takes writes. A sibling that misses a message (it was
 *          down, cut off, or the message was dropped) never gets it again: after a partition
 *          the two sides stay apart for ever (split brain that never heals).
 *   lww    eventual consistency: every write is turned into a key's new state (a value or a
 *          tombstone) stamped with a hybrid logical clock (physical ms, a logical counter,
 *          the node id as the last tie-break), applied locally, sent to every sibling, and
 *          applied there only if its stamp is newer than the key's (kv/lww.c keeps the
 *          stamps); once a second, each node sends each sibling a digest of its (key, stamp)
 *          pairs, and the sibling answers with the states it holds newer (anti-entropy), so
 *          the replicas converge after a partition heals — and serve stale reads meanwhile,
 *          and lose one of two concurrent updates (an INCR on each side of a partition
 *          counts once). Only whole-key string writes: SET key value, MSET, DEL, UNLINK,
 *          INCR, INCRBY, DECR, DECRBY, APPEND (replica_refuses says so for the others).
 *
 * Neither is ever the default, neither is for data anyone needs (docs/operations.md); the
 * server says so in its log at start and in every INFO. The module does no I/O: the host
 * sends its messages (struct replica_host) and hands it those that arrive. It uses kv/ (the
 * same apply code as Raft, so a naive write is any command) and proto/'s REPLICA frames.
 *
 * Ownership: replica_new allocates, replica_free frees; the kv is borrowed (the host may swap
 * it with replica_set_kv after reopening its data). Arguments and messages are borrowed for
 * the call. Errors: 0, or a negative enum kv_error when the state machine failed (the host
 * stops taking part and recovers, as for Raft); a malformed message from a peer is counted
 * and ignored, never an error.
 */
#ifndef RAFTKV_REPLICA_REPLICA_H
#define RAFTKV_REPLICA_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"
#include "proto/peer.h"

enum replica_mode {
    REPLICA_MODE_RAFT = 0, /* the default and the only mode for real data: not this module's */
    REPLICA_MODE_NAIVE = 1,
    REPLICA_MODE_LWW = 2,
};
#define REPLICA_MODE_COUNT 3

/* "raft", "naive", "lww"; "unknown" for another value. */
const char *replica_mode_name(int mode);
/* The mode of a name, or -1. */
int replica_mode_parse(const char *name);
/* One line that says what the mode gives up (NULL for Raft): what INFO prints. */
const char *replica_mode_warning(int mode);

/* Anti-entropy (lww): once per REPLICA_ANTI_ENTROPY_MS each sibling gets a digest of up to
 * REPLICA_DIGEST_PAGES pages of REPLICA_DIGEST_PAGE_ITEMS keys; a larger keyspace is covered
 * over several rounds. */
#define REPLICA_ANTI_ENTROPY_MS   1000
#define REPLICA_DIGEST_PAGE_ITEMS 256
#define REPLICA_DIGEST_PAGES      16
/* A stamp more than this far ahead of our wall clock is applied but does not move our clock. */
#define REPLICA_MAX_CLOCK_AHEAD_MS 60000

struct replica_host {
    void *context;
    /* Queues one message to message->to; its failure is ignored, as the lecture's protocol
     * ignores errors. */
    void (*send)(void *context, const struct peer_replica *message);
    uint64_t (*wall_clock_ms)(void *context); /* Unix ms */
};

struct replica_stats {
    uint64_t local_writes;  /* client writes applied here */
    uint64_t messages_sent; /* handed to the host (delivered or not) */
    uint64_t messages_received;
    uint64_t remote_applied; /* entries (naive) or states (lww) from siblings applied */
    uint64_t remote_ignored; /* lww: states older than ours */
    uint64_t malformed;      /* entries that did not decode, ignored */
    uint64_t digests_sent;   /* lww */
    uint64_t repairs_sent;   /* lww: states sent in answer to a digest */
};

struct replica;

int replica_new(int mode, raft_node_id self, struct kv *kv, const struct replica_host *host,
                struct replica **out);
void replica_free(struct replica *replica);
void replica_set_kv(struct replica *replica, struct kv *kv);
int replica_mode(const struct replica *replica);
const struct replica_stats *replica_stats(const struct replica *replica);

/* NULL when the mode takes this write command (resolved, arity checked), else the error
 * text to answer (the command had no effect). */
const char *replica_refuses(const struct replica *replica, const struct kv_command *command,
                            size_t argc, const struct kv_arg *argv);
/* A client's write: applied here, replied into reply, then sent to each of peers. */
int replica_write(struct replica *replica, size_t argc, const struct kv_arg *argv,
                  const struct kv_reply *reply, const raft_node_id *peers, size_t peer_count);
/* A message from a sibling. */
int replica_receive(struct replica *replica, const struct peer_replica *message);
/* lww: one anti-entropy round, a digest to each of peers (nothing in naive mode). */
int replica_anti_entropy(struct replica *replica, const raft_node_id *peers, size_t peer_count);

#endif
