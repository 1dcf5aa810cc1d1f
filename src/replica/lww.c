/*
 * lww.c — the lecture's eventual consistency: last writer wins, with anti-entropy.
 *
 * A client's write becomes each key's new state, computed here from the local state (so an
 * INCR reads the local value and writes value + 1: two nodes that both see 5 both write 6,
 * and one increment is lost — the lecture's lost update), stamped with the hybrid logical
 * clock (replica.c), applied through kv's KV_LWW_PUT_COMMAND / KV_LWW_DELETE_COMMAND (which
 * keep it only if the stamp is newer than the key's, kv/lww.c), answered, and sent to every
 * sibling as a PUT. A sibling applies each state by the same rule, so replicas that received
 * the same states hold the same data whatever the order.
 *
 * Anti-entropy, for the messages that were lost (a node down, a partition): once a second
 * each node sends each sibling a digest of its stamps, in pages of keys in LMDB's key order
 * (a page repeats the previous page's last key, so the pages' ranges leave no gap), and the
 * sibling answers with a PUT of every state in the page's range that it holds newer or that
 * the digest lacks. Both sides do it, so after a partition heals every replica converges to
 * the newest stamp of every key — and every write with an older stamp is silently gone.
 *
 * Failure modes: kv failures are returned (the host recovers); a message that makes no sense
 * is counted and ignored.
 */
#include "replica/replica_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    LWW_MAX_KEYS = 64,          /* keys in one client write (MSET, DEL) */
    LWW_APPLY_BATCH = 64,       /* states applied in one kv batch */
    LWW_REPAIR_MAX = 1024,      /* states sent in answer to one digest */
    LWW_PUT_MAX_BYTES = 4 << 20 /* a repair PUT is cut here (values are its bulk) */
};

static const char *const REFUSED =
    "ERR lww mode takes only whole-key string writes (SET key value, MSET, DEL, UNLINK, INCR, "
    "INCRBY, DECR, DECRBY, APPEND); the command was not executed";

static bool named(const struct kv_command *command, const char *name)
{
    return strcmp(command->name, name) == 0;
}

const char *replica_lww_refuses(const struct kv_command *command, size_t argc,
                                const struct kv_arg *argv)
{
    (void)argv;
    if (named(command, "set")) {
        return argc == 3 ? NULL
                         : "ERR lww mode takes SET key value without options; the command was "
                           "not executed";
    }
    size_t keys = named(command, "mset")                              ? (argc - 1) / 2
                  : named(command, "del") || named(command, "unlink") ? argc - 1
                                                                      : 1;
    static_assert(LWW_MAX_KEYS <= LWW_APPLY_BATCH, "one write's states apply in one batch");
    if (keys > LWW_MAX_KEYS) {
        return "ERR lww mode takes at most 64 keys in one write; the command was not executed";
    }
    static const char *const taken[] = {"mset",   "del",  "unlink", "incr",
                                        "incrby", "decr", "decrby", "append"};
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        if (named(command, taken[i])) {
            return NULL;
        }
    }
    return REFUSED;
}

/* ---- reading a key's local value ---- */

struct captured {
    bool found;
    bool failed;
    uint8_t *data; /* malloc'd */
    size_t data_bytes;
};

static void capture_bulk(void *context, const uint8_t *data, size_t bytes)
{
    struct captured *captured = context;
    captured->data = malloc(bytes > 0 ? bytes : 1);
    captured->failed = captured->data == NULL;
    if (captured->data != NULL) {
        memcpy(captured->data, data, bytes);
        captured->data_bytes = bytes;
        captured->found = true;
    }
}
static void capture_error(void *context, const char *text, size_t bytes)
{
    (void)text, (void)bytes;
    ((struct captured *)context)->failed = true;
}
static void capture_none(void *context)
{
    (void)context;
}
static void capture_count(void *context, size_t count)
{
    (void)context, (void)count;
}
static void capture_integer(void *context, int64_t value)
{
    (void)value;
    ((struct captured *)context)->failed = true;
}

