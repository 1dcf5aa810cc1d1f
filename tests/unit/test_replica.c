/*
 * test_replica.c — the lecture's foil modes (src/replica) between two or three replicas in one
 * process: each replica has its own kv database, a fake host records what it sends, and the
 * test delivers (or drops, or reorders) those messages by hand. One behaviour per test: what
 * naive does, what last-writer-wins keeps, what it loses, and how anti-entropy repairs.
 */
#include "test_kv_support.c"

#include "proto/peer.h"
#include "replica/replica.h"

enum { MAX_SENT = 64, MAX_SENT_BYTES = 1 << 20 };

/* A sent message, copied (the replica's are valid only during send). */
struct sent {
    struct peer_replica message;
    struct peer_replica_item items[PEER_REPLICA_MAX_ITEMS];
};

struct node {
    struct fixture fixture;
    struct replica *replica;
    raft_node_id id;
    uint64_t wall_ms;
    struct sent *sent;
    size_t sent_count;
    uint8_t *bytes; /* the sent items' keys and values */
    size_t bytes_used;
};

static const uint8_t *keep(struct node *node, const uint8_t *data, size_t bytes)
{
    assert_true(node->bytes_used + bytes <= MAX_SENT_BYTES);
    uint8_t *at = node->bytes + node->bytes_used;
    if (bytes > 0) {
        memcpy(at, data, bytes);
    }
    node->bytes_used += bytes;
    return bytes > 0 ? at : NULL;
}

static void host_send(void *context, const struct peer_replica *message)
{
    struct node *node = context;
    assert_true(node->sent_count < MAX_SENT);
    struct sent *sent = &node->sent[node->sent_count++];
    sent->message = *message;
    for (uint32_t i = 0; i < message->item_count; i++) {
        sent->items[i] = message->items[i];
        sent->items[i].key = keep(node, message->items[i].key, message->items[i].key_bytes);
        sent->items[i].value = keep(node, message->items[i].value, message->items[i].value_bytes);
    }
    sent->message.items = sent->items;
}

static uint64_t host_clock(void *context)
{
    return ((struct node *)context)->wall_ms;
}

static void node_open(struct node *node, int mode, raft_node_id id)
{
    memset(node, 0, sizeof *node);
    struct kv_options options;
    kv_options_default(&options);
    options.lww_stamps = mode == REPLICA_MODE_LWW;
    fixture_open(&node->fixture, &options);
    node->id = id;
    node->wall_ms = test_clock_ms;
    node->sent = calloc(MAX_SENT, sizeof *node->sent);
    node->bytes = malloc(MAX_SENT_BYTES);
    assert_non_null(node->sent);
    assert_non_null(node->bytes);
    struct replica_host host = {.context = node, .send = host_send, .wall_clock_ms = host_clock};
    assert_int_equal(replica_new(mode, id, node->fixture.kv, &host, &node->replica), 0);
}

static void node_close(struct node *node)
{
    replica_free(node->replica);
    fixture_close(&node->fixture);
    free(node->sent);
    free(node->bytes);
}

static void forget_sent(struct node *node)
{
    node->sent_count = 0;
    node->bytes_used = 0;
}

/* A client's write on `node`, sent to `peers`; returns the reply's transcript. */
static const char *write_on(struct node *node, const char *line, const raft_node_id *peers,
                            size_t peer_count)
{
    char storage[TRANSCRIPT_BYTES];
    struct kv_arg argv[128];
    size_t argc = split_words(line, storage, sizeof storage, argv, 128);
    transcript_reset(&node->fixture.transcript);
    const struct kv_command *command =
        kv_command_resolve(argc, argv, &node->fixture.transcript.sink);
    assert_non_null(command);
    const char *refusal = replica_refuses(node->replica, command, argc, argv);
    if (refusal != NULL) {
        return refusal;
    }
    assert_int_equal(
        replica_write(node->replica, argc, argv, &node->fixture.transcript.sink, peers, peer_count),
        0);
    return node->fixture.transcript.text;
}

/* Hands every message `from` sent to `to` (in order, or backwards), then forgets them. */
static void deliver(struct node *from, struct node *to, bool backwards)
{
    for (size_t n = 0; n < from->sent_count; n++) {
        const struct sent *sent = &from->sent[backwards ? from->sent_count - 1 - n : n];
        if (sent->message.to == to->id) {
            assert_int_equal(replica_receive(to->replica, &sent->message), 0);
        }
    }
    forget_sent(from);
}

static const char *get(struct node *node, const char *key)
{
    char line[128];
    snprintf(line, sizeof line, "GET %s", key);
    return run(&node->fixture, line);
}

/* ---- naive ---- */

