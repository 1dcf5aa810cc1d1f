/*
 * test_kv_transaction.c — MULTI/EXEC's entry inside the state machine: `raft.exec` runs its
 * commands in order in one transaction and replies each (errors included, the others still
 * applied); blocking commands inside do not wait; the read-only form refuses a write; a shape
 * the server would never build is a syntax error; internal commands are refused inside.
 * WATCH: a key's token (kv_watch_token) still holds exactly when no write changed the key —
 * every kind of write that changes a key moves its version, and writes that change nothing
 * do not — and an EXEC whose token no longer holds runs nothing and replies a null array.
 */
#include "test_kv_support.c"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

static void test_exec_runs_every_command_in_order(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.exec 3 SET a 1 2 INCR a 2 GET a", "*3 | +OK | :2 | \"2\"");
    EXPECT("SET s text", "+OK");
    EXPECT("raft.exec 2 INCR s 3 SET t 2 2 GET t",
           "*3 | -ERR value is not an integer or out of range | +OK | \"2\"");
    EXPECT("GET t", "\"2\"");
}

static void test_blocking_commands_inside_do_not_wait(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.exec 3 BLPOP q 0 6 BLMOVE q d LEFT RIGHT 0 3 RPUSH q a",
           "*3 | (nil-array) | (nil) | :1");
    EXPECT("raft.exec 3 BLPOP q 0", "*1 | *2 | \"q\" | \"a\"");
}

static void test_read_only_form_and_malformed_shapes(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1", "+OK");
    EXPECT("raft.exec.ro 2 GET a 2 EXISTS a", "*2 | \"1\" | :1");
    EXPECT("raft.exec.ro 3 SET a 2", "*1 | -ERR a write inside a read-only transaction");
    EXPECT("GET a", "\"1\"");
    EXPECT("raft.exec 5 GET a", "-ERR syntax error");
    EXPECT("raft.exec 0 GET a", "-ERR syntax error");
    EXPECT("raft.exec 2 GET a x", "-ERR syntax error");
    EXPECT("raft.exec 3 raft.expire 1 a",
           "*1 | -ERR unknown command 'raft.expire', with args beginning with: '1' 'a' ");
    EXPECT("raft.exec 1 GET", "*1 | -ERR wrong number of arguments for 'get' command");
}

/* The token of key k now, and an EXEC watching it with that token: "*1 | ..." when it still
 * holds, "(nil-array)" when the key changed. */
static const char *exec_watching(struct fixture *fixture, const char *token)
{
    static char line[128];
    snprintf(line, sizeof line, "raft.exec watch 1 k %s 2 EXISTS k", token);
    return run(fixture, line);
}

static void take_token(struct fixture *fixture, char token[KV_WATCH_TOKEN_BYTES])
{
    size_t bytes;
    struct kv_arg key = {.data = (const uint8_t *)"k", .data_bytes = 1};
    assert_int_equal(kv_watch_token(fixture->kv, &key, test_clock_ms, token, &bytes), 0);
    token[bytes] = '\0';
}

struct watch_case {
    const char *setup; /* "|"-separated commands, on a key k that does not exist */
    const char *change;
    bool changes;
};

static const struct watch_case watch_cases[] = {
    {"SET k 1", "SET k 1", true},
    {"SET k 1", "GET k", false},
    {"SET k 1", "SETNX k 2", false},
    {"SET k 1", "SET k 2 NX", false},
    {"SET k 1", "APPEND k x", true},
    {"SET k 1", "INCR k", true},
    {"SET k 1", "SETRANGE k 0 z", true},
    {"SET k 1", "SETBIT k 1 1", true},
    {"SET k 1", "EXPIRE k 100", true},
    {"SET k 1", "PERSIST k", false},
    {"SET k 1 EX 100", "PERSIST k", true},
    {"SET k 1 EX 100", "EXPIRE k 200 NX", false},
    {"SET k 1", "GETEX k EX 100", true},
    {"SET k 1", "GETDEL k", true},
    {"SET k 1", "DEL k", true},
    {"SET k 1", "DEL other", false},
    {"SET k 1", "LPUSH k a", false},
    {"SET other 1", "RENAME other k", true},
    {"SET k 1", "RENAME k other", true},
    {"SET k 1", "COPY k other", false},
    {"SET other 1", "COPY other k", true},
    {"SET k 1", "FLUSHALL", true},
    {"", "SET k 1", true},
    {"", "DEL k", false},
    {"", "LPUSHX k a", false},
    {"HSET k f 1", "HSET k f 1", true},
    {"HSET k f 1", "HSETNX k f 2", false},
    {"HSET k f 1", "HINCRBY k f 1", true},
    {"HSET k f 1", "HINCRBYFLOAT k f 1.5", true},
    {"HSET k f 1", "HDEL k g", false},
    {"HSET k f 1|HSET k g 2", "HDEL k g", true},
    {"HSET k f 1", "HDEL k f", true},
    {"RPUSH k a b", "LSET k 0 z", true},
    {"RPUSH k a b", "LINSERT k BEFORE b c", true},
    {"RPUSH k a b", "LINSERT k BEFORE nope c", false},
    {"RPUSH k a b", "LREM k 0 nope", false},
    {"RPUSH k a b", "LREM k 0 a", true},
    {"RPUSH k a b", "LTRIM k 0 -1", false},
    {"RPUSH k a b", "LTRIM k 0 0", true},
    {"RPUSH k a b", "RPOPLPUSH k k", true},
    {"RPUSH k a b", "LPOP k", true},
    {"RPUSH k a", "BLPOP k 0", true},
    {"SADD k a", "SADD k a", false},
    {"SADD k a", "SADD k b", true},
    {"SADD k a", "SREM k b", false},
    {"SADD k a b", "SREM k b", true},
    {"SADD k a b", "SPOP k", true},
    {"SADD k a b", "SMOVE k other a", true},
    {"SADD other a", "SMOVE other k a", true},
    {"SADD other a", "SINTERSTORE k other", true},
    {"ZADD k 1 a", "ZADD k 1 a", false},
    {"ZADD k 1 a", "ZADD k 2 a", true},
    {"ZADD k 1 a", "ZADD k NX 2 a", false},
    {"ZADD k 1 a", "ZINCRBY k 1 a", true},
    {"ZADD k 1 a", "ZREM k b", false},
    {"ZADD k 1 a 2 b", "ZREM k b", true},
    {"ZADD k 1 a 2 b", "ZPOPMIN k", true},
    {"ZADD k 1 a 2 b", "ZREMRANGEBYSCORE k 5 6", false},
    {"ZADD k 1 a 2 b", "ZREMRANGEBYSCORE k 2 6", true},
};

