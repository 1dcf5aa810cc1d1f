/*
 * test_kv_set.c — the set commands against Redis 7.0's replies: SADD, SREM, SMEMBERS,
 * SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SMOVE, SINTER, SUNION, SDIFF, their STORE
 * forms, SINTERCARD and SSCAN, with their errors, WRONGTYPE, expired keys (test_clock_ms), the
 * 494-byte member and 503-byte key limits; that SPOP pops the same members on two replicas;
 * and that a STORE whose destination is one of its sources reads it whole before replacing
 * it. Orders that Redis leaves arbitrary are compared as sorted sets.
 */
#include "test_kv_support.c"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

#define MAX_ITEMS 1024

struct items {
    char copy[TRANSCRIPT_BYTES];
    const char *item[MAX_ITEMS];
    size_t count;
};

/* A transcript cut into its replies (" | "-separated). */
static void split_items(const char *text, struct items *items)
{
    snprintf(items->copy, sizeof items->copy, "%s", text);
    items->count = 0;
    char *cursor = items->copy;
    while (cursor != NULL && *cursor != '\0') {
        assert_true(items->count < MAX_ITEMS);
        items->item[items->count++] = cursor;
        char *separator = strstr(cursor, " | ");
        if (separator != NULL) {
            *separator = '\0';
            cursor = separator + 3;
        } else {
            cursor = NULL;
        }
    }
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks that `line` replies an array holding exactly the members in `expected` (words
 * separated by spaces, any order; "" for none). */
static void expect_members(struct fixture *fixture, const char *line, const char *expected)
{
    struct items items;
    split_items(run(fixture, line), &items);
    assert_true(items.count >= 1);
    assert_int_equal(items.item[0][0], '*');
    const char *got[MAX_ITEMS];
    size_t got_count = 0;
    static char unquoted[MAX_ITEMS][600];
    for (size_t i = 1; i < items.count; i++) {
        size_t length = strlen(items.item[i]);
        assert_true(length >= 2 && items.item[i][0] == '"');
        snprintf(unquoted[got_count], sizeof unquoted[0], "%.*s", (int)(length - 2),
                 items.item[i] + 1);
        got[got_count] = unquoted[got_count];
        got_count++;
    }
    assert_int_equal(strtoull(items.item[0] + 1, NULL, 10), got_count);
    char storage[TRANSCRIPT_BYTES];
    struct kv_arg words[MAX_ITEMS];
    size_t word_count = 0;
    if (expected[0] != '\0') {
        word_count = split_words(expected, storage, sizeof storage, words, MAX_ITEMS);
    }
    const char *wanted[MAX_ITEMS];
    static char wanted_text[MAX_ITEMS][600];
    for (size_t i = 0; i < word_count; i++) {
        snprintf(wanted_text[i], sizeof wanted_text[0], "%.*s", (int)words[i].data_bytes,
                 (const char *)words[i].data);
        wanted[i] = wanted_text[i];
    }
    qsort(got, got_count, sizeof got[0], compare_strings);
    qsort(wanted, word_count, sizeof wanted[0], compare_strings);
    assert_int_equal(got_count, word_count);
    for (size_t i = 0; i < got_count; i++) {
        assert_string_equal(got[i], wanted[i]);
    }
}

/* Adds members m0..m(n-1) to a set, a few per command. */
static void fill_set(struct fixture *fixture, const char *key, size_t from, size_t to)
{
    for (size_t first = from; first < to; first += 40) {
        char line[TRANSCRIPT_BYTES];
        size_t used = (size_t)snprintf(line, sizeof line, "SADD %s", key);
        for (size_t i = first; i < to && i < first + 40; i++) {
            used += (size_t)snprintf(line + used, sizeof line - used, " m%zu", i);
        }
        run(fixture, line);
    }
}

static size_t count_item(const struct items *items, size_t from, const char *wanted)
{
    size_t found = 0;
    for (size_t i = from; i < items->count; i++) {
        found += strcmp(items->item[i], wanted) == 0 ? 1 : 0;
    }
    return found;
}

static void advance(uint64_t ms)
{
    test_clock_ms += ms;
}

/* A line "PREFIX <n times c> SUFFIX". */
static const char *long_word_line(char *line, size_t capacity, const char *prefix, size_t n, char c,
                                  const char *suffix)
{
    size_t used = (size_t)snprintf(line, capacity, "%s", prefix);
    assert_true(used + n + strlen(suffix) < capacity);
    memset(line + used, c, n);
    snprintf(line + used + n, capacity - used - n, "%s", suffix);
    return line;
}

/* ---- SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD ---- */

static void test_sadd_counts_new_members(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SADD s a b c a", ":3");
    EXPECT("SADD s a d", ":1");
    EXPECT("SADD s ''", ":1");
    EXPECT("SCARD s", ":5");
    EXPECT("TYPE s", "+set");
    expect_members(fixture, "SMEMBERS s", "a b c d ''");
    EXPECT("SADD s", "-ERR wrong number of arguments for 'sadd' command");
}

static void test_srem_counts_and_deletes_an_emptied_set(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SREM nokey a", ":0");
    EXPECT("SADD s a b c", ":3");
    EXPECT("SREM s a a z", ":1");
    EXPECT("SCARD s", ":2");
    EXPECT("SREM s b c", ":2");
    EXPECT("EXISTS s", ":0");
    EXPECT("SCARD s", ":0");
}

static void test_membership_of_missing_keys_and_members(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SMEMBERS nokey", "*0");
    EXPECT("SISMEMBER nokey a", ":0");
    EXPECT("SMISMEMBER nokey a b", "*2 | :0 | :0");
    EXPECT("SCARD nokey", ":0");
    EXPECT("SADD s a b", ":2");
    EXPECT("SISMEMBER s a", ":1");
    EXPECT("SISMEMBER s z", ":0");
    EXPECT("SMISMEMBER s b z a", "*3 | :1 | :0 | :1");
}

/* ---- SPOP ---- */

static void test_spop_single_and_counted(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SPOP nokey", "(nil)");
    EXPECT("SPOP nokey 2", "*0");
    EXPECT("SADD s a", ":1");
    EXPECT("SPOP s 0", "*0");
    EXPECT("SPOP s", "\"a\"");
    EXPECT("EXISTS s", ":0");
    EXPECT("SADD s a b c d e", ":5");
    struct items items;
    split_items(run(fixture, "SPOP s 2"), &items);
    assert_int_equal(items.count, 3);
    assert_string_equal(items.item[0], "*2");
    assert_string_not_equal(items.item[1], items.item[2]);
    EXPECT("SCARD s", ":3");
    char line[64];
    snprintf(line, sizeof line, "SISMEMBER s %.*s", (int)strlen(items.item[1]) - 2,
             items.item[1] + 1);
    EXPECT(line, ":0");                             /* popped means removed */
    split_items(run(fixture, "SPOP s 10"), &items); /* the rest, and the key is gone */
    assert_int_equal(items.count, 4);
    EXPECT("EXISTS s", ":0");
}

static void test_spop_errors_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SADD s a", ":1");
    EXPECT("SPOP s 1 2", "-ERR syntax error");
    EXPECT("SPOP s -1", "-ERR value is out of range, must be positive");
    EXPECT("SPOP s x", "-ERR value is out of range, must be positive");
    EXPECT("SPOP s 9223372036854775808", "-ERR value is out of range, must be positive");
    EXPECT("SPOP nokey -1", "-ERR value is out of range, must be positive");
    EXPECT("SPOP s 9223372036854775807", "*1 | \"a\"");
}