static void naive_applies_locally_answers_and_sends_the_entry_to_every_sibling(void **state)
{
    struct node a, b;
    node_open(&a, REPLICA_MODE_NAIVE, 1);
    node_open(&b, REPLICA_MODE_NAIVE, 2);
    raft_node_id peers[] = {2, 3};
    assert_string_equal(write_on(&a, "RPUSH list x y", peers, 2), ":2");
    assert_int_equal(a.sent_count, 2);
    assert_int_equal(a.sent[0].message.kind, PEER_REPLICA_ENTRY);
    assert_int_equal(a.sent[1].message.to, 3);
    deliver(&a, &b, false);
    assert_string_equal(run(&b.fixture, "LRANGE list 0 -1"), "*2 | \"x\" | \"y\"");
    node_close(&a);
    node_close(&b);
}

static void naive_replicas_that_miss_a_message_stay_apart_for_ever(void **state)
{
    struct node a, b;
    node_open(&a, REPLICA_MODE_NAIVE, 1);
    node_open(&b, REPLICA_MODE_NAIVE, 2);
    raft_node_id to_b[] = {2};
    raft_node_id to_a[] = {1};
    write_on(&a, "SET k from-a", to_b, 1);
    write_on(&b, "SET k from-b", to_a, 1);
    /* Both messages cross: each applies the other's write last, so each ends on the other's. */
    deliver(&a, &b, false);
    deliver(&b, &a, false);
    assert_string_equal(get(&a, "k"), "\"from-b\"");
    assert_string_equal(get(&b, "k"), "\"from-a\"");
    /* A message lost (a partition) is never sent again: nothing repairs the counters. */
    write_on(&a, "INCR c", to_b, 1);
    forget_sent(&a);
    assert_int_equal(replica_anti_entropy(a.replica, to_b, 1), 0);
    assert_int_equal(a.sent_count, 0);
    assert_string_equal(get(&a, "c"), "\"1\"");
    assert_string_equal(get(&b, "c"), "(nil)");
    node_close(&a);
    node_close(&b);
}

/* ---- last writer wins ---- */

static void lww_keeps_the_newest_stamp_whatever_the_arrival_order(void **state)
{
    struct node a, b, c;
    node_open(&a, REPLICA_MODE_LWW, 1);
    node_open(&b, REPLICA_MODE_LWW, 2);
    node_open(&c, REPLICA_MODE_LWW, 3);
    raft_node_id to_c[] = {3};
    write_on(&a, "SET k old", to_c, 1);
    b.wall_ms += 5; /* b's write is later */
    write_on(&b, "SET k new", to_c, 1);
    deliver(&b, &c, false); /* the newer one first */
    deliver(&a, &c, false);
    assert_string_equal(get(&c, "k"), "\"new\"");
    const struct replica_stats *stats = replica_stats(c.replica);
    assert_int_equal(stats->remote_applied, 1);
    assert_int_equal(stats->remote_ignored, 1);
    node_close(&a);
    node_close(&b);
    node_close(&c);
}

static void lww_loses_one_of_two_concurrent_increments(void **state)
{
    struct node a, b;
    node_open(&a, REPLICA_MODE_LWW, 1);
    node_open(&b, REPLICA_MODE_LWW, 2);
    raft_node_id to_b[] = {2};
    raft_node_id to_a[] = {1};
    write_on(&a, "SET n 5", to_b, 1);
    deliver(&a, &b, false);
    /* Cut off from each other, both increment what they see. */
    assert_string_equal(write_on(&a, "INCR n", to_b, 1), ":6");
    assert_string_equal(write_on(&b, "INCR n", to_a, 1), ":6");
    deliver(&a, &b, false);
    deliver(&b, &a, false);
    assert_string_equal(get(&a, "n"), "\"6\""); /* two acknowledged increments, counted once */
    assert_string_equal(get(&b, "n"), "\"6\"");
    node_close(&a);
    node_close(&b);
}

static void lww_anti_entropy_repairs_what_a_replica_missed_deletes_included(void **state)
{
    struct node a, b;
    node_open(&a, REPLICA_MODE_LWW, 1);
    node_open(&b, REPLICA_MODE_LWW, 2);
    raft_node_id to_b[] = {2};
    raft_node_id to_a[] = {1};
    write_on(&a, "SET gone x", to_b, 1);
    deliver(&a, &b, false);
    write_on(&a, "MSET k1 v1 k2 v2", to_b, 1);
    write_on(&a, "DEL gone", to_b, 1);
    forget_sent(&a); /* b was down */
    assert_string_equal(get(&b, "gone"), "\"x\"");
    assert_int_equal(replica_anti_entropy(b.replica, to_a, 1), 0);
    assert_int_equal(b.sent[0].message.kind, PEER_REPLICA_DIGEST);
    assert_int_equal(b.sent[0].message.flags, PEER_REPLICA_FROM_START | PEER_REPLICA_TO_END);
    deliver(&b, &a, false); /* a answers with what b lacks or holds older */
    deliver(&a, &b, false);
    assert_string_equal(get(&b, "k1"), "\"v1\"");
    assert_string_equal(get(&b, "k2"), "\"v2\"");
    assert_string_equal(get(&b, "gone"), "(nil)");
    /* Converged: another round repairs nothing. */
    assert_int_equal(replica_anti_entropy(b.replica, to_a, 1), 0);
    deliver(&b, &a, false);
    assert_int_equal(a.sent_count, 0);
    node_close(&a);
    node_close(&b);
}