/* The key's string value here (*captured->found false when absent). */
static void read_value(struct replica *replica, const uint8_t *key, size_t key_bytes,
                       struct captured *captured)
{
    memset(captured, 0, sizeof *captured);
    struct kv_reply sink = {.status = capture_error,
                            .error = capture_error,
                            .integer = capture_integer,
                            .bulk = capture_bulk,
                            .null = capture_none,
                            .null_array = capture_none,
                            .array = capture_count,
                            .double_text = capture_error,
                            .blocked = capture_none,
                            .map = capture_count,
                            .set = capture_count,
                            .pairs = capture_count,
                            .pair = capture_none,
                            .context = captured};
    struct kv_arg argv[2] = {{.data = (const uint8_t *)"get", .data_bytes = 3},
                             {.data = key, .data_bytes = key_bytes}};
    if (kv_read(replica->kv, 2, argv, 0, &sink) != 0) {
        captured->failed = true;
    }
}

/* ---- a batch of states: applied here, then sent ---- */

struct state_batch {
    size_t count;
    struct peer_replica_item items[LWW_APPLY_BATCH];
    uint8_t *entries[LWW_APPLY_BATCH]; /* kv-encoded KV_LWW_* commands, malloc'd */
    size_t entry_bytes[LWW_APPLY_BATCH];
    uint8_t *values[LWW_APPLY_BATCH]; /* values this batch owns (malloc'd), or NULL */
};

static void batch_clear(struct state_batch *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        free(batch->entries[i]);
        free(batch->values[i]);
    }
    batch->count = 0;
}

/* Adds a state (its bytes borrowed; owned_value, if any, freed with the batch). */
static int batch_add(struct state_batch *batch, const struct peer_replica_item *item,
                     uint8_t *owned_value)
{
    assert(batch->count < LWW_APPLY_BATCH);
    uint8_t stamp[KV_LWW_STAMP_BYTES];
    replica_stamp_encode(&item->stamp, stamp);
    struct kv_arg argv[4] = {
        {.data = (const uint8_t *)(item->tombstone ? KV_LWW_DELETE_COMMAND : KV_LWW_PUT_COMMAND),
         .data_bytes = strlen(item->tombstone ? KV_LWW_DELETE_COMMAND : KV_LWW_PUT_COMMAND)},
        {.data = item->key, .data_bytes = item->key_bytes},
        {.data = stamp, .data_bytes = sizeof stamp},
        {.data = item->value, .data_bytes = item->value_bytes},
    };
    size_t argc = item->tombstone ? 3 : 4;
    size_t bytes = kv_command_encoded_bytes(argc, argv);
    uint8_t *encoded = bytes > 0 ? malloc(bytes) : NULL;
    size_t written = 0;
    if (encoded == NULL ||
        kv_command_encode(argc, argv, item->stamp.physical_ms, encoded, bytes, &written) != 0) {
        free(encoded);
        free(owned_value);
        return KV_ERROR_NO_MEMORY;
    }
    size_t i = batch->count++;
    batch->items[i] = *item;
    batch->entries[i] = encoded;
    batch->entry_bytes[i] = written;
    batch->values[i] = owned_value;
    return 0;
}

static void send_states(struct replica *replica, const struct peer_replica_item *items,
                        size_t count, raft_node_id peer)
{
    struct peer_replica message = {.kind = PEER_REPLICA_PUT,
                                   .from = replica->self,
                                   .to = peer,
                                   .item_count = (uint32_t)count,
                                   .items = items};
    replica->host.send(replica->host.context, &message);
    replica->stats.messages_sent++;
}

/* ---- a client's write ---- */

static bool incr_step(const struct kv_command *command, size_t argc, const struct kv_arg *argv,
                      int64_t *step, const char **error)
{
    bool down = named(command, "decr") || named(command, "decrby");
    *step = 1;
    if (argc == 3 && !kv_parse_int64(argv[2].data, argv[2].data_bytes, step)) {
        *error = KV_ERROR_TEXT_NOT_INTEGER;
        return false;
    }
    if (down && *step == INT64_MIN) {
        *error = KV_ERROR_TEXT_DECREMENT_OVERFLOW;
        return false;
    }
    *step = down ? -*step : *step;
    return true;
}