static void test_spop_takes_distinct_members_of_a_big_set(void **state)
{
    struct fixture *fixture = *state;
    fill_set(fixture, "s", 0, 300);
    struct items items;
    split_items(run(fixture, "SPOP s 150"), &items);
    assert_int_equal(items.count, 151);
    for (size_t i = 1; i < items.count; i++) {
        assert_int_equal(count_item(&items, 1, items.item[i]), 1);
    }
    EXPECT("SCARD s", ":150");
    split_items(run(fixture, "SPOP s 149"), &items);
    assert_int_equal(items.count, 150);
    EXPECT("SCARD s", ":1");
}

/* Two replicas applying the same entries pop the same members. */
static void test_spop_pops_the_same_members_on_every_replica(void **state)
{
    struct fixture *fixture = *state;
    struct fixture *other = malloc(sizeof *other);
    assert_non_null(other);
    fixture_open(other, NULL);
    const char *script[] = {"SADD s a b c d e f g h i j k l m n o p",
                            "SPOP s",
                            "SPOP s 3",
                            "SPOP s",
                            "SPOP s 5",
                            "SMEMBERS s"};
    for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
        char mine[TRANSCRIPT_BYTES];
        snprintf(mine, sizeof mine, "%s", run(fixture, script[i]));
        assert_string_equal(run(other, script[i]), mine);
    }
    fixture_close(other);
    free(other);
}

