/*
 * replica.c — the foil modes' common part (names, the hybrid logical clock, applying entries
 * as this node's own) and the naive mode, which is nothing more than the lecture's protocol:
 *
 *   write:   apply the command here, as the next entry of this node's own sequence (the same
 *            kv apply code Raft uses, so every command works), answer the client, and send
 *            the entry's bytes to every sibling once; a sibling that does not get it (down,
 *            cut off, a full buffer) never will;
 *   receive: apply the entry as our next one, whatever we applied before;
 *   read:    the local state (the host runs kv_read itself).
 *
 * Nothing orders two nodes' writes: after concurrent writes to one key the replicas may hold
 * different values for ever, which is the point. lww.c is the other foil.
 */
#include "replica/replica_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const char *const MODE_NAMES[REPLICA_MODE_COUNT] = {"raft", "naive", "lww"};

const char *replica_mode_name(int mode)
{
    return mode >= 0 && mode < REPLICA_MODE_COUNT ? MODE_NAMES[mode] : "unknown";
}

int replica_mode_parse(const char *name)
{
    for (int mode = 0; mode < REPLICA_MODE_COUNT; mode++) {
        if (strcmp(name, MODE_NAMES[mode]) == 0) {
            return mode;
        }
    }
    return -1;
}

const char *replica_mode_warning(int mode)
{
    switch (mode) {
    case REPLICA_MODE_NAIVE:
        return "UNSAFE lecture mode 'naive': writes go to every node and errors are ignored; "
               "replicas split for ever after any fault; never use it for real data";
    case REPLICA_MODE_LWW:
        return "UNSAFE lecture mode 'lww': last writer wins; stale reads and lost updates "
               "are expected, replicas converge only eventually; never use it for real data";
    default:
        return NULL;
    }
}

int replica_new(int mode, raft_node_id self, struct kv *kv, const struct replica_host *host,
                struct replica **out)
{
    assert(out != NULL);
    *out = NULL;
    if ((mode != REPLICA_MODE_NAIVE && mode != REPLICA_MODE_LWW) || self == 0 || kv == NULL ||
        host == NULL || host->send == NULL || host->wall_clock_ms == NULL) {
        return KV_ERROR_INVALID;
    }
    struct replica *replica = calloc(1, sizeof *replica);
    if (replica == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    replica->mode = mode;
    replica->self = self;
    replica->kv = kv;
    replica->host = *host;
    replica->digest_at_start = true;
    replica->clock_physical_ms = host->wall_clock_ms(host->context);
    *out = replica;
    return 0;
}

void replica_free(struct replica *replica)
{
    free(replica);
}

void replica_set_kv(struct replica *replica, struct kv *kv)
{
    assert(kv != NULL);
    replica->kv = kv;
}

int replica_mode(const struct replica *replica)
{
    return replica->mode;
}

const struct replica_stats *replica_stats(const struct replica *replica)
{
    return &replica->stats;
}

/* ---- the hybrid logical clock (Kulkarni et al., 2014) ---- */

static void clock_advance(struct replica *replica, uint64_t physical_ms, uint32_t logical)
{
    if (logical == UINT32_MAX) { /* a counter that would wrap moves the physical part instead */
        physical_ms++;
        logical = 0;
    }
    replica->clock_physical_ms = physical_ms;
    replica->clock_logical = logical;
}

struct peer_replica_stamp replica_clock_next(struct replica *replica)
{
    uint64_t now_ms = replica->host.wall_clock_ms(replica->host.context);
    if (now_ms > replica->clock_physical_ms) {
        clock_advance(replica, now_ms, 0);
    } else {
        clock_advance(replica, replica->clock_physical_ms, replica->clock_logical + 1);
    }
    return (struct peer_replica_stamp){.physical_ms = replica->clock_physical_ms,
                                       .logical = replica->clock_logical,
                                       .node = replica->self};
}

void replica_clock_observe(struct replica *replica, const struct peer_replica_stamp *stamp)
{
    uint64_t now_ms = replica->host.wall_clock_ms(replica->host.context);
    if (stamp->physical_ms > now_ms + REPLICA_MAX_CLOCK_AHEAD_MS) {
        return;
    }
    uint64_t ours = replica->clock_physical_ms;
    uint64_t top = now_ms > ours ? now_ms : ours;
    top = stamp->physical_ms > top ? stamp->physical_ms : top;
    uint32_t logical = 0;
    if (top == ours && top == stamp->physical_ms) {
        logical =
            (replica->clock_logical > stamp->logical ? replica->clock_logical : stamp->logical) + 1;
    } else if (top == ours) {
        logical = replica->clock_logical + 1;
    } else if (top == stamp->physical_ms) {
        logical = stamp->logical + 1;
    }
    clock_advance(replica, top, logical);
}

static void put_be(uint8_t *out, uint64_t value, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++) {
        out[i] = (uint8_t)(value >> (8 * (bytes - 1 - i)));
    }
}

