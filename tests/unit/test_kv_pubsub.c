/*
 * test_kv_pubsub.c — PUBLISH and keyspace notifications inside the state machine: messages
 * are handed to the host after the batch, in log order, and only those the host has
 * receivers for; PUBLISH replies the host's count (0 where replies feed state); a batch that
 * fails hands nothing over; notify-keyspace-events parses and prints as Redis 7.0, is applied
 * through its entry, survives a restart and travels in snapshots; the events carry Redis's
 * names and follow the classes the setting enables.
 */
#include <pthread.h>

#include "test_kv_support.c"
/* The lock that holds the map's growth off (a full map, for a batch that fails), and a handler's
 * context. */
#include "kv/kv_internal.h"
#include "kv/pubsub.h"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

/* The test's host: every channel has `receivers` subscribers, except those starting with
 * "quiet", which have none. */
static uint64_t receivers = 1;
static size_t receivers_asked;

static uint64_t count_receivers(void *context, const uint8_t *channel, size_t channel_bytes)
{
    (void)context;
    receivers_asked++;
    if (channel_bytes >= 5 && memcmp(channel, "quiet", 5) == 0) {
        return 0;
    }
    return receivers;
}

/* The messages handed over, as "channel=message" separated by " | ". */
struct delivered {
    char text[TRANSCRIPT_BYTES];
    size_t used;
};

static void collect(void *context, const uint8_t *channel, size_t channel_bytes,
                    const uint8_t *message, size_t message_bytes)
{
    struct delivered *delivered = context;
    int length =
        snprintf(delivered->text + delivered->used, sizeof delivered->text - delivered->used,
                 "%s%.*s=%.*s", delivered->used > 0 ? " | " : "", (int)channel_bytes,
                 (const char *)channel, (int)message_bytes, (const char *)message);
    assert_true(length > 0 && delivered->used + (size_t)length < sizeof delivered->text);
    delivered->used += (size_t)length;
}

/* One message's exact bytes, for the binary-safe test. */
struct raw_message {
    size_t count;
    size_t channel_bytes;
    uint8_t message[16];
    size_t message_bytes;
};

static void collect_raw(void *context, const uint8_t *channel, size_t channel_bytes,
                        const uint8_t *message, size_t message_bytes)
{
    (void)channel;
    struct raw_message *raw = context;
    raw->count++;
    raw->channel_bytes = channel_bytes;
    assert_true(message_bytes <= sizeof raw->message);
    memcpy(raw->message, message, message_bytes);
    raw->message_bytes = message_bytes;
}

static const char *take(struct fixture *fixture)
{
    static struct delivered delivered;
    delivered.used = 0;
    delivered.text[0] = '\0';
    kv_take_messages(fixture->kv, collect, &delivered);
    return delivered.text;
}

static int setup_pubsub(void **state)
{
    setup_fixture(state);
    struct fixture *fixture = *state;
    receivers = 1;
    receivers_asked = 0;
    kv_set_receivers(fixture->kv, count_receivers, NULL);
    return 0;
}

static void apply_lines(struct fixture *fixture, const char *const *lines, size_t count)
{
    struct raft_entry entries[8];
    assert_true(count <= 8);
    transcript_reset(&fixture->transcript);
    for (size_t i = 0; i < count; i++) {
        entry_from_line(&entries[i], fixture->next_index++, fixture->term, lines[i]);
    }
    assert_int_equal(fixture_apply(fixture, entries, count), 0);
    for (size_t i = 0; i < count; i++) {
        free(entries[i].data);
    }
}

/* ---- PUBLISH ---- */

static void test_publish_replies_the_receivers_and_hands_messages_over_in_log_order(void **state)
{
    struct fixture *fixture = *state;
    receivers = 3;
    const char *lines[] = {"PUBLISH a 1", "SET k v", "PUBLISH b 2", "PUBLISH a 3"};
    apply_lines(fixture, lines, 4);
    assert_string_equal(fixture->transcript.text, ":3 | +OK | :3 | :3");
    assert_string_equal(take(fixture), "a=1 | b=2 | a=3");
    assert_string_equal(take(fixture), ""); /* taken once */
}

