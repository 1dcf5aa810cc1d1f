/*
 * test_kv_blocking.c — the blocking commands inside the state machine: with something to take
 * they reply as their non-blocking forms do; with nothing they reply `blocked` (the host parks
 * them); their timeouts and syntax are Redis's; kv_blocking_wait finds their keys and timeout;
 * kv_take_signals names the keys whose lists and sorted sets got members.
 */
#include "test_kv_support.c"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

static void test_blpop_brpop_take_or_block(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("BLPOP empty 0", "(blocked)");
    EXPECT("RPUSH q a b c", ":3");
    EXPECT("BLPOP empty q 0", "*2 | \"q\" | \"a\"");
    EXPECT("BRPOP q 1.5", "*2 | \"q\" | \"c\"");
    EXPECT("SET s x", "+OK");
    EXPECT("BLPOP s q 0", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("BLPOP q abc", "-ERR timeout is not a float or out of range");
    EXPECT("BLPOP q -1", "-ERR timeout is negative");
    EXPECT("BLPOP q 1e300", "-ERR timeout is out of range");
    EXPECT("LLEN q", ":1");
}

static void test_blmove_and_brpoplpush(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("BLMOVE src dst LEFT RIGHT 0", "(blocked)");
    EXPECT("BLMOVE src dst UP RIGHT 0", "-ERR syntax error");
    EXPECT("RPUSH src 1 2", ":2");
    EXPECT("BLMOVE src dst LEFT RIGHT 0", "\"1\"");
    EXPECT("BRPOPLPUSH src dst 0", "\"2\"");
    EXPECT("LRANGE dst 0 -1", "*2 | \"2\" | \"1\"");
    EXPECT("BRPOPLPUSH src dst 0", "(blocked)");
}

static void test_blmpop_and_bzmpop_parse_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("BLMPOP 0 0 k LEFT", "-ERR numkeys should be greater than 0");
    EXPECT("BLMPOP 0 2 k LEFT", "-ERR syntax error");
    EXPECT("BLMPOP 0 1 k UP", "-ERR syntax error");
    EXPECT("BLMPOP 0 1 k LEFT COUNT 0", "-ERR count should be greater than 0");
    EXPECT("BLMPOP x 1 k LEFT", "-ERR timeout is not a float or out of range");
    EXPECT("BLMPOP 0 1 k LEFT COUNT 2", "(blocked)");
    EXPECT("RPUSH k a b c", ":3");
    EXPECT("BLMPOP 0 2 none k RIGHT COUNT 2", "*2 | \"k\" | *2 | \"c\" | \"b\"");
    EXPECT("BZMPOP 0 1 z MIN", "(blocked)");
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("BZMPOP 0 1 z MAX COUNT 2", "*2 | \"z\" | *2 | *2 | \"c\" | ,3 | *2 | \"b\" | ,2");
    EXPECT("BZPOPMIN none z 0", "*3 | \"z\" | \"a\" | ,1");
    EXPECT("BZPOPMAX z 0", "(blocked)");
}

static void test_blocking_wait_finds_keys_and_timeout(void **state)
{
    (void)state;
    struct {
        const char *line;
        size_t first, count;
        uint64_t timeout_ms;
    } cases[] = {
        {"BLPOP a b 1.5", 1, 2, 1500},
        {"BRPOP a 0", 1, 1, 0},
        {"BLMOVE s d LEFT RIGHT 2", 1, 1, 2000},
        {"BRPOPLPUSH s d 0.001", 1, 1, 1},
        {"BLMPOP 3 2 a b LEFT COUNT 2", 3, 2, 3000},
        {"BZPOPMIN a b c 0", 1, 3, 0},
        {"BZMPOP 0.5 1 z MAX", 3, 1, 500},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char storage[256];
        struct kv_arg argv[16];
        size_t argc = split_words(cases[i].line, storage, sizeof storage, argv, 16);
        size_t first = 0, count = 0;
        uint64_t timeout_ms = 99;
        assert_true(kv_blocking_wait(argc, argv, &first, &count, &timeout_ms));
        assert_int_equal(first, cases[i].first);
        assert_int_equal(count, cases[i].count);
        assert_int_equal(timeout_ms, cases[i].timeout_ms);
    }
    char storage[64];
    struct kv_arg argv[8];
    size_t argc = split_words("LPOP a", storage, sizeof storage, argv, 8);
    size_t first, count;
    uint64_t timeout_ms;
    assert_false(kv_blocking_wait(argc, argv, &first, &count, &timeout_ms));
}

struct signals {
    char keys[512];
    size_t used;
    int all;
};

static void collect_signal(void *context, const uint8_t *key, size_t key_bytes)
{
    struct signals *signals = context;
    if (key == NULL) {
        signals->all++;
        return;
    }
    signals->used +=
        (size_t)snprintf(signals->keys + signals->used, sizeof signals->keys - signals->used,
                         "%.*s ", (int)key_bytes, (const char *)key);
}

static void test_signals_name_keys_that_got_members(void **state)
{
    struct fixture *fixture = *state;
    struct signals signals = {0};
    kv_take_signals(fixture->kv, collect_signal, &signals); /* forget the fixture's past */
    signals.used = 0;
    signals.keys[0] = '\0';
    EXPECT("SET str x", "+OK");
    EXPECT("HSET h f v", ":1");
    EXPECT("RPUSH list a", ":1");
    EXPECT("ZADD zs 1 m", ":1");
    kv_take_signals(fixture->kv, collect_signal, &signals);
    assert_string_equal(signals.keys, "list zs ");
    assert_int_equal(signals.all, 0);
    signals.used = 0;
    signals.keys[0] = '\0';
    kv_take_signals(fixture->kv, collect_signal, &signals);
    assert_string_equal(signals.keys, ""); /* taken once */
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_blpop_brpop_take_or_block),
        FIXTURE_TEST(test_blmove_and_brpoplpush),
        FIXTURE_TEST(test_blmpop_and_bzmpop_parse_as_redis),
        cmocka_unit_test(test_blocking_wait_finds_keys_and_timeout),
        FIXTURE_TEST(test_signals_name_keys_that_got_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