/* INCR and its kin: the new value from the local one, or an error text. */
static const char *incr_value(struct replica *replica, const struct kv_command *command,
                              size_t argc, const struct kv_arg *argv, int64_t *value)
{
    int64_t step = 0;
    const char *error = NULL;
    if (!incr_step(command, argc, argv, &step, &error)) {
        return error;
    }
    struct captured old;
    read_value(replica, argv[1].data, argv[1].data_bytes, &old);
    int64_t current = 0;
    bool number = !old.failed && (!old.found || kv_parse_int64(old.data, old.data_bytes, &current));
    free(old.data);
    if (!number) {
        return KV_ERROR_TEXT_NOT_INTEGER;
    }
    if ((step > 0 && current > INT64_MAX - step) || (step < 0 && current < INT64_MIN - step)) {
        return KV_ERROR_TEXT_OVERFLOW;
    }
    *value = current + step;
    return NULL;
}

/* APPEND: the local value and the argument, or an error text. */
static const char *append_value(struct replica *replica, const struct kv_arg *argv, uint8_t **value,
                                size_t *value_bytes)
{
    struct captured old;
    read_value(replica, argv[1].data, argv[1].data_bytes, &old);
    if (old.failed) {
        return "ERR cannot read the key here; the command was not executed";
    }
    size_t total = old.data_bytes + argv[2].data_bytes;
    if (total > LIMITS_MAX_BULK_BYTES) {
        free(old.data);
        return KV_ERROR_TEXT_STRING_TOO_LONG;
    }
    *value = malloc(total > 0 ? total : 1);
    if (*value == NULL) {
        free(old.data);
        return "ERR out of memory; the command was not executed";
    }
    if (old.data_bytes > 0) {
        memcpy(*value, old.data, old.data_bytes);
    }
    if (argv[2].data_bytes > 0) {
        memcpy(*value + old.data_bytes, argv[2].data, argv[2].data_bytes);
    }
    *value_bytes = total;
    free(old.data);
    return NULL;
}

/* The states of one client write, and its reply (set when the write can run). */
struct write_plan {
    struct state_batch batch;
    int64_t integer; /* the reply when integer_reply */
    bool integer_reply;
    const char *error; /* refused: this text, nothing applied */
};