static void test_a_message_nobody_here_hears_is_not_kept(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("PUBLISH quiet.channel m", ":0");
    EXPECT("PUBLISH loud m", ":1");
    assert_string_equal(take(fixture), "loud=m");
}

static void test_without_a_host_publish_replies_zero(void **state)
{
    struct fixture *fixture = *state;
    kv_set_receivers(fixture->kv, NULL, NULL);
    EXPECT("PUBLISH c m", ":0");
    assert_string_equal(take(fixture), "");
}

static void test_publish_changes_no_data_and_replies_wrong_arity(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("PUBLISH c m", ":1");
    EXPECT("DBSIZE", ":0");
    EXPECT("PUBLISH c", "-ERR wrong number of arguments for 'publish' command");
    EXPECT("PUBLISH c m x", "-ERR wrong number of arguments for 'publish' command");
    assert_int_equal(kv_applied_index(fixture->kv), 1);
    take(fixture);
}

static void test_empty_and_binary_messages_are_handed_over_whole(void **state)
{
    struct fixture *fixture = *state;
    struct kv_arg argv[] = {{(const uint8_t *)"PUBLISH", 7},
                            {(const uint8_t *)"", 0},
                            {(const uint8_t *)"a\0b\r\n", 5}};
    assert_string_equal(run_argv(fixture, 3, argv), ":1");
    struct raw_message raw = {0};
    kv_take_messages(fixture->kv, collect_raw, &raw);
    assert_int_equal(raw.count, 1);
    assert_int_equal(raw.channel_bytes, 0);
    assert_int_equal(raw.message_bytes, 5);
    assert_memory_equal(raw.message, "a\0b\r\n", 5);
}

/* A caller whose replies feed back into state (a script) sees 0, whatever the host counts:
 * the count differs between replicas. The message is still handed over. */
static void test_hidden_receivers_reply_zero(void **state)
{
    struct fixture *fixture = *state;
    receivers = 7;
    struct kv_exec exec = {.kv = fixture->kv, .writable = true, .hide_receivers = true};
    exec.reply = &fixture->transcript.sink;
    transcript_reset(&fixture->transcript);
    struct kv_arg argv[] = {
        {(const uint8_t *)"publish", 7}, {(const uint8_t *)"c", 1}, {(const uint8_t *)"m", 1}};
    assert_int_equal(kv_command_publish(&exec, 3, argv), 0);
    assert_string_equal(fixture->transcript.text, ":0");
    assert_string_equal(take(fixture), "c=m");
}

/* A session's write keeps its reply in the state machine, for a retry: PUBLISH's count there
 * must be the same on every replica, so it is 0, and a retry publishes nothing again. */
static void test_publish_in_a_session_replies_zero_and_publishes_once(void **state)
{
    struct fixture *fixture = *state;
    receivers = 4;
    EXPECT("raft.session s1 1 0 PUBLISH c m", ":0");
    assert_string_equal(take(fixture), "c=m");
    EXPECT("raft.session s1 1 0 PUBLISH c m", ":0"); /* the retry: its kept reply */
    assert_string_equal(take(fixture), "");
    EXPECT("PUBLISH c outside", ":4");
    take(fixture);
}

static void test_publish_in_a_script_replies_zero_and_publishes(void **state)
{
    struct fixture *fixture = *state;
    receivers = 3;
    EXPECT("EVAL return(redis.call('publish','c','m')) 0", ":0");
    assert_string_equal(take(fixture), "c=m");
    EXPECT("PUBLISH c outside", ":3");
    take(fixture);
}

static void test_publish_inside_a_transaction_is_part_of_the_exec_reply(void **state)
{
    struct fixture *fixture = *state;
    receivers = 2;
    EXPECT("raft.exec 3 PUBLISH t one 3 SET k v 3 PUBLISH t two", "*3 | :2 | +OK | :2");
    assert_string_equal(take(fixture), "t=one | t=two");
}