static void run_setup(struct fixture *fixture, const char *setup)
{
    char commands[128];
    snprintf(commands, sizeof commands, "%s", setup);
    for (char *save = NULL, *one = strtok_r(commands, "|", &save); one != NULL;
         one = strtok_r(NULL, "|", &save)) {
        run(fixture, one);
    }
}

static void test_watch_sees_every_change_and_only_changes(void **state)
{
    struct fixture *fixture = *state;
    for (size_t i = 0; i < sizeof watch_cases / sizeof watch_cases[0]; i++) {
        const struct watch_case *c = &watch_cases[i];
        run(fixture, "FLUSHALL");
        run_setup(fixture, c->setup);
        char token[KV_WATCH_TOKEN_BYTES];
        take_token(fixture, token);
        run(fixture, c->change);
        const char *reply = exec_watching(fixture, token);
        if (c->changes ? strcmp(reply, "(nil-array)") != 0 : strncmp(reply, "*1 | ", 5) != 0) {
            fail_msg("after \"%s\", \"%s\" should %s the key (token %s): EXEC replied %s", c->setup,
                     c->change, c->changes ? "change" : "not change", token, reply);
        }
    }
}

static void test_watch_judges_expiry_as_redis(void **state)
{
    struct fixture *fixture = *state;
    char token[KV_WATCH_TOKEN_BYTES];
    /* A key that expires between WATCH and EXEC changed... */
    EXPECT("SET k 1 PX 100", "+OK");
    take_token(fixture, token);
    assert_int_equal(token[0], 'l');
    test_clock_ms += 200;
    assert_string_equal(exec_watching(fixture, token), "(nil-array)");
    /* ...one already expired when watched did not, even once deleted... */
    EXPECT("SET k 1 PX 100", "+OK");
    test_clock_ms += 200;
    take_token(fixture, token);
    assert_int_equal(token[0], 'e');
    assert_string_equal(exec_watching(fixture, token), "*1 | :0");
    EXPECT("DEL k", ":0");
    assert_string_equal(exec_watching(fixture, token), "*1 | :0");
    /* ...but a new value under it did. */
    EXPECT("SET k 1 PX 100", "+OK");
    test_clock_ms += 200;
    take_token(fixture, token);
    EXPECT("SET k 2", "+OK");
    assert_string_equal(exec_watching(fixture, token), "(nil-array)");
}

static void test_watch_lists_and_their_shapes(void **state)
{
    struct fixture *fixture = *state;
    char token[KV_WATCH_TOKEN_BYTES];
    EXPECT("SET k 1", "+OK");
    take_token(fixture, token);
    char line[128];
    /* Nothing queued but a watch: an empty array, or the null array. */
    snprintf(line, sizeof line, "raft.exec.ro watch 1 k %s", token);
    EXPECT(line, "*0");
    snprintf(line, sizeof line, "raft.exec watch 2 k %s other a 2 INCR k", token);
    EXPECT(line, "*1 | :2");
    EXPECT(line, "(nil-array)"); /* k changed: the INCR itself did */
    EXPECT("GET k", "\"2\"");
    EXPECT("raft.exec watch 1 k", "-ERR syntax error");
    EXPECT("raft.exec watch 0 2 GET k", "-ERR syntax error");
    EXPECT("raft.exec watch 1 k x7 2 GET k", "-ERR syntax error");
    EXPECT("raft.exec watch 1 k l-1 2 GET k", "-ERR syntax error");
    EXPECT("raft.exec watch 1 k l 2 GET k", "-ERR syntax error");
    EXPECT("raft.exec watch 1 k a 5 GET k", "-ERR syntax error");
    /* PING and ECHO, the server's outside a transaction, run inside one. */
    EXPECT("raft.exec 1 PING 2 PING x 2 ECHO y 3 PING a b",
           "*4 | +PONG | \"x\" | \"y\" | -ERR wrong number of arguments for 'ping' command");
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_exec_runs_every_command_in_order),
        FIXTURE_TEST(test_blocking_commands_inside_do_not_wait),
        FIXTURE_TEST(test_read_only_form_and_malformed_shapes),
        FIXTURE_TEST(test_watch_sees_every_change_and_only_changes),
        FIXTURE_TEST(test_watch_judges_expiry_as_redis),
        FIXTURE_TEST(test_watch_lists_and_their_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