static uint64_t get_be(const uint8_t *in, size_t bytes)
{
    uint64_t value = 0;
    for (size_t i = 0; i < bytes; i++) {
        value = value << 8 | in[i];
    }
    return value;
}

void replica_stamp_encode(const struct peer_replica_stamp *stamp, uint8_t out[KV_LWW_STAMP_BYTES])
{
    static_assert(KV_LWW_STAMP_BYTES == 8 + 4 + 8, "physical, logical, node");
    put_be(out, stamp->physical_ms, 8);
    put_be(out + 8, stamp->logical, 4);
    put_be(out + 12, stamp->node, 8);
}

void replica_stamp_decode(const uint8_t in[KV_LWW_STAMP_BYTES], struct peer_replica_stamp *stamp)
{
    stamp->physical_ms = get_be(in, 8);
    stamp->logical = (uint32_t)get_be(in + 8, 4);
    stamp->node = get_be(in + 12, 8);
}

/* ---- applying entries as this node's own ---- */

/* A sink that keeps nothing but the count of integer replies 1 (lww: "applied"). */
static void ignore_text(void *context, const char *text, size_t bytes)
{
    (void)context, (void)text, (void)bytes;
}
static void count_integer(void *context, int64_t value)
{
    *(uint64_t *)context += value == 1 ? 1 : 0;
}
static void reset_count(void *context)
{
    *(uint64_t *)context = 0; /* kv runs the batch again: it counts from the start */
}
static void ignore_bulk(void *context, const uint8_t *data, size_t bytes)
{
    (void)context, (void)data, (void)bytes;
}
static void ignore_none(void *context)
{
    (void)context;
}
static void ignore_count(void *context, size_t count)
{
    (void)context, (void)count;
}

struct apply_context {
    struct kv_reply sink;
    const struct kv_reply *first; /* the reply of the first entry, when the caller has one */
    uint64_t first_index;
};

static const struct kv_reply *apply_provider(void *context, uint64_t index, uint64_t term)
{
    (void)term;
    struct apply_context *apply = context;
    return index == apply->first_index && apply->first != NULL ? apply->first : &apply->sink;
}

static int apply_with_reply(struct replica *replica, uint8_t *const *data, const size_t *data_bytes,
                            size_t count, const struct kv_reply *reply, uint64_t *applied)
{
    enum { MAX_BATCH = 64 };
    assert(count <= MAX_BATCH);
    struct raft_entry entries[MAX_BATCH];
    uint64_t next = kv_applied_index(replica->kv) + 1;
    for (size_t i = 0; i < count; i++) {
        assert(data_bytes[i] <= UINT32_MAX);
        entries[i] = (struct raft_entry){.term = 1,
                                         .index = next + i,
                                         .type = RAFT_ENTRY_COMMAND,
                                         .data_bytes = (uint32_t)data_bytes[i],
                                         .data = data[i]};
    }
    *applied = 0;
    struct apply_context apply = {
        .sink = {.status = ignore_text,
                 .error = ignore_text,
                 .integer = count_integer,
                 .bulk = ignore_bulk,
                 .null = ignore_none,
                 .null_array = ignore_none,
                 .array = ignore_count,
                 .double_text = ignore_text,
                 .blocked = ignore_none,
                 .map = ignore_count,
                 .set = ignore_count,
                 .pairs = ignore_count,
                 .pair = ignore_none,
                 .rewind = reset_count,
                 .context = applied},
        .first = reply,
        .first_index = next,
    };
    return count == 0 ? 0 : kv_apply_batch(replica->kv, entries, count, apply_provider, &apply);
}