/* A batch refused whole (here: a full map while map_lock holds its growth off) hands nothing over;
 * the same entries applied again later are handed over then, once. */
static void test_a_failed_batch_hands_no_message_over(void **state)
{
    struct fixture *fixture = *state;
    fixture_open_small_map(fixture);
    kv_set_receivers(fixture->kv, count_receivers, NULL);
    static uint8_t value[64 * 1024];
    memset(value, 'v', sizeof value);
    struct raft_entry entries[9];
    entry_from_line(&entries[0], 1, 1, "PUBLISH c before");
    for (int i = 1; i < 9; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        struct kv_arg argv[] = {{(const uint8_t *)"SET", 3},
                                {(const uint8_t *)key, strlen(key)},
                                {value, sizeof value}};
        entry_from_argv(&entries[i], (uint64_t)i + 1, 1, 3, argv);
    }
    assert_int_equal(pthread_mutex_lock(&fixture->kv->map_lock), 0);
    assert_int_equal(fixture_apply(fixture, entries, 9), KV_ERROR_MAP_FULL);
    assert_string_equal(take(fixture), "");
    assert_int_equal(pthread_mutex_unlock(&fixture->kv->map_lock), 0);
    assert_int_equal(fixture_apply(fixture, entries, 9), 0);
    assert_string_equal(take(fixture), "c=before");
    for (int i = 0; i < 9; i++) {
        free(entries[i].data);
    }
}

/* ---- notify-keyspace-events ---- */

