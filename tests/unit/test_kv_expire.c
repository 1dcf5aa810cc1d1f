/*
 * test_kv_expire.c — time to live over the replicated clock: SET's expiry options, EXPIRE and
 * its conditions, TTL and friends, PERSIST, GETEX, SETEX; keys past their deadline hidden from
 * reads at once and deleted by writes, and by the active-expiry entry only when still due;
 * the clock that never goes backwards and survives a reopen and a snapshot. Times move with
 * test_clock_ms, the stamp every entry of the fixture carries.
 */
#include "test_kv_support.c"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

static void advance(uint64_t ms)
{
    test_clock_ms += ms;
}

static void test_set_ex_expires_for_reads_at_once(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k v EX 10", "+OK");
    EXPECT("TTL k", ":10");
    EXPECT("PTTL k", ":10000");
    advance(9999);
    EXPECT("GET k", "\"v\"");
    EXPECT("PTTL k", ":1");
    advance(1);
    EXPECT("GET k", "(nil)");
    EXPECT("TTL k", ":-2");
    EXPECT("EXISTS k", ":0");
    EXPECT("TYPE k", "+none");
    EXPECT("KEYS *", "*0");
    uint64_t keys, expires;
    assert_int_equal(kv_key_counts(fixture->kv, &keys, &expires), 0);
    assert_int_equal(keys, 1); /* hidden, not deleted: only an entry deletes */
    assert_int_equal(expires, 1);
    EXPECT("SET other 1", "+OK");
    EXPECT("DEL k", ":0"); /* the write deletes it, and counts it as not there */
    assert_int_equal(kv_key_counts(fixture->kv, &keys, &expires), 0);
    assert_int_equal(keys, 1);
    assert_int_equal(expires, 0);
}

static void test_set_options_px_exat_pxat_keepttl(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k v PX 1500", "+OK");
    EXPECT("TTL k", ":2"); /* rounded to the nearest second, as Redis */
    EXPECT("SET k v2 KEEPTTL", "+OK");
    EXPECT("PTTL k", ":1500");
    EXPECT("SET k v3", "+OK");
    EXPECT("TTL k", ":-1");
    char line[128];
    snprintf(line, sizeof line, "SET k v EXAT %llu",
             (unsigned long long)(test_clock_ms / 1000 + 100));
    EXPECT(line, "+OK");
    snprintf(line, sizeof line, "PEXPIRETIME k");
    char expected[64];
    snprintf(expected, sizeof expected, ":%llu",
             (unsigned long long)((test_clock_ms / 1000 + 100) * 1000));
    EXPECT(line, expected);
    snprintf(line, sizeof line, "SET k v PXAT %llu GET", (unsigned long long)(test_clock_ms - 1));
    EXPECT(line, "\"v\""); /* a deadline in the past: set, replied, and gone */
    EXPECT("EXISTS k", ":0");
}

static void test_expire_conditions_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("EXPIRE missing 10", ":0");
    EXPECT("SET k v", "+OK");
    EXPECT("EXPIRE k 10 XX", ":0");
    EXPECT("EXPIRE k 10 GT", ":0"); /* no TTL counts as infinite */
    EXPECT("EXPIRE k 10 LT", ":1");
    EXPECT("EXPIRE k 20 NX", ":0");
    EXPECT("EXPIRE k 20 LT", ":0");
    EXPECT("EXPIRE k 20 GT", ":1");
    EXPECT("TTL k", ":20");
    EXPECT("EXPIRE k 5 XX", ":1");
    EXPECT("EXPIRE k 5 NX XX",
           "-ERR NX and XX, GT or LT options at the same time are not compatible");
    EXPECT("EXPIRE k 5 GT LT", "-ERR GT and LT options at the same time are not compatible");
    EXPECT("EXPIRE k 5 SOON", "-ERR Unsupported option SOON");
    EXPECT("EXPIRE k five", "-ERR value is not an integer or out of range");
    EXPECT("EXPIRE k 9223372036854775807", "-ERR invalid expire time in 'expire' command");
    EXPECT("PEXPIRE k 9223372036854775807", "-ERR invalid expire time in 'pexpire' command");
    EXPECT("TTL k", ":5");
    EXPECT("PERSIST k", ":1");
    EXPECT("PERSIST k", ":0");
    EXPECT("TTL k", ":-1");
    EXPECT("EXPIRETIME k", ":-1");
    EXPECT("EXPIRE k -1", ":1"); /* a time in the past deletes */
    EXPECT("EXISTS k", ":0");
    EXPECT("EXPIRETIME k", ":-2");
}

static void test_expireat_and_pexpireat(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k v", "+OK");
    char line[128];
    char expected[64];
    snprintf(line, sizeof line, "PEXPIREAT k %llu", (unsigned long long)(test_clock_ms + 2500));
    EXPECT(line, ":1");
    snprintf(expected, sizeof expected, ":%llu",
             (unsigned long long)((test_clock_ms + 2500 + 500) / 1000) /* rounded */);
    EXPECT("EXPIRETIME k", expected);
    snprintf(line, sizeof line, "EXPIREAT k %llu", (unsigned long long)(test_clock_ms / 1000 - 1));
    EXPECT(line, ":1");
    EXPECT("GET k", "(nil)");
}

static void test_writes_keep_or_clear_the_ttl_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET n 1 EX 100", "+OK");
    EXPECT("INCR n", ":2");
    EXPECT("TTL n", ":100");
    EXPECT("APPEND n 0", ":2");
    EXPECT("TTL n", ":100");
    EXPECT("SETRANGE n 0 3", ":2");
    EXPECT("TTL n", ":100");
    EXPECT("GETSET n 5", "\"30\"");
    EXPECT("TTL n", ":-1");
    EXPECT("SET n 1 EX 100", "+OK");
    EXPECT("MSET n 2", "+OK");
    EXPECT("TTL n", ":-1");
}