/* ---- SRANDMEMBER ---- */

static void test_srandmember_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SRANDMEMBER nokey", "(nil)");
    EXPECT("SRANDMEMBER nokey 3", "*0");
    EXPECT("SRANDMEMBER nokey -3", "*0");
    EXPECT("SADD s a", ":1");
    EXPECT("SRANDMEMBER s", "\"a\"");
    EXPECT("SRANDMEMBER s 0", "*0");
    EXPECT("SRANDMEMBER s 5", "*1 | \"a\"");
    EXPECT("SRANDMEMBER s -3", "*3 | \"a\" | \"a\" | \"a\"");
    EXPECT("SRANDMEMBER s x", "-ERR value is not an integer or out of range");
    EXPECT("SRANDMEMBER s 1 2", "-ERR syntax error");
    EXPECT("SRANDMEMBER s -9223372036854775808",
           "-ERR value is out of range, value must between -9223372036854775807 and "
           "9223372036854775807");
    EXPECT("SRANDMEMBER s 9223372036854775807", "*1 | \"a\"");
    EXPECT("SRANDMEMBER s -1048577", "-ERR count would repeat more than 1048576 members");
    EXPECT("SCARD s", ":1"); /* a read: nothing removed */
}

static void test_srandmember_counts_on_a_big_set(void **state)
{
    struct fixture *fixture = *state;
    fill_set(fixture, "s", 0, 200);
    const char *lines[] = {"SRANDMEMBER s 10", "SRANDMEMBER s 50", "SRANDMEMBER s 120",
                           "SRANDMEMBER s 199"};
    const size_t expected[] = {10, 50, 120, 199};
    for (size_t t = 0; t < 4; t++) {
        struct items items;
        split_items(run(fixture, lines[t]), &items);
        assert_int_equal(items.count, 1 + expected[t]);
        for (size_t i = 1; i < items.count; i++) {
            assert_int_equal(count_item(&items, 1, items.item[i]), 1);
        }
    }
    struct items items;
    split_items(run(fixture, "SRANDMEMBER s -300"), &items);
    assert_int_equal(items.count, 301);
    split_items(run(fixture, "SRANDMEMBER s 1000"), &items);
    assert_int_equal(items.count, 201);
}

static void test_srandmember_reaches_every_member(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SADD s 0 1 2 3 4", ":5");
    bool seen[5] = {false};
    for (int i = 0; i < 500; i++) {
        const char *text = run(fixture, "SRANDMEMBER s");
        seen[text[1] - '0'] = true;
    }
    for (int i = 0; i < 5; i++) {
        assert_true(seen[i]);
    }
}

/* ---- SMOVE ---- */