static int plan_write(struct replica *replica, const struct kv_command *command, size_t argc,
                      const struct kv_arg *argv, struct write_plan *plan)
{
    struct peer_replica_item item = {.stamp = replica_clock_next(replica)};
    if (named(command, "set") || named(command, "mset")) {
        for (size_t i = 1; i + 1 < argc; i += 2) {
            item.key = argv[i].data, item.key_bytes = (uint32_t)argv[i].data_bytes;
            item.value = argv[i + 1].data, item.value_bytes = (uint32_t)argv[i + 1].data_bytes;
            int rc = batch_add(&plan->batch, &item, NULL);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    }
    if (named(command, "del") || named(command, "unlink")) {
        plan->integer_reply = true;
        item.tombstone = true;
        for (size_t i = 1; i < argc; i++) {
            struct captured old;
            read_value(replica, argv[i].data, argv[i].data_bytes, &old);
            plan->integer += old.found ? 1 : 0;
            free(old.data);
            item.key = argv[i].data, item.key_bytes = (uint32_t)argv[i].data_bytes;
            int rc = batch_add(&plan->batch, &item, NULL);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    }
    uint8_t *value = NULL;
    size_t value_bytes = 0;
    plan->integer_reply = true;
    if (named(command, "append")) {
        plan->error = append_value(replica, argv, &value, &value_bytes);
        plan->integer = (int64_t)value_bytes;
    } else {
        plan->error = incr_value(replica, command, argc, argv, &plan->integer);
        char text[24]; /* "-9223372036854775808" and a NUL */
        int length =
            plan->error == NULL ? snprintf(text, sizeof text, "%lld", (long long)plan->integer) : 0;
        value = plan->error == NULL ? malloc((size_t)length) : NULL;
        if (plan->error == NULL && value == NULL) {
            return KV_ERROR_NO_MEMORY;
        }
        if (value != NULL) {
            memcpy(value, text, (size_t)length);
            value_bytes = (size_t)length;
        }
    }
    if (plan->error != NULL) {
        return 0;
    }
    item.key = argv[1].data, item.key_bytes = (uint32_t)argv[1].data_bytes;
    item.value = value, item.value_bytes = (uint32_t)value_bytes;
    return batch_add(&plan->batch, &item, value);
}

int replica_lww_write(struct replica *replica, size_t argc, const struct kv_arg *argv,
                      const struct kv_reply *reply, const raft_node_id *peers, size_t peer_count)
{
    const struct kv_command *command = kv_command_lookup(argv[0].data, argv[0].data_bytes);
    assert(command != NULL); /* resolved, and admitted by replica_lww_refuses */
    struct write_plan *plan = calloc(1, sizeof *plan);
    if (plan == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    int rc = plan_write(replica, command, argc, argv, plan);
    if (rc == 0 && plan->error != NULL) {
        reply->error(reply->context, plan->error, strlen(plan->error));
    }
    uint64_t applied = 0;
    if (rc == 0 && plan->error == NULL) {
        rc = replica_apply(replica, plan->batch.entries, plan->batch.entry_bytes, plan->batch.count,
                           &applied);
    }
    if (rc == 0 && plan->error == NULL) {
        replica->stats.local_writes++;
        if (plan->integer_reply) {
            reply->integer(reply->context, plan->integer);
        } else {
            reply->status(reply->context, "OK", 2);
        }
        for (size_t i = 0; i < peer_count; i++) {
            send_states(replica, plan->batch.items, plan->batch.count, peers[i]);
        }
    }
    batch_clear(&plan->batch);
    free(plan);
    return rc;
}

/* ---- states from a sibling ---- */

static int apply_states(struct replica *replica, const struct peer_replica *message)
{
    struct state_batch *batch = calloc(1, sizeof *batch);
    if (batch == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    int rc = 0;
    for (uint32_t first = 0; rc == 0 && first < message->item_count; first += LWW_APPLY_BATCH) {
        uint32_t end = message->item_count - first > LWW_APPLY_BATCH ? first + LWW_APPLY_BATCH
                                                                     : message->item_count;
        for (uint32_t i = first; rc == 0 && i < end; i++) {
            replica_clock_observe(replica, &message->items[i].stamp);
            rc = batch_add(batch, &message->items[i], NULL);
        }
        uint64_t applied = 0;
        if (rc == 0) {
            rc = replica_apply(replica, batch->entries, batch->entry_bytes, batch->count, &applied);
        }
        if (rc == 0) {
            replica->stats.remote_applied += applied;
            replica->stats.remote_ignored += batch->count - applied;
        }
        batch_clear(batch);
    }
    free(batch);
    return rc;
}

/* ---- anti-entropy ---- */

/* LMDB's default key order: bytes, then the shorter first. */
static int key_compare(const uint8_t *a, size_t a_bytes, const uint8_t *b, size_t b_bytes)
{
    size_t common = a_bytes < b_bytes ? a_bytes : b_bytes;
    int order = common > 0 ? memcmp(a, b, common) : 0;
    if (order != 0) {
        return order;
    }
    return a_bytes < b_bytes ? -1 : a_bytes > b_bytes ? 1 : 0;
}

/* Stamped keys copied out of a walk (the walk's bytes live only during its callback). */
struct collected {
    size_t count;
    size_t capacity;
    size_t stop_after; /* the walk stops at this many */
    uint8_t (*keys)[PEER_REPLICA_MAX_KEY_BYTES];
    size_t *key_bytes;
    struct peer_replica_stamp *stamps;
    bool *tombstones;
    /* The digest's upper bound (has_bound): a key above it ends the walk. */
    bool has_bound;
    const uint8_t *bound;
    size_t bound_bytes;
    bool ended; /* the walk stopped before the end of the keyspace */
};

static int collected_init(struct collected *collected, size_t capacity)
{
    memset(collected, 0, sizeof *collected);
    collected->capacity = capacity;
    collected->stop_after = capacity;
    collected->keys = malloc(capacity * sizeof *collected->keys);
    collected->key_bytes = malloc(capacity * sizeof *collected->key_bytes);
    collected->stamps = malloc(capacity * sizeof *collected->stamps);
    collected->tombstones = malloc(capacity * sizeof *collected->tombstones);
    bool ok = collected->keys != NULL && collected->key_bytes != NULL &&
              collected->stamps != NULL && collected->tombstones != NULL;
    return ok ? 0 : KV_ERROR_NO_MEMORY;
}

static void collected_free(struct collected *collected)
{
    free(collected->keys);
    free(collected->key_bytes);
    free(collected->stamps);
    free(collected->tombstones);
}

static bool collect(void *context, const uint8_t *key, size_t key_bytes, const uint8_t *stamp,
                    bool tombstone)
{
    struct collected *collected = context;
    if (collected->has_bound &&
        key_compare(key, key_bytes, collected->bound, collected->bound_bytes) > 0) {
        collected->ended = true;
        return false;
    }
    if (collected->count >= collected->stop_after || key_bytes > PEER_REPLICA_MAX_KEY_BYTES) {
        collected->ended = collected->count >= collected->stop_after;
        return !collected->ended;
    }
    size_t i = collected->count++;
    memcpy(collected->keys[i], key, key_bytes);
    collected->key_bytes[i] = key_bytes;
    replica_stamp_decode(stamp, &collected->stamps[i]);
    collected->tombstones[i] = tombstone;
    return true;
}

static int stamp_compare(const struct peer_replica_stamp *a, const struct peer_replica_stamp *b)
{
    uint8_t x[KV_LWW_STAMP_BYTES];
    uint8_t y[KV_LWW_STAMP_BYTES];
    replica_stamp_encode(a, x);
    replica_stamp_encode(b, y);
    return memcmp(x, y, sizeof x);
}

/* Sends the collected states (values read now) to peer, in PUTs of bounded size. */
static int send_repairs(struct replica *replica, const struct collected *repairs, raft_node_id peer)
{
    struct peer_replica_item *items = calloc(LWW_APPLY_BATCH, sizeof *items);
    uint8_t **values = calloc(LWW_APPLY_BATCH, sizeof *values);
    int rc = items != NULL && values != NULL ? 0 : KV_ERROR_NO_MEMORY;
    size_t count = 0;
    size_t bytes = 0;
    for (size_t i = 0; rc == 0 && i <= repairs->count; i++) {
        bool last = i == repairs->count;
        if (count > 0 && (last || count == LWW_APPLY_BATCH || bytes > LWW_PUT_MAX_BYTES)) {
            send_states(replica, items, count, peer);
            replica->stats.repairs_sent += count;
            for (size_t j = 0; j < count; j++) {
                free(values[j]);
                values[j] = NULL;
            }
            count = 0;
            bytes = 0;
        }
        if (last) {
            break;
        }
        struct captured value = {0};
        if (!repairs->tombstones[i]) {
            read_value(replica, repairs->keys[i], repairs->key_bytes[i], &value);
            if (value.failed || !value.found || value.data_bytes > LWW_PUT_MAX_BYTES) {
                free(value.data);
                continue; /* no string to send (cannot happen in lww's data): skipped */
            }
        }
        items[count] = (struct peer_replica_item){.stamp = repairs->stamps[i],
                                                  .tombstone = repairs->tombstones[i],
                                                  .key_bytes = (uint32_t)repairs->key_bytes[i],
                                                  .key = repairs->keys[i],
                                                  .value_bytes = (uint32_t)value.data_bytes,
                                                  .value = value.data};
        values[count++] = value.data;
        bytes += value.data_bytes + repairs->key_bytes[i];
    }
    for (size_t j = 0; values != NULL && j < count; j++) {
        free(values[j]);
    }
    free(items);
    free(values);
    return rc;
}

/* A digest: what we hold newer in its range, or hold and it lacks, goes back as PUTs. */
static int answer_digest(struct replica *replica, const struct peer_replica *digest)
{
    bool from_start = digest->flags & PEER_REPLICA_FROM_START;
    bool to_end = digest->flags & PEER_REPLICA_TO_END;
    if (!from_start && digest->item_count == 0) {
        return 0; /* a range without a lower bound: nothing to compare */
    }
    struct collected local;
    int rc = collected_init(&local, LWW_REPAIR_MAX);
    struct collected repairs;
    if (rc == 0) {
        rc = collected_init(&repairs, LWW_REPAIR_MAX);
    }
    const struct peer_replica_item *items = digest->items;
    uint32_t last = digest->item_count > 0 ? digest->item_count - 1 : 0;
    local.has_bound = !to_end && digest->item_count > 0;
    local.bound = local.has_bound ? items[last].key : NULL;
    local.bound_bytes = local.has_bound ? items[last].key_bytes : 0;
    if (rc == 0) {
        rc =
            kv_lww_walk(replica->kv, from_start ? NULL : items[0].key,
                        from_start ? 0 : items[0].key_bytes, true, LWW_REPAIR_MAX, collect, &local);
    }
    uint32_t j = 0;
    for (size_t i = 0; rc == 0 && i < local.count; i++) {
        while (j < digest->item_count && key_compare(items[j].key, items[j].key_bytes,
                                                     local.keys[i], local.key_bytes[i]) < 0) {
            j++;
        }
        bool listed = j < digest->item_count && key_compare(items[j].key, items[j].key_bytes,
                                                            local.keys[i], local.key_bytes[i]) == 0;
        if (listed && stamp_compare(&local.stamps[i], &items[j].stamp) <= 0) {
            continue; /* the sibling has this state, or a newer one */
        }
        size_t r = repairs.count++;
        memcpy(repairs.keys[r], local.keys[i], local.key_bytes[i]);
        repairs.key_bytes[r] = local.key_bytes[i];
        repairs.stamps[r] = local.stamps[i];
        repairs.tombstones[r] = local.tombstones[i];
    }
    if (rc == 0 && repairs.count > 0) {
        rc = send_repairs(replica, &repairs, digest->from);
    }
    collected_free(&local);
    collected_free(&repairs);
    return rc;
}

int replica_lww_receive(struct replica *replica, const struct peer_replica *message)
{
    switch (message->kind) {
    case PEER_REPLICA_PUT:
        return apply_states(replica, message);
    case PEER_REPLICA_DIGEST:
        return answer_digest(replica, message);
    default:
        replica->stats.malformed++; /* a naive ENTRY: the handshake keeps modes apart */
        return 0;
    }
}

/* One page of the digest from the round's place; *at_end when it reached the last key. */
static int send_digest_page(struct replica *replica, const raft_node_id *peers, size_t peer_count,
                            struct collected *page, bool *at_end)
{
    page->count = 0;
    page->ended = false;
    page->stop_after = REPLICA_DIGEST_PAGE_ITEMS + 1; /* one more says the keyspace goes on */
    bool from_start = replica->digest_at_start;
    int rc = kv_lww_walk(replica->kv, from_start ? NULL : replica->digest_after,
                         from_start ? 0 : replica->digest_after_bytes, true,
                         REPLICA_DIGEST_PAGE_ITEMS + 1, collect, page);
    if (rc != 0) {
        return rc;
    }
    *at_end = page->count <= REPLICA_DIGEST_PAGE_ITEMS;
    size_t count = *at_end ? page->count : REPLICA_DIGEST_PAGE_ITEMS;
    struct peer_replica_item items[REPLICA_DIGEST_PAGE_ITEMS];
    for (size_t i = 0; i < count; i++) {
        items[i] = (struct peer_replica_item){.stamp = page->stamps[i],
                                              .tombstone = page->tombstones[i],
                                              .key_bytes = (uint32_t)page->key_bytes[i],
                                              .key = page->keys[i]};
    }
    uint8_t flags =
        (from_start ? PEER_REPLICA_FROM_START : 0) | (*at_end ? PEER_REPLICA_TO_END : 0);
    for (size_t p = 0; p < peer_count; p++) {
        struct peer_replica message = {.kind = PEER_REPLICA_DIGEST,
                                       .flags = flags,
                                       .from = replica->self,
                                       .to = peers[p],
                                       .item_count = (uint32_t)count,
                                       .items = items};
        replica->host.send(replica->host.context, &message);
        replica->stats.messages_sent++;
        replica->stats.digests_sent++;
    }
    /* The next page starts at this one's last key, so that no key falls between them. */
    replica->digest_at_start = *at_end;
    if (!*at_end) {
        memcpy(replica->digest_after, page->keys[count - 1], page->key_bytes[count - 1]);
        replica->digest_after_bytes = page->key_bytes[count - 1];
    }
    return 0;
}

int replica_lww_anti_entropy(struct replica *replica, const raft_node_id *peers, size_t peer_count)
{
    struct collected page;
    int rc = collected_init(&page, REPLICA_DIGEST_PAGE_ITEMS + 1);
    bool at_end = false;
    for (int pages = 0; rc == 0 && pages < REPLICA_DIGEST_PAGES && !at_end; pages++) {
        rc = send_digest_page(replica, peers, peer_count, &page, &at_end);
    }
    collected_free(&page);
    return rc;
}
