/*
 * clock.c — the leader's clock, which stamps every entry it proposes, and active expiry.
 *
 * The replicated clock (kv_clock_ms) is the largest stamp applied; deadlines are compared
 * with it, so every replica expires the same keys at the same index. What a stamp says is
 * this node's business, under three rules:
 *   - it never goes below the replicated clock, nor below any time this node handed out
 *     before (a stamp or a read's time), so time never runs backwards for a client;
 *   - once the node has applied a stamped entry of its current term in this process, it has
 *     an anchor: the replicated clock at that moment and the monotonic time it was seen (a
 *     follower moves it with every newer stamp; a leader keeps the one it has, or takes its
 *     first own stamp, so that its corrections never add up). The
 *     time the anchor predicts (anchor + monotonic time elapsed) is what the cluster's clock
 *     should read now; the node's wall clock may correct it by at most
 *     CLOCK_MAX_CORRECTION_MS either way. A node whose wall clock is minutes off therefore
 *     shifts no deadline by more than that bound (plus the time an entry takes to apply);
 *   - without an anchor (a whole cluster restarted, no entry of the new term applied yet)
 *     the wall clock is all there is, and the stamp follows it.
 * docs/design-notes.md discusses what a new leader's clock may differ by.
 *
 * Active expiry: the leader walks the deadline index (kv_expired_keys) and proposes one
 * internal entry (KV_EXPIRE_COMMAND) with up to EXPIRE_BATCH_KEYS keys, and no other until
 * that one is applied or the term changed. The sweep (every 50 ms) looks for due keys; once an
 * expiry entry applies, the next batch follows at once, so a backlog drains at the pace of
 * the log, not of the sweep. The entry deletes each key only if, by its own
 * clock, the key's deadline has passed, so a PERSIST or a new TTL that lands first wins.
 * Followers never delete by themselves.
 */
#include "server/server.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "server/log.h"

enum {
    CLOCK_MAX_CORRECTION_MS = 1000,
    EXPIRE_BATCH_KEYS = 128,
    DEADLINE_TEXT_BYTES = 21,
};

static uint64_t wall_clock_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

static uint64_t clock_now(struct server *server)
{
    struct node *node = &server->node;
    uint64_t time_ms = wall_clock_ms();
    if (node->clock.anchored) {
        uint64_t predicted =
            node->clock.anchor_stamp_ms + (server_now_ms(server) - node->clock.anchor_mono_ms);
        uint64_t low =
            predicted > CLOCK_MAX_CORRECTION_MS ? predicted - CLOCK_MAX_CORRECTION_MS : 0;
        uint64_t high = predicted + CLOCK_MAX_CORRECTION_MS;
        time_ms = time_ms < low ? low : time_ms > high ? high : time_ms;
    }
    uint64_t replicated = node->kv != NULL ? kv_clock_ms(node->kv) : 0;
    time_ms = time_ms > replicated ? time_ms : replicated;
    time_ms = time_ms > node->clock.last_ms ? time_ms : node->clock.last_ms;
    assert(time_ms >= replicated && time_ms >= node->clock.last_ms);
    node->clock.last_ms = time_ms;
    return time_ms;
}

uint64_t node_clock_stamp(struct server *server)
{
    return clock_now(server);
}

uint64_t node_clock_read(struct server *server)
{
    return node_is_leader(server) ? clock_now(server) : 0;
}

void node_clock_applied(struct server *server, const struct raft_entry *last)
{
    struct node *node = &server->node;
    uint64_t replicated = kv_clock_ms(node->kv);
    uint64_t seen = node->clock.seen_ms;
    node->clock.seen_ms = replicated;
    /* Only a stamp that just arrived, in an entry of the current term, says what the
     * cluster's clock reads now: an old term's entry may carry an old stamp, and a NOOP none. */
    if (replicated <= seen || raft_term(node->raft) != last->term) {
        return;
    }
    /* A leader keeps the anchor it took: re-anchoring on its own stamps would let a fast
     * wall clock ratchet the cluster's clock forward by the correction at every write. */
    if (node->clock.anchored && node_is_leader(server)) {
        return;
    }
    if (!node->clock.anchored || replicated > node->clock.anchor_stamp_ms) {
        node->clock.anchored = true;
        node->clock.anchor_stamp_ms = replicated;
        node->clock.anchor_mono_ms = server_now_ms(server);
    }
}

/* ---- active expiry ---- */

struct expired {
    struct kv_arg argv[1 + 2 * EXPIRE_BATCH_KEYS];
    char deadlines[EXPIRE_BATCH_KEYS][DEADLINE_TEXT_BYTES];
    size_t count;
};

static void collect_expired(void *context, const uint8_t *key, size_t key_bytes,
                            uint64_t deadline_ms)
{
    struct expired *expired = context;
    assert(expired->count < EXPIRE_BATCH_KEYS);
    size_t i = expired->count++;
    int length = snprintf(expired->deadlines[i], DEADLINE_TEXT_BYTES, "%llu",
                          (unsigned long long)deadline_ms);
    expired->argv[1 + 2 * i] = (struct kv_arg){.data = (const uint8_t *)expired->deadlines[i],
                                               .data_bytes = (size_t)length};
    expired->argv[2 + 2 * i] = (struct kv_arg){.data = key, .data_bytes = key_bytes};
}

void node_expire_keys(struct server *server)
{
    struct node *node = &server->node;
    if (node->fatal || node->kv == NULL || !node_is_leader(server)) {
        return;
    }
    bool in_flight = node->expire_index != 0 && node->expire_term == raft_term(node->raft) &&
                     kv_applied_index(node->kv) < node->expire_index;
    if (in_flight) {
        return;
    }
    node->expire_index = 0;
    struct expired *expired = malloc(sizeof *expired);
    if (expired == NULL) {
        return;
    }
    expired->count = 0;
    uint64_t now_ms = clock_now(server);
    int rc = kv_expired_keys(node->kv, now_ms, EXPIRE_BATCH_KEYS, collect_expired, expired);
    if (rc != 0 || expired->count == 0) {
        free(expired);
        return;
    }
    static const char name[] = KV_EXPIRE_COMMAND;
    expired->argv[0] =
        (struct kv_arg){.data = (const uint8_t *)name, .data_bytes = sizeof name - 1};
    size_t argc = 1 + 2 * expired->count;
    size_t bytes = kv_command_encoded_bytes(argc, expired->argv);
    uint8_t *encoded = bytes > 0 ? malloc(bytes) : NULL;
    size_t written = 0;
    if (encoded != NULL &&
        kv_command_encode(argc, expired->argv, now_ms, encoded, bytes, &written) == 0) {
        uint64_t index = 0;
        uint64_t term = 0;
        if (raft_propose(node->raft, encoded, (uint32_t)written, &index, &term) == 0) {
            node->expire_index = index;
            node->expire_term = term;
            server->stats.expire_entries++;
            server->stats.expire_keys_proposed += expired->count;
        }
    }
    free(encoded);
    free(expired);
}