static void test_smove_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET str x", "+OK");
    EXPECT("SMOVE nokey str a", ":0"); /* a missing source answers before the types */
    EXPECT("SMOVE str nokey a",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("SADD s a b c", ":3");
    EXPECT("SMOVE s str a", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("SMOVE s s a", ":1");
    EXPECT("SMOVE s s z", ":0");
    EXPECT("SMOVE s d z", ":0");
    EXPECT("EXISTS d", ":0");
    EXPECT("SMOVE s d a", ":1");
    expect_members(fixture, "SMEMBERS s", "b c");
    expect_members(fixture, "SMEMBERS d", "a");
    EXPECT("SADD d b", ":1");
    EXPECT("SMOVE s d b", ":1"); /* already in the destination: moved all the same */
    EXPECT("SCARD d", ":2");
    EXPECT("SMOVE s d c", ":1"); /* the last member: the source goes */
    EXPECT("EXISTS s", ":0");
    expect_members(fixture, "SMEMBERS d", "a b c");
    EXPECT("SCARD s", ":0");
}

static void test_smove_to_a_key_too_long_changes_nothing(void **state)
{
    struct fixture *fixture = *state;
    char line[2048];
    EXPECT("SADD s a", ":1");
    EXPECT(long_word_line(line, sizeof line, "SMOVE s ", 504, 'k', " a"),
           "-ERR key exceeds the maximum length of 503 bytes");
    EXPECT("SISMEMBER s a", ":1");
    EXPECT(long_word_line(line, sizeof line, "SMOVE s ", 503, 'k', " a"), ":1");
    EXPECT("EXISTS s", ":0");
    EXPECT(long_word_line(line, sizeof line, "SMOVE s ", 504, 'k', " a"), ":0");
}

/* ---- SINTER, SUNION, SDIFF ---- */

static void test_sinter_sunion_sdiff(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SADD a 1 2 3 4", ":4");
    EXPECT("SADD b 3 4 5", ":3");
    EXPECT("SADD c 4 5 6", ":3");
    expect_members(fixture, "SINTER a", "1 2 3 4");
    expect_members(fixture, "SINTER a b", "3 4");
    expect_members(fixture, "SINTER a b c", "4");
    expect_members(fixture, "SINTER a a", "1 2 3 4");
    EXPECT("SINTER a nokey", "*0");
    EXPECT("SINTER nokey a", "*0");
    expect_members(fixture, "SUNION a b c", "1 2 3 4 5 6");
    expect_members(fixture, "SUNION a nokey a", "1 2 3 4");
    EXPECT("SUNION nokey", "*0");
    expect_members(fixture, "SDIFF a b", "1 2");
    expect_members(fixture, "SDIFF a b c", "1 2");
    expect_members(fixture, "SDIFF c a", "5 6");
    expect_members(fixture, "SDIFF a nokey", "1 2 3 4");
    EXPECT("SDIFF a a", "*0");
    EXPECT("SDIFF nokey a", "*0");
    EXPECT("SINTER", "-ERR wrong number of arguments for 'sinter' command");
}

static void test_set_algebra_checks_every_key_type(void **state)
{
    struct fixture *fixture = *state;
    const char *wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    EXPECT("SET str x", "+OK");
    EXPECT("SADD a 1", ":1");
    EXPECT("SINTER nokey str", wrong); /* even after a missing key, as Redis */
    EXPECT("SUNION a str", wrong);
    EXPECT("SDIFF nokey str", wrong);
    EXPECT("SINTERSTORE d nokey str", wrong);
    EXPECT("SUNIONSTORE d a str", wrong);
    EXPECT("SDIFFSTORE str a", ":1"); /* a destination of another type is replaced */
    EXPECT("TYPE str", "+set");
    EXPECT("SINTERCARD 2 nokey a", ":0");
    EXPECT("SET str x", "+OK");
    EXPECT("SINTERCARD 2 nokey str", wrong);
    EXPECT("SDIFFSTORE a nokey str", wrong);
    EXPECT("SCARD a", ":1"); /* the failed store left its destination alone */
}

static void test_sunion_merges_overlapping_sets(void **state)
{
    struct fixture *fixture = *state;
    fill_set(fixture, "a", 0, 60);
    fill_set(fixture, "b", 30, 90);
    fill_set(fixture, "c", 80, 100);
    fill_set(fixture, "d", 0, 5);
    struct items items;
    split_items(run(fixture, "SUNION a b c d a"), &items);
    assert_int_equal(items.count, 101);
    for (size_t i = 1; i < items.count; i++) {
        assert_int_equal(count_item(&items, 1, items.item[i]), 1);
    }
    split_items(run(fixture, "SINTER b a"), &items);
    assert_int_equal(items.count, 31);
    split_items(run(fixture, "SDIFF a b d"), &items);
    assert_int_equal(items.count, 26);
    EXPECT("SUNIONSTORE u a b c d", ":100");
    EXPECT("SINTERSTORE i a b", ":30");
    EXPECT("SDIFFSTORE f a b d", ":25");
    EXPECT("SINTERCARD 2 a b", ":30");
}

/* ---- the STORE forms ---- */

static void test_stores_replace_the_destination(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SADD a 1 2 3", ":3");
    EXPECT("SADD b 2 3 4", ":3");
    EXPECT("SET d x EX 100", "+OK");
    EXPECT("SINTERSTORE d a b", ":2");
    expect_members(fixture, "SMEMBERS d", "2 3");
    EXPECT("TTL d", ":-1"); /* a new key: the old one's TTL went with it */
    EXPECT("SUNIONSTORE d a b", ":4");
    expect_members(fixture, "SMEMBERS d", "1 2 3 4");
    EXPECT("SDIFFSTORE d a b", ":1");
    expect_members(fixture, "SMEMBERS d", "1");
    EXPECT("SINTERSTORE d a nokey", ":0"); /* an empty result deletes the destination */
    EXPECT("EXISTS d", ":0");
    EXPECT("SUNIONSTORE d nokey", ":0");
    EXPECT("EXISTS d", ":0");
    EXPECT("SDIFFSTORE d a a", ":0");
    EXPECT("EXISTS d", ":0");
}

static void test_stores_read_a_destination_that_is_a_source(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SADD a 1 2 3", ":3");
    EXPECT("SADD b 2 3 4", ":3");
    EXPECT("SINTERSTORE a a b", ":2");
    expect_members(fixture, "SMEMBERS a", "2 3");
    EXPECT("SUNIONSTORE a b a", ":3");
    expect_members(fixture, "SMEMBERS a", "2 3 4");
    EXPECT("SDIFFSTORE b b a", ":0");
    EXPECT("EXISTS b", ":0");
    EXPECT("SUNIONSTORE a a", ":3");
    EXPECT("SDIFFSTORE a a a", ":0");
    EXPECT("EXISTS a", ":0");
}

/* A big destination that is also a source: its old items are freed a few hundred per entry
 * after this one, and none of the new set's members go with them. */
static void test_a_big_self_store_survives_the_trash_collector(void **state)
{
    struct fixture *fixture = *state;
    fill_set(fixture, "s", 0, 700);
    EXPECT("SUNIONSTORE s s", ":700");
    for (int i = 0; i < 5; i++) {
        EXPECT("SET other x", "+OK"); /* entries, each freeing part of the old items */
    }
    EXPECT("SCARD s", ":700");
    EXPECT("SISMEMBER s m699", ":1");
    EXPECT("SINTERCARD 1 s", ":700");
    struct items items;
    split_items(run(fixture, "SRANDMEMBER s -5"), &items);
    assert_int_equal(items.count, 6);
    EXPECT("SDIFFSTORE s s nokey", ":700");
    for (int i = 0; i < 5; i++) {
        EXPECT("SET other x", "+OK");
    }
    EXPECT("SINTERCARD 1 s", ":700");
}

static void test_store_destination_too_long(void **state)
{
    struct fixture *fixture = *state;
    char line[2048];
    EXPECT("SADD a 1", ":1");
    EXPECT(long_word_line(line, sizeof line, "SUNIONSTORE ", 504, 'k', " a"),
           "-ERR key exceeds the maximum length of 503 bytes");
    EXPECT(long_word_line(line, sizeof line, "SUNIONSTORE ", 503, 'k', " a"), ":1");
}

/* ---- SINTERCARD ---- */

static void test_sintercard_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SADD a 1 2 3 4", ":4");
    EXPECT("SADD b 2 3 4 5", ":4");
    EXPECT("SINTERCARD 2 a b", ":3");
    EXPECT("SINTERCARD 1 a", ":4");
    EXPECT("SINTERCARD 2 a b LIMIT 2", ":2");
    EXPECT("SINTERCARD 2 a b limit 0", ":3");
    EXPECT("SINTERCARD 2 a b LIMIT 10", ":3");
    EXPECT("SINTERCARD 2 a b LIMIT 1 LIMIT 0", ":3"); /* the last wins */
    EXPECT("SINTERCARD 2 a nokey", ":0");
    EXPECT("SINTERCARD 0 a", "-ERR numkeys should be greater than 0");
    EXPECT("SINTERCARD -1 a", "-ERR numkeys should be greater than 0");
    EXPECT("SINTERCARD x a", "-ERR numkeys should be greater than 0");
    EXPECT("SINTERCARD 3 a b", "-ERR Number of keys can't be greater than number of args");
    EXPECT("SINTERCARD 1 a LIMIT", "-ERR syntax error");
    EXPECT("SINTERCARD 1 a foo 1", "-ERR syntax error");
    EXPECT("SINTERCARD 1 a LIMIT -1", "-ERR LIMIT can't be negative");
    EXPECT("SINTERCARD 1 a LIMIT x", "-ERR LIMIT can't be negative");
    EXPECT("SINTERCARD 1 nokey LIMIT x", "-ERR LIMIT can't be negative");
}