static void lww_digest_pages_cover_a_large_keyspace_without_gaps(void **state)
{
    struct node a, b;
    node_open(&a, REPLICA_MODE_LWW, 1);
    node_open(&b, REPLICA_MODE_LWW, 2);
    raft_node_id to_a[] = {1};
    raft_node_id to_b[] = {2};
    for (int i = 0; i < 600; i++) {
        char line[64];
        snprintf(line, sizeof line, "SET key%04d %d", i, i);
        write_on(&a, line, to_b, 1);
        if (i % 2 == 0) {
            deliver(&a, &b, false); /* b has half of them */
        }
        forget_sent(&a);
    }
    assert_int_equal(replica_anti_entropy(b.replica, to_a, 1), 0);
    assert_int_equal(b.sent_count, 2); /* 300 keys: two pages */
    deliver(&b, &a, false);
    deliver(&a, &b, false);
    for (int i = 0; i < 600; i += 37) {
        char key[16];
        char expected[16];
        snprintf(key, sizeof key, "key%04d", i);
        snprintf(expected, sizeof expected, "\"%d\"", i);
        assert_string_equal(get(&b, key), expected);
    }
    node_close(&a);
    node_close(&b);
}

static void lww_refuses_what_is_not_a_whole_key_string_write(void **state)
{
    struct node a;
    node_open(&a, REPLICA_MODE_LWW, 1);
    assert_non_null(strstr(write_on(&a, "LPUSH l x", NULL, 0), "whole-key string writes"));
    assert_non_null(strstr(write_on(&a, "SET k v NX", NULL, 0), "without options"));
    assert_string_equal(write_on(&a, "SET k v", NULL, 0), "+OK");
    assert_string_equal(write_on(&a, "INCR k", NULL, 0),
                        "-ERR value is not an integer or out of range");
    assert_string_equal(write_on(&a, "APPEND k w", NULL, 0), ":2");
    char line[1024] = "DEL";
    for (int i = 0; i < 65; i++) { /* one key more than a write may name */
        snprintf(line + strlen(line), sizeof line - strlen(line), " k%d", i);
    }
    assert_non_null(strstr(write_on(&a, line, NULL, 0), "at most 64 keys"));
    line[strlen(line) - 4] = '\0'; /* 64 keys: taken */
    assert_string_equal(write_on(&a, line, NULL, 0), ":0");
    node_close(&a);
}

static void lww_clock_never_goes_backwards(void **state)
{
    struct node a, b;
    node_open(&a, REPLICA_MODE_LWW, 1);
    node_open(&b, REPLICA_MODE_LWW, 2);
    raft_node_id to_b[] = {2};
    raft_node_id to_a[] = {1};
    a.wall_ms += 1000; /* a's clock runs ahead */
    write_on(&a, "SET k ahead", to_b, 1);
    deliver(&a, &b, false);
    /* b's own write after it saw a's must win, though b's wall clock is behind. */
    write_on(&b, "SET k after", to_a, 1);
    deliver(&b, &a, false);
    assert_string_equal(get(&a, "k"), "\"after\"");
    b.wall_ms -= 500; /* and a wall clock that steps back moves nothing back */
    write_on(&b, "SET k later", to_a, 1);
    deliver(&b, &a, false);
    assert_string_equal(get(&a, "k"), "\"later\"");
    node_close(&a);
    node_close(&b);
}

static void kv_without_stamps_refuses_lww_entries(void **state)
{
    struct fixture *fixture = *state;
    assert_non_null(strstr(run(fixture, "raft.lww.del k 01234567890123456789"),
                           "keeps no last-writer-wins stamps"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(naive_applies_locally_answers_and_sends_the_entry_to_every_sibling),
        cmocka_unit_test(naive_replicas_that_miss_a_message_stay_apart_for_ever),
        cmocka_unit_test(lww_keeps_the_newest_stamp_whatever_the_arrival_order),
        cmocka_unit_test(lww_loses_one_of_two_concurrent_increments),
        cmocka_unit_test(lww_anti_entropy_repairs_what_a_replica_missed_deletes_included),
        cmocka_unit_test(lww_digest_pages_cover_a_large_keyspace_without_gaps),
        cmocka_unit_test(lww_refuses_what_is_not_a_whole_key_string_write),
        cmocka_unit_test(lww_clock_never_goes_backwards),
        cmocka_unit_test_setup_teardown(kv_without_stamps_refuses_lww_entries, setup_fixture,
                                        teardown_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