static void test_notify_flags_parse_and_print_as_redis(void **state)
{
    (void)state;
    /* Redis 7.0.15's CONFIG GET after CONFIG SET of each. */
    static const struct {
        const char *set;
        const char *get;
    } cases[] = {
        {"KEA", "AKE"},      {"Kgnm$", "g$nKm"},
        {"An", "A"},         {"AKEnm", "AKEm"},
        {"gl$shzxetd", "A"}, {"KEgl$shzxetdn", "AKE"},
        {"E", "E"},          {"K", "K"},
        {"mK", "Km"},        {"", ""},
        {"g", "g"},          {"Kl", "lK"},
        {"xEK", "xKE"},      {"tden", "etdn"},
        {"AA", "A"},         {"zhsl$g", "g$lshz"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned flags = 99;
        assert_true(
            kv_notify_flags_parse((const uint8_t *)cases[i].set, strlen(cases[i].set), &flags));
        char text[KV_NOTIFY_FLAGS_TEXT_BYTES];
        size_t length = kv_notify_flags_format(flags, text);
        assert_string_equal(text, cases[i].get);
        assert_int_equal(length, strlen(cases[i].get));
    }
    static const char *const invalid[] = {"xyz", "kea", "KE A", "KEA!", "\x01"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        unsigned flags = 99;
        assert_false(
            kv_notify_flags_parse((const uint8_t *)invalid[i], strlen(invalid[i]), &flags));
        assert_int_equal(flags, 99); /* untouched */
    }
    unsigned all = 0;
    assert_true(kv_notify_flags_parse((const uint8_t *)"A", 1, &all));
    assert_int_equal(all & (KV_NOTIFY_KEY_MISS | KV_NOTIFY_NEW), 0); /* A is not m or n */
}

static void test_the_setting_applies_through_its_entry_and_survives_a_restart(void **state)
{
    struct fixture *fixture = *state;
    assert_int_equal(kv_notify_flags(fixture->kv), 0);
    EXPECT("raft.config.notify KEA", "+OK");
    unsigned expected = 0;
    assert_true(kv_notify_flags_parse((const uint8_t *)"KEA", 3, &expected));
    assert_int_equal(kv_notify_flags(fixture->kv), expected);
    EXPECT("raft.config.notify KEAq", "-" KV_ERROR_TEXT_NOTIFY_FLAGS);
    assert_int_equal(kv_notify_flags(fixture->kv), expected); /* unchanged */
    fixture_reopen(fixture);
    assert_int_equal(kv_notify_flags(fixture->kv), expected);
    EXPECT("raft.config.notify ''", "+OK");
    fixture_reopen(fixture);
    assert_int_equal(kv_notify_flags(fixture->kv), 0);
}

static void test_the_setting_travels_in_snapshots(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.config.notify Elg", "+OK");
    char path[300];
    snprintf(path, sizeof path, "%s.snapshot", fixture->directory);
    uint64_t index, term;
    assert_int_equal(kv_snapshot_export(fixture->kv, path, &index, &term), 0);
    struct fixture other;
    fixture_open(&other, NULL);
    assert_int_equal(kv_snapshot_import(other.kv, path, &index, &term), 0);
    assert_int_equal(kv_notify_flags(other.kv), kv_notify_flags(fixture->kv));
    fixture_close(&other);
}

static void enable(struct fixture *fixture, const char *flags)
{
    char line[64];
    snprintf(line, sizeof line, "raft.config.notify %s", flags);
    EXPECT(line, "+OK");
}

/* Redis's two messages per event: keyspace (key -> event), then keyevent (event -> key). */
static void test_events_carry_redis_names_in_both_channels(void **state)
{
    struct fixture *fixture = *state;
    enable(fixture, "KEA");
    EXPECT("SET k v", "+OK");
    assert_string_equal(take(fixture), "__keyspace@0__:k=set | __keyevent@0__:set=k");
    EXPECT("RPUSH l a", ":1");
    EXPECT("LPOP l", "\"a\"");
    assert_string_equal(take(fixture), "__keyspace@0__:l=rpush | __keyevent@0__:rpush=l | "
                                       "__keyspace@0__:l=lpop | __keyevent@0__:lpop=l | "
                                       "__keyspace@0__:l=del | __keyevent@0__:del=l");
    EXPECT("HSET h f v", ":1");
    EXPECT("HINCRBY h n 1", ":1");
    EXPECT("SADD s m", ":1");
    EXPECT("ZADD z 1 m", ":1");
    EXPECT("ZINCRBY z 1 m", ",2");
    assert_string_equal(take(fixture), "__keyspace@0__:h=hset | __keyevent@0__:hset=h | "
                                       "__keyspace@0__:h=hincrby | __keyevent@0__:hincrby=h | "
                                       "__keyspace@0__:s=sadd | __keyevent@0__:sadd=s | "
                                       "__keyspace@0__:z=zadd | __keyevent@0__:zadd=z | "
                                       "__keyspace@0__:z=zincr | __keyevent@0__:zincr=z");
    EXPECT("RENAME k k2", "+OK");
    EXPECT("EXPIRE k2 100", ":1");
    EXPECT("PERSIST k2", ":1");
    EXPECT("EXPIRE k2 -1", ":1");
    assert_string_equal(take(fixture),
                        "__keyspace@0__:k=rename_from | __keyevent@0__:rename_from=k | "
                        "__keyspace@0__:k2=rename_to | __keyevent@0__:rename_to=k2 | "
                        "__keyspace@0__:k2=expire | __keyevent@0__:expire=k2 | "
                        "__keyspace@0__:k2=persist | __keyevent@0__:persist=k2 | "
                        "__keyspace@0__:k2=del | __keyevent@0__:del=k2");
}

static void test_nothing_changed_emits_nothing(void **state)
{
    struct fixture *fixture = *state;
    enable(fixture, "KEA");
    EXPECT("DEL nothing", ":0");
    EXPECT("SETNX k v", ":1");
    take(fixture);
    EXPECT("SETNX k w", ":0");
    EXPECT("LPUSHX nolist a", ":0");
    EXPECT("SREM noset m", ":0");
    EXPECT("ZADD z 1 m", ":1");
    take(fixture);
    EXPECT("ZADD z 1 m", ":0");
    EXPECT("PERSIST k", ":0");
    EXPECT("GET k", "\"v\"");
    assert_string_equal(take(fixture), "");
}

static void test_expired_keys_notify_expired_from_the_log(void **state)
{
    struct fixture *fixture = *state;
    enable(fixture, "Ex");
    EXPECT("SET soon v PX 10", "+OK");
    EXPECT("SET later v PX 10", "+OK");
    uint64_t deadline = test_clock_ms + 10;
    test_clock_ms += 100;
    char line[128];
    snprintf(line, sizeof line, "raft.expire %llu soon", (unsigned long long)deadline);
    EXPECT(line, ":1");
    /* A write that finds a key expired deletes it: "expired" before its own event. */
    EXPECT("SET later w", "+OK");
    test_clock_ms -= 100;
    assert_string_equal(take(fixture),
                        "__keyevent@0__:expired=soon | __keyevent@0__:expired=later");
}

static void test_events_follow_the_enabled_classes(void **state)
{
    struct fixture *fixture = *state;
    enable(fixture, "Kl");
    EXPECT("SET k v", "+OK");
    EXPECT("RPUSH l a", ":1");
    EXPECT("DEL k", ":1");
    assert_string_equal(take(fixture), "__keyspace@0__:l=rpush");
    enable(fixture, "A"); /* classes without K or E: no channel, nothing published */
    EXPECT("SET k v", "+OK");
    assert_string_equal(take(fixture), "");
    enable(fixture, "En");
    EXPECT("SET k2 v", "+OK");
    EXPECT("SET k2 w", "+OK");
    assert_string_equal(take(fixture), "__keyevent@0__:new=k2");
}

/* Without subscribers for a notification's channel the host is asked, and nothing is kept. */
static void test_notifications_nobody_hears_are_not_kept(void **state)
{
    struct fixture *fixture = *state;
    enable(fixture, "KEA");
    receivers = 0;
    receivers_asked = 0;
    EXPECT("SET k v", "+OK");
    assert_int_equal(receivers_asked, 2);
    assert_string_equal(take(fixture), "");
    enable(fixture, "''");
    receivers_asked = 0;
    EXPECT("SET k v", "+OK");
    assert_int_equal(receivers_asked, 0); /* off: not even asked */
}

#define PUBSUB_TEST(name) cmocka_unit_test_setup_teardown(name, setup_pubsub, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        PUBSUB_TEST(test_publish_replies_the_receivers_and_hands_messages_over_in_log_order),
        PUBSUB_TEST(test_a_message_nobody_here_hears_is_not_kept),
        PUBSUB_TEST(test_without_a_host_publish_replies_zero),
        PUBSUB_TEST(test_publish_changes_no_data_and_replies_wrong_arity),
        PUBSUB_TEST(test_empty_and_binary_messages_are_handed_over_whole),
        PUBSUB_TEST(test_hidden_receivers_reply_zero),
        PUBSUB_TEST(test_publish_in_a_script_replies_zero_and_publishes),
        PUBSUB_TEST(test_publish_inside_a_transaction_is_part_of_the_exec_reply),
        PUBSUB_TEST(test_publish_in_a_session_replies_zero_and_publishes_once),
        PUBSUB_TEST(test_a_failed_batch_hands_no_message_over),
        cmocka_unit_test(test_notify_flags_parse_and_print_as_redis),
        PUBSUB_TEST(test_the_setting_applies_through_its_entry_and_survives_a_restart),
        PUBSUB_TEST(test_the_setting_travels_in_snapshots),
        PUBSUB_TEST(test_events_carry_redis_names_in_both_channels),
        PUBSUB_TEST(test_nothing_changed_emits_nothing),
        PUBSUB_TEST(test_expired_keys_notify_expired_from_the_log),
        PUBSUB_TEST(test_events_follow_the_enabled_classes),
        PUBSUB_TEST(test_notifications_nobody_hears_are_not_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