/* ---- SSCAN ---- */

static uint64_t parse_scan(const char *text, struct items *items)
{
    split_items(text, items);
    assert_true(items->count >= 3);
    assert_string_equal(items->item[0], "*2");
    uint64_t cursor = strtoull(items->item[1] + 1, NULL, 10);
    size_t elements = strtoull(items->item[2] + 1, NULL, 10);
    assert_int_equal(items->count, 3 + elements);
    return cursor;
}

static void test_sscan_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SSCAN nokey 0", "*2 | \"0\" | *0");
    EXPECT("SSCAN nokey 0 COUNT 0", "*2 | \"0\" | *0");
    EXPECT("SSCAN nokey x", "-ERR invalid cursor");
    EXPECT("SADD s a", ":1");
    EXPECT("SSCAN s 0", "*2 | \"0\" | *1 | \"a\"");
    EXPECT("SSCAN s '' MATCH a", "*2 | \"0\" | *1 | \"a\"");
    EXPECT("SSCAN s 0 MATCH b", "*2 | \"0\" | *0");
    EXPECT("SSCAN s 0 COUNT 0", "-ERR syntax error");
    EXPECT("SSCAN s 0 COUNT x", "-ERR value is not an integer or out of range");
    EXPECT("SSCAN s 0 TYPE set", "-ERR syntax error");
    EXPECT("SSCAN s 0 MATCH", "-ERR syntax error");
    EXPECT("SSCAN s x", "-ERR invalid cursor");
}