static void test_getex_setex_psetex(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SETEX k 0 v", "-ERR invalid expire time in 'setex' command");
    EXPECT("PSETEX k -1 v", "-ERR invalid expire time in 'psetex' command");
    EXPECT("SETEX k 10 v", "+OK");
    EXPECT("TTL k", ":10");
    EXPECT("PSETEX k 2000 w", "+OK");
    EXPECT("PTTL k", ":2000");
    EXPECT("GETEX k", "\"w\"");
    EXPECT("PTTL k", ":2000");
    EXPECT("GETEX k EX 50", "\"w\"");
    EXPECT("TTL k", ":50");
    EXPECT("GETEX k PERSIST", "\"w\"");
    EXPECT("TTL k", ":-1");
    EXPECT("GETEX k EX 0", "-ERR invalid expire time in 'getex' command");
    EXPECT("GETEX k EX 5 PERSIST", "-ERR syntax error");
    EXPECT("GETEX k EX 5 PX 5", "-ERR syntax error");
    EXPECT("GETEX k EX bad EX 60", "\"w\""); /* the same option again: the last one wins */
    EXPECT("TTL k", ":60");
    EXPECT("GETEX k PERSIST PERSIST", "\"w\"");
    EXPECT("GETEX missing EX 5", "(nil)");
    EXPECT("GETEX missing EX abc", "(nil)"); /* the key first, then the time, as Redis */
}

static void test_clock_never_goes_backwards_and_survives_reopen(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k v PX 1000", "+OK");
    uint64_t clock = kv_clock_ms(fixture->kv);
    assert_int_equal(clock, test_clock_ms);
    test_clock_ms -= 60000; /* a new leader whose stamps lag: the clock stays */
    EXPECT("SET other v", "+OK");
    assert_int_equal(kv_clock_ms(fixture->kv), clock);
    EXPECT("PTTL k", ":1000"); /* reads never use a time below the replicated clock */
    test_clock_ms += 60000;
    fixture_reopen(fixture);
    assert_int_equal(kv_clock_ms(fixture->kv), clock);
    EXPECT("PTTL k", ":1000");
}

struct collected {
    char keys[8][32];
    uint64_t deadlines[8];
    size_t count;
};

static void collect(void *context, const uint8_t *key, size_t key_bytes, uint64_t deadline_ms)
{
    struct collected *collected = context;
    assert_true(collected->count < 8 && key_bytes < 32);
    memcpy(collected->keys[collected->count], key, key_bytes);
    collected->keys[collected->count][key_bytes] = '\0';
    collected->deadlines[collected->count++] = deadline_ms;
}

static void test_active_expiry_deletes_only_what_is_still_due(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1 PX 100", "+OK");
    EXPECT("SET b 1 PX 200", "+OK");
    EXPECT("SET c 1 PX 5000", "+OK");
    EXPECT("SET d 1", "+OK");
    struct collected collected = {0};
    assert_int_equal(kv_expired_keys(fixture->kv, test_clock_ms + 300, 8, collect, &collected), 0);
    assert_int_equal(collected.count, 2);
    assert_string_equal(collected.keys[0], "a"); /* earliest first */
    assert_string_equal(collected.keys[1], "b");
    EXPECT("PERSIST b", ":1"); /* lands before the expiry entry: it wins */
    advance(300);
    char line[160];
    snprintf(line, sizeof line, "raft.expire %llu a %llu b",
             (unsigned long long)collected.deadlines[0],
             (unsigned long long)collected.deadlines[1]);
    EXPECT(line, ":1");
    EXPECT("EXISTS a b c d", ":3");
    uint64_t keys, expires;
    assert_int_equal(kv_key_counts(fixture->kv, &keys, &expires), 0);
    assert_int_equal(keys, 3);
    assert_int_equal(expires, 1);
    /* An entry proposed early (its stamp before c's deadline) deletes nothing. */
    snprintf(line, sizeof line, "raft.expire %llu c", (unsigned long long)(test_clock_ms + 4700));
    EXPECT(line, ":0");
    EXPECT("EXISTS c", ":1");
    collected.count = 0;
    assert_int_equal(kv_expired_keys(fixture->kv, test_clock_ms + 10000, 8, collect, &collected),
                     0);
    assert_int_equal(collected.count, 1);
}

static void test_expiry_survives_a_snapshot(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k v EX 100", "+OK");
    char path[320];
    snprintf(path, sizeof path, "%s.snapshot", fixture->directory);
    uint64_t index, term;
    assert_int_equal(kv_snapshot_export(fixture->kv, path, &index, &term), 0);
    struct fixture *other = malloc(sizeof *other);
    assert_non_null(other);
    fixture_open(other, NULL);
    assert_int_equal(kv_snapshot_import(other->kv, path, &index, &term), 0);
    assert_int_equal(kv_clock_ms(other->kv), kv_clock_ms(fixture->kv));
    assert_string_equal(run(other, "TTL k"), ":100");
    fixture_close(other);
    free(other);
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_set_ex_expires_for_reads_at_once),
        FIXTURE_TEST(test_set_options_px_exat_pxat_keepttl),
        FIXTURE_TEST(test_expire_conditions_as_redis),
        FIXTURE_TEST(test_expireat_and_pexpireat),
        FIXTURE_TEST(test_writes_keep_or_clear_the_ttl_as_redis),
        FIXTURE_TEST(test_getex_setex_psetex),
        FIXTURE_TEST(test_clock_never_goes_backwards_and_survives_reopen),
        FIXTURE_TEST(test_active_expiry_deletes_only_what_is_still_due),
        FIXTURE_TEST(test_expiry_survives_a_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