int replica_apply(struct replica *replica, uint8_t *const *data, const size_t *data_bytes,
                  size_t count, uint64_t *applied)
{
    return apply_with_reply(replica, data, data_bytes, count, NULL, applied);
}

/* ---- naive ---- */

static int naive_write(struct replica *replica, size_t argc, const struct kv_arg *argv,
                       const struct kv_reply *reply, const raft_node_id *peers, size_t peer_count)
{
    size_t bytes = kv_command_encoded_bytes(argc, argv);
    uint8_t *encoded = bytes > 0 ? malloc(bytes) : NULL;
    size_t written = 0;
    uint64_t stamp_ms = replica->host.wall_clock_ms(replica->host.context);
    if (encoded == NULL || kv_command_encode(argc, argv, stamp_ms, encoded, bytes, &written) != 0) {
        free(encoded);
        return KV_ERROR_NO_MEMORY;
    }
    uint64_t applied = 0;
    int rc = apply_with_reply(replica, &encoded, &written, 1, reply, &applied);
    if (rc == 0) {
        replica->stats.local_writes++;
        struct peer_replica_item item = {.value_bytes = (uint32_t)written, .value = encoded};
        for (size_t i = 0; i < peer_count; i++) {
            struct peer_replica message = {.kind = PEER_REPLICA_ENTRY,
                                           .from = replica->self,
                                           .to = peers[i],
                                           .item_count = 1,
                                           .items = &item};
            replica->host.send(replica->host.context, &message);
            replica->stats.messages_sent++;
        }
    }
    free(encoded);
    return rc;
}

static int naive_receive(struct replica *replica, const struct peer_replica *message)
{
    if (message->kind != PEER_REPLICA_ENTRY) {
        replica->stats.malformed++;
        return 0;
    }
    assert(message->item_count == 1); /* the codec's rule for an ENTRY */
    const struct peer_replica_item *item = &message->items[0];
    size_t argc = 0;
    if (kv_command_decode(item->value, item->value_bytes, NULL, 0, &argc, NULL) != 0) {
        replica->stats.malformed++; /* nothing of it can apply: dropped, as errors are */
        return 0;
    }
    uint8_t *data = (uint8_t *)item->value;
    size_t data_bytes = item->value_bytes;
    uint64_t applied = 0;
    int rc = replica_apply(replica, &data, &data_bytes, 1, &applied);
    if (rc == 0) {
        replica->stats.remote_applied++;
    }
    return rc;
}

/* ---- the dispatch ---- */

const char *replica_refuses(const struct replica *replica, const struct kv_command *command,
                            size_t argc, const struct kv_arg *argv)
{
    if (command->flags & KV_COMMAND_BLOCKING) {
        return "ERR blocking commands need Raft; this node runs an unsafe lecture replication "
               "mode; the command was not executed";
    }
    return replica->mode == REPLICA_MODE_LWW ? replica_lww_refuses(command, argc, argv) : NULL;
}

int replica_write(struct replica *replica, size_t argc, const struct kv_arg *argv,
                  const struct kv_reply *reply, const raft_node_id *peers, size_t peer_count)
{
    assert(argc >= 1);
    assert(reply != NULL);
    if (replica->mode == REPLICA_MODE_LWW) {
        return replica_lww_write(replica, argc, argv, reply, peers, peer_count);
    }
    return naive_write(replica, argc, argv, reply, peers, peer_count);
}

int replica_receive(struct replica *replica, const struct peer_replica *message)
{
    assert(message != NULL);
    replica->stats.messages_received++;
    if (replica->mode == REPLICA_MODE_LWW) {
        return replica_lww_receive(replica, message);
    }
    return naive_receive(replica, message);
}

int replica_anti_entropy(struct replica *replica, const raft_node_id *peers, size_t peer_count)
{
    if (replica->mode != REPLICA_MODE_LWW) {
        return 0;
    }
    return replica_lww_anti_entropy(replica, peers, peer_count);
}