static void test_sscan_visits_every_member_once(void **state)
{
    struct fixture *fixture = *state;
    fill_set(fixture, "s", 0, 250);
    static bool seen[250];
    memset(seen, 0, sizeof seen);
    uint64_t cursor = 0;
    do {
        char line[64];
        snprintf(line, sizeof line, "SSCAN s %llu COUNT 20", (unsigned long long)cursor);
        struct items items;
        cursor = parse_scan(run(fixture, line), &items);
        for (size_t i = 3; i < items.count; i++) {
            size_t n = strtoull(items.item[i] + 2, NULL, 10);
            assert_true(n < 250);
            assert_false(seen[n]);
            seen[n] = true;
        }
    } while (cursor != 0);
    for (size_t i = 0; i < 250; i++) {
        assert_true(seen[i]);
    }
}

/* ---- WRONGTYPE, expiry, limits ---- */

static void test_every_set_command_refuses_another_type(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSET h f v", ":1");
    const char *lines[] = {
        "SADD h a",        "SREM h a",         "SMEMBERS h",  "SISMEMBER h a", "SMISMEMBER h a",
        "SCARD h",         "SPOP h",           "SPOP h 2",    "SPOP h 0",      "SRANDMEMBER h",
        "SRANDMEMBER h 0", "SRANDMEMBER h -2", "SINTER h",    "SUNION h",      "SDIFF h",
        "SINTERCARD 1 h",  "SSCAN h 0",        "SMOVE h d a",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        assert_string_equal(run(fixture, lines[i]),
                            "-WRONGTYPE Operation against a key holding the wrong kind of value");
    }
    /* Argument errors come first, as in Redis. */
    EXPECT("SPOP h x", "-ERR value is out of range, must be positive");
    EXPECT("SRANDMEMBER h x", "-ERR value is not an integer or out of range");
    EXPECT("SSCAN h x", "-ERR invalid cursor");
    EXPECT("HGET h f", "\"v\"");
}

static void test_an_expired_set_is_absent_and_replaced(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SADD s a b", ":2");
    EXPECT("SADD t b c", ":2");
    EXPECT("PEXPIRE s 100", ":1");
    advance(99);
    EXPECT("SCARD s", ":2");
    advance(1);
    EXPECT("SCARD s", ":0");
    EXPECT("SMEMBERS s", "*0");
    EXPECT("SISMEMBER s a", ":0");
    EXPECT("SRANDMEMBER s", "(nil)");
    EXPECT("SINTER t s", "*0");
    expect_members(fixture, "SUNION s t", "b c");
    EXPECT("SSCAN s 0", "*2 | \"0\" | *0");
    EXPECT("SMOVE s t a", ":0");
    EXPECT("SPOP s", "(nil)");
    EXPECT("SADD s z", ":1");
    expect_members(fixture, "SMEMBERS s", "z");
    EXPECT("TTL s", ":-1");
}

static void test_members_up_to_494_bytes(void **state)
{
    struct fixture *fixture = *state;
    char line[2048];
    char expected[2048];
    const char *too_long = "-ERR member exceeds the maximum length of 494 bytes";
    EXPECT(long_word_line(line, sizeof line, "SADD s ", 494, 'm', ""), ":1");
    EXPECT(long_word_line(line, sizeof line, "SADD s a ", 495, 'm', ""), too_long);
    EXPECT("SISMEMBER s a", ":0"); /* the failed SADD added nothing */
    EXPECT(long_word_line(line, sizeof line, "SISMEMBER s ", 494, 'm', ""), ":1");
    EXPECT(long_word_line(line, sizeof line, "SISMEMBER s ", 495, 'm', ""), ":0");
    EXPECT(long_word_line(line, sizeof line, "SREM s ", 495, 'm', ""), ":0");
    EXPECT(long_word_line(line, sizeof line, "SMOVE s d ", 495, 'm', ""), ":0");
    long_word_line(expected, sizeof expected, "*1 | \"", 494, 'm', "\"");
    EXPECT("SMEMBERS s", expected);
    EXPECT("SUNIONSTORE d s", ":1");
    EXPECT(long_word_line(line, sizeof line, "SMOVE s d ", 494, 'm', ""), ":1");
    long_word_line(expected, sizeof expected, "\"", 494, 'm', "\"");
    EXPECT("SPOP d", expected);
    EXPECT(long_word_line(line, sizeof line, "SADD ", 504, 'k', " a"),
           "-ERR key exceeds the maximum length of 503 bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)
        TEST(test_sadd_counts_new_members),
        TEST(test_srem_counts_and_deletes_an_emptied_set),
        TEST(test_membership_of_missing_keys_and_members),
        TEST(test_spop_single_and_counted),
        TEST(test_spop_errors_as_redis),
        TEST(test_spop_takes_distinct_members_of_a_big_set),
        TEST(test_spop_pops_the_same_members_on_every_replica),
        TEST(test_srandmember_as_redis),
        TEST(test_srandmember_counts_on_a_big_set),
        TEST(test_srandmember_reaches_every_member),
        TEST(test_smove_as_redis),
        TEST(test_smove_to_a_key_too_long_changes_nothing),
        TEST(test_sinter_sunion_sdiff),
        TEST(test_set_algebra_checks_every_key_type),
        TEST(test_sunion_merges_overlapping_sets),
        TEST(test_stores_replace_the_destination),
        TEST(test_stores_read_a_destination_that_is_a_source),
        TEST(test_a_big_self_store_survives_the_trash_collector),
        TEST(test_store_destination_too_long),
        TEST(test_sintercard_as_redis),
        TEST(test_sscan_as_redis),
        TEST(test_sscan_visits_every_member_once),
        TEST(test_every_set_command_refuses_another_type),
        TEST(test_an_expired_set_is_absent_and_replaced),
        TEST(test_members_up_to_494_bytes),
#undef TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
