/*
 * test_kv_script.c — Lua scripting inside the state machine: conversions both ways,
 * redis.call's and the script's errors, the sandbox, EVALSHA after EVAL and after SCRIPT
 * LOAD, scripts and functions surviving a reopen and a snapshot, the instruction budget and the
 * memory cap stopping a script with an error while the kv stays usable, and determinism: two
 * replicas applying the same entries (TIME, math.random, SRANDMEMBER, tostring of a table)
 * end with the same data.
 */
#include <time.h>

#include "test_kv_support.c"

#define MAX_WORDS 32

static size_t words_to_argv(const char *const *words, struct kv_arg *argv)
{
    size_t argc = 0;
    for (; words[argc] != NULL; argc++) {
        assert_true(argc < MAX_WORDS);
        argv[argc].data = (const uint8_t *)words[argc];
        argv[argc].data_bytes = strlen(words[argc]);
    }
    return argc;
}

static const char *run_words(struct fixture *fixture, const char *const *words)
{
    struct kv_arg argv[MAX_WORDS];
    size_t argc = words_to_argv(words, argv);
    return run_argv(fixture, argc, argv);
}

/* RUN("EVAL", "return 1", "0"): one command, each argument as given (spaces included). */
#define RUN(...)              run_words(fixture, (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_RUN(text, ...) assert_string_equal(RUN(__VA_ARGS__), text)
#define EXPECT(line, text)    assert_string_equal(run(fixture, line), text)

static bool starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

static void test_lua_values_become_replies(void **state)
{
    struct fixture *fixture = *state;
    EXPECT_RUN(":3", "EVAL", "return 3.99", "0");
    EXPECT_RUN(":-3", "EVAL", "return -3.99", "0");
    EXPECT_RUN("*5 | :1 | \"x\" | :1 | (nil) | :3", "EVAL", "return {1, 'x', true, false, 3.7}",
               "0");
    EXPECT_RUN("*2 | :1 | :2", "EVAL", "return {1, 2, nil, 4}", "0");
    EXPECT_RUN("+fine", "EVAL", "return {ok = 'fine'}", "0");
    EXPECT_RUN("-bad thing", "EVAL", "return {err = 'bad thing'}", "0");
    EXPECT_RUN("-ERR boom", "EVAL", "return redis.error_reply('boom')", "0");
    EXPECT_RUN("(nil)", "EVAL", "return nil", "0");
    EXPECT_RUN(":-9223372036854775808", "EVAL", "return 1e300", "0");
    EXPECT_RUN(",1.5", "EVAL", "return {double = 1.5}", "0");
    EXPECT_RUN("*3 | \"k\" | \"a\" | \"b\"", "EVAL", "return {KEYS[1], ARGV[1], ARGV[2]}", "1", "k",
               "a", "b");
    /* CR/LF inside an error or status would break the reply line: they become spaces. */
    EXPECT_RUN("-two lines", "EVAL", "return {err = 'two\\nlines'}", "0");
}

static void test_command_replies_become_lua_values(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k v", "+OK");
    EXPECT_RUN("*5 | \"v\" | \"false\" | \"OK\" | \"number\" | \"table\"", "EVAL",
               "return {redis.call('get', 'k'), tostring(redis.call('get', 'none')), "
               "redis.call('set', 'k', 'w').ok, type(redis.call('incr', 'c')), "
               "type(redis.call('lrange', 'none', 0, -1))}",
               "0");
    EXPECT("ZADD z 1.5 a", ":1");
    EXPECT_RUN("*2 | \"a\" | \"1.5\"", "EVAL",
               "return redis.call('zrange', 'z', 0, -1, 'withscores')", "0");
    /* RESP3 in the script: a map is {map = ...}, a double {double = ...}. */
    EXPECT("HSET h f v", ":1");
    EXPECT_RUN("*2 | \"v\" | :1", "EVAL",
               "redis.setresp(3); return {redis.call('hgetall', 'h').map.f, "
               "redis.call('zscore', 'z', 'a').double}",
               "0");
    EXPECT_RUN("\"3.1000000000000001\"", "EVAL",
               "redis.call('set', 'n', 3.1) return redis.call('get', 'n')", "0");
    EXPECT_RUN("+PONG", "EVAL", "return redis.call('ping')", "0");
}

static void test_errors_as_redis_writes_them(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET s text", "+OK");
    EXPECT_RUN("-ERR value is not an integer or out of range script: "
               "70abbef89e172316f9219e67e313f248a5b98d9b, on @user_script:1.",
               "EVAL", "return redis.call('incr', 's')", "0");
    EXPECT_RUN("-ERR value is not an integer or out of range", "EVAL",
               "return redis.pcall('incr', 's')", "0");
    EXPECT_RUN("-ERR user_script:3: line3 script: c315d966698a4a5bf1bb4c98e7a6827c242e143b, on "
               "@user_script:3.",
               "EVAL", "\n\nerror('line3')", "0");
    EXPECT_RUN("-ERR Error compiling script (new function): user_script:1: '=' expected near "
               "'error'",
               "EVAL", "syntax error here", "0");
    EXPECT_RUN("-ERR Number of keys can't be greater than number of args", "EVAL", "return 1", "2",
               "a");
    EXPECT_RUN("-ERR Number of keys can't be negative", "EVAL", "return 1", "-1");
    EXPECT_RUN("-NOSCRIPT No matching script. Please use EVAL.", "EVALSHA",
               "ffffffffffffffffffffffffffffffffffffffff", "0");
    assert_true(starts_with(RUN("EVAL", "return redis.call('eval', 'return 1', '0')", "0"),
                            "-ERR This Redis command is not allowed from script script: "));
    assert_true(starts_with(RUN("EVAL", "return redis.call('blpop', 'q', '0')", "0"),
                            "-ERR This Redis command is not allowed from script script: "));
    assert_true(starts_with(RUN("EVAL", "return redis.call('raft.exec', '1', 'x')", "0"),
                            "-ERR Unknown Redis command called from script script: "));
    /* error({}) crashes Redis 7.0.15; here it is an error reply. */
    assert_true(starts_with(RUN("EVAL", "error({})", "0"), "-ERR unknown error script: "));
    /* A script that wrote before failing keeps its writes (Redis does not roll back). */
    assert_true(starts_with(RUN("EVAL", "redis.call('set', 'w', '1') error('x')", "0"), "-ERR"));
    EXPECT("GET w", "\"1\"");
}

static void test_sandbox_refuses_globals_and_library_changes(void **state)
{
    struct fixture *fixture = *state;
    static const char *const refused[] = {
        "x = 1",
        "string.x = 1",
        "rawset(string, 'x', 1)",
        "rawset(_G, 'x', 1)",
        "setmetatable(_G, {})",
        "getmetatable('').__index = {}",
        "redis.call = nil",
        "return os.time()",
        "return io.open('/etc/passwd')",
        "return dofile('/etc/passwd')",
        "return require('os')",
        "return getfenv(1)",
        "return print('x')",
        NULL,
    };
    for (size_t i = 0; refused[i] != NULL; i++) {
        const char *reply = RUN("EVAL", refused[i], "0");
        if (!starts_with(reply, "-ERR")) {
            fail_msg("%s was not refused: %s", refused[i], reply);
        }
    }
    EXPECT_RUN("(nil)", "EVAL", "return getmetatable(string)", "0");
    EXPECT_RUN(":1", "EVAL", "return getmetatable('').__index == string", "0");
    /* Bytecode is never loaded: crafted bytecode can break Lua 5.1's VM. */
    EXPECT_RUN("*2 | \"nil\" | \"binary chunks are not allowed in scripts\"", "EVAL",
               "return {tostring(loadstring(string.dump(function() return 1 end))), "
               "select(2, loadstring(string.dump(function() return 1 end)))}",
               "0");
    /* The library tables still read and iterate. */
    EXPECT_RUN(":1", "EVAL", "local n = 0 for k in pairs(string) do n = n + 1 end return n > 10",
               "0");
    EXPECT_RUN("\"ok\"", "EVAL", "return cjson.decode('{\"a\":\"ok\"}').a", "0");
    /* Nothing one script does reaches the next: each runs in a fresh state. */
    EXPECT_RUN(":1", "EVAL", "local t = {} t.x = 1 KEYS.y = 2 return KEYS.y / 2", "0");
    EXPECT_RUN("(nil)", "EVAL", "return KEYS.y", "0");
}

static void test_evalsha_after_eval_and_script_load(void **state)
{
    struct fixture *fixture = *state;
    EXPECT_RUN("\"2f31ba2bb6d6a0f42cc159d2e2dad55440778de3\"", "SCRIPT", "LOAD", "return 'hi'");
    EXPECT_RUN("\"hi\"", "EVALSHA", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", "0");
    EXPECT_RUN("\"hi\"", "EVALSHA", "2F31BA2BB6D6A0F42CC159D2E2DAD55440778DE3", "0");
    EXPECT_RUN("\"cached\"", "EVAL", "return 'cached'", "0");
    EXPECT_RUN("\"cached\"", "EVALSHA", "952f49ffc8f7b098d8ab5da45d3164ca36ed18b1", "0");
    EXPECT_RUN("*3 | :1 | :1 | :0", "SCRIPT", "EXISTS", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3",
               "952f49ffc8f7b098d8ab5da45d3164ca36ed18b1",
               "ffffffffffffffffffffffffffffffffffffffff");
    /* A script that does not compile is not cached. */
    assert_true(starts_with(RUN("EVAL", "syntax error", "0"), "-ERR Error compiling script"));
    EXPECT_RUN("*1 | :0", "SCRIPT", "EXISTS", "9f9bd4ddc2d3ee9b09de5be3b8b1e1e6b5e1b0e6");
    EXPECT("SCRIPT FLUSH", "+OK");
    EXPECT_RUN("-NOSCRIPT No matching script. Please use EVAL.", "EVALSHA",
               "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", "0");
    /* EVALSHA_RO reads: it finds the same replicated scripts. */
    EXPECT_RUN("\"77f21361171213377cb083e2ffc2ae24ffdff8fb\"", "SCRIPT", "LOAD",
               "#!lua flags=no-writes\nreturn 1");
    EXPECT_RUN(":1", "EVALSHA_RO", "77f21361171213377cb083e2ffc2ae24ffdff8fb", "0");
}

static const char *const library_code =
    "#!lua name=lib\n"
    "redis.register_function('bump', function(keys, args) return redis.call('incr', keys[1]) end)\n"
    "redis.register_function{function_name = 'peek', flags = {'no-writes'},\n"
    "    callback = function(keys, args) return redis.call('get', keys[1]) end}";

static void test_functions_load_call_list_delete(void **state)
{
    struct fixture *fixture = *state;
    EXPECT_RUN("\"lib\"", "FUNCTION", "LOAD", library_code);
    EXPECT_RUN("-ERR Library 'lib' already exists", "FUNCTION", "LOAD", library_code);
    EXPECT_RUN(":1", "FCALL", "bump", "1", "n");
    EXPECT_RUN(":2", "FCALL", "BUMP", "1", "n");
    EXPECT_RUN("\"2\"", "FCALL_RO", "peek", "1", "n");
    EXPECT_RUN("-ERR Can not execute a script with write flag using *_ro command.", "FCALL_RO",
               "bump", "1", "n");
    EXPECT_RUN("-ERR Function not found", "FCALL", "nosuch", "0");
    EXPECT_RUN(
        "*1 | *6 | \"library_name\" | \"lib\" | \"engine\" | \"LUA\" | \"functions\" | *2 | "
        "*6 | \"name\" | \"bump\" | \"description\" | (nil) | \"flags\" | *0 | *6 | \"name\" | "
        "\"peek\" | \"description\" | (nil) | \"flags\" | *1 | +no-writes",
        "FUNCTION", "LIST");
    EXPECT_RUN("\"lib\"", "FUNCTION", "LOAD", "REPLACE",
               "#!lua name=lib\nredis.register_function('other', function() return 7 end)");
    EXPECT_RUN("-ERR Function not found", "FCALL", "bump", "1", "n");
    EXPECT_RUN(":7", "FCALL", "other", "0");
    EXPECT_RUN("-ERR Function other already exists", "FUNCTION", "LOAD",
               "#!lua name=lib2\nredis.register_function('other', function() return 8 end)");
    EXPECT("FUNCTION DELETE lib", "+OK");
    EXPECT("FUNCTION DELETE lib", "-ERR Library not found");
    EXPECT_RUN("-ERR Function not found", "FCALL", "other", "0");
    EXPECT("FUNCTION LIST", "*0");
}

static void test_scripts_and_functions_survive_a_reopen(void **state)
{
    struct fixture *fixture = *state;
    EXPECT_RUN("\"2f31ba2bb6d6a0f42cc159d2e2dad55440778de3\"", "SCRIPT", "LOAD", "return 'hi'");
    EXPECT_RUN("\"lib\"", "FUNCTION", "LOAD", library_code);
    fixture_reopen(fixture);
    EXPECT_RUN("\"hi\"", "EVALSHA", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", "0");
    EXPECT_RUN(":1", "FCALL", "bump", "1", "n");
}

static void test_a_snapshot_carries_scripts_and_functions(void **state)
{
    struct fixture *fixture = *state;
    EXPECT_RUN("\"2f31ba2bb6d6a0f42cc159d2e2dad55440778de3\"", "SCRIPT", "LOAD", "return 'hi'");
    EXPECT_RUN("\"lib\"", "FUNCTION", "LOAD", library_code);
    char path[320];
    snprintf(path, sizeof path, "%s.snapshot", fixture->directory);
    uint64_t index, term;
    assert_int_equal(kv_snapshot_export(fixture->kv, path, &index, &term), 0);
    struct fixture *other = malloc(sizeof *other);
    assert_non_null(other);
    fixture_open(other, NULL);
    assert_int_equal(kv_snapshot_import(other->kv, path, &index, &term), 0);
    other->next_index = index + 1;
    struct fixture *saved = fixture;
    fixture = other;
    EXPECT_RUN("\"hi\"", "EVALSHA", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", "0");
    EXPECT_RUN(":1", "FCALL", "bump", "1", "n");
    fixture = saved;
    fixture_close(other);
    free(other);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void test_instruction_budget_stops_a_runaway_script(void **state)
{
    struct fixture *fixture = *state;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const char *reply = RUN("EVAL", "redis.call('set', 'before', '1') while true do end", "0");
    print_message("20M instructions of `while true do end`: %.2f s\n", seconds_since(&start));
    assert_true(starts_with(reply, "-ERR Script exceeded the instruction budget"));
    EXPECT("GET before", "\"1\"");
    /* pcall cannot swallow the stop: every instruction after it raises again. */
    reply = RUN("EVAL",
                "local n = 0 while true do pcall(function() while true do end end) n = n + 1 "
                "redis.call('set', 'after', n) end",
                "0");
    assert_true(starts_with(reply, "-ERR Script exceeded the instruction budget"));
    EXPECT("GET after", "(nil)");
    reply = RUN("FUNCTION", "LOAD", "#!lua name=spin\nwhile true do end");
    assert_true(starts_with(reply, "-ERR Error registering functions: ERR Script exceeded"));
    EXPECT_RUN(":1", "EVAL", "return 1", "0");
}

/* Not a pass/fail check: what a fresh state, a compile and a run cost (design note 14). */
static void test_a_small_script_costs_tens_of_microseconds(void **state)
{
    struct fixture *fixture = *state;
    enum { RUNS = 500 };
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < RUNS; i++) {
        EXPECT_RUN("\"v\"", "EVAL_RO", "return redis.call('get', KEYS[1]) or 'v'", "1", "k");
    }
    print_message("EVAL_RO of a one-line script: %.1f us per run\n",
                  seconds_since(&start) * 1e6 / RUNS);
}

static void test_memory_cap_and_deep_values_are_errors(void **state)
{
    struct fixture *fixture = *state;
    /* A megabyte per iteration: the 256 MiB cap comes long before the instruction budget. */
    const char *reply = RUN("EVAL",
                            "local s = string.rep('x', 1e6) local t = {} "
                            "for i = 1, 1e6 do t[i] = s .. i end",
                            "0");
    assert_true(starts_with(reply, "-ERR Error running script"));
    assert_non_null(strstr(reply, "not enough memory"));
    reply = RUN("EVAL", "return string.rep('x', 1e9)", "0");
    assert_non_null(strstr(reply, "not enough memory"));
    reply = RUN("EVAL", "local function f() return 1 + f() end return f()", "0");
    assert_non_null(strstr(reply, "stack overflow"));
    /* A table nested past the reply depth limit: the deep part is an error, the rest converts. */
    reply = RUN("EVAL", "local t = {} for i = 1, 1500 do t = {t} end return t", "0");
    assert_non_null(strstr(reply, "-ERR reached lua stack limit"));
    reply = RUN("EVAL", "local t = {} t[1] = t return t", "0");
    assert_non_null(strstr(reply, "-ERR reached lua stack limit"));
    EXPECT_RUN(":1", "EVAL", "return 1", "0");
}

static void test_read_only_scripts_refuse_writes(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k v", "+OK");
    EXPECT_RUN("\"v\"", "EVAL_RO", "return redis.call('get', 'k')", "0");
    EXPECT_RUN("-ERR Write commands are not allowed from read-only scripts. script: "
               "ff967d0ae0e68b4f9e360fa91c54598bc25ad9b6, on @user_script:1.",
               "EVAL_RO", "return redis.call('set','a','b')", "0");
    EXPECT_RUN("-ERR Can not execute a script with write flag using *_ro command.", "EVAL_RO",
               "#!lua\nreturn 1", "0");
    assert_true(
        starts_with(RUN("EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','b')", "0"),
                    "-ERR Write commands are not allowed from read-only scripts."));
    EXPECT("EXISTS a", ":0");
}

/* ---- determinism: two replicas, the same entries ---- */

static void apply_words(struct fixture *fixture, const char *const *words)
{
    struct kv_arg argv[MAX_WORDS];
    size_t argc = words_to_argv(words, argv);
    struct raft_entry entry;
    entry_from_argv(&entry, fixture->next_index++, fixture->term, argc, argv);
    transcript_reset(&fixture->transcript);
    assert_int_equal(fixture_apply(fixture, &entry, 1), 0);
    free(entry.data);
}

static void test_replicas_compute_the_same_state(void **state)
{
    struct fixture *fixture = *state;
    struct fixture *other = malloc(sizeof *other);
    assert_non_null(other);
    fixture_open(other, NULL);
    static const char *const entries[][6] = {
        {"SADD", "s", "a", "b", "c", NULL},
        {"SADD", "s", "d", "e", "f", NULL},
        {"EVAL",
         "local t = redis.call('time') redis.call('set', 'time', t[1] .. '.' .. t[2]) "
         "redis.call('set', 'random', tostring(math.random()) .. ' ' .. math.random(1000)) "
         "redis.call('set', 'member', tostring(redis.call('srandmember', 's'))) "
         "redis.call('set', 'members', table.concat(redis.call('srandmember', 's', -5), ',')) "
         "redis.call('set', 'table', tostring({}) .. tostring(pairs)) "
         "return redis.call('spop', 's')",
         "0", NULL},
        {"EVAL", "math.randomseed(7) return redis.call('set', 'seeded', math.random(1, 1000000))",
         "0", NULL},
        {"FUNCTION", "LOAD",
         "#!lua name=r\nredis.register_function('r', function(k) "
         "return redis.call('set', k[1], math.random(1, 1e9)) end)",
         NULL},
        {"FCALL", "r", "1", "fromfunction", NULL},
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        apply_words(fixture, entries[i]);
        apply_words(other, entries[i]);
    }
    static const char *const keys[] = {"time",  "random", "member",      "members",
                                       "table", "seeded", "fromfunction"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "GET %s", keys[i]);
        char first[TRANSCRIPT_BYTES];
        snprintf(first, sizeof first, "%s", run(fixture, line));
        assert_string_not_equal(first, "(nil)");
        assert_string_equal(first, run(other, line));
    }
    char members[TRANSCRIPT_BYTES];
    snprintf(members, sizeof members, "%s", run(fixture, "SMEMBERS s"));
    assert_string_equal(members, run(other, "SMEMBERS s"));
    fixture_close(other);
    free(other);
}

/* The scripts test_kv_replicas.c's workload sends (words without spaces) really run. */
static void test_replica_workload_scripts_run(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("FUNCTION LOAD REPLACE #!lua\tname=w\nredis.register_function('w',function(k,a)"
           "return(redis.call('incrby',k[1],a[1]))end)",
           "\"w\"");
    EXPECT("FCALL w 1 k1 5", ":5");
    EXPECT("SADD s2 a", ":1");
    EXPECT("EVAL redis.call('set',KEYS[1],math.random(1000)..'@'..redis.call('time')[2]);"
           "return(redis.call('srandmember',KEYS[2],-2)) 2 k3 s2",
           "*2 | \"a\" | \"a\"");
    EXPECT("EVAL return(redis.call('spop',KEYS[1])) 1 s2", "\"a\"");
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_lua_values_become_replies),
        FIXTURE_TEST(test_command_replies_become_lua_values),
        FIXTURE_TEST(test_errors_as_redis_writes_them),
        FIXTURE_TEST(test_sandbox_refuses_globals_and_library_changes),
        FIXTURE_TEST(test_evalsha_after_eval_and_script_load),
        FIXTURE_TEST(test_functions_load_call_list_delete),
        FIXTURE_TEST(test_scripts_and_functions_survive_a_reopen),
        FIXTURE_TEST(test_a_snapshot_carries_scripts_and_functions),
        FIXTURE_TEST(test_instruction_budget_stops_a_runaway_script),
        FIXTURE_TEST(test_a_small_script_costs_tens_of_microseconds),
        FIXTURE_TEST(test_memory_cap_and_deep_values_are_errors),
        FIXTURE_TEST(test_read_only_scripts_refuse_writes),
        FIXTURE_TEST(test_replicas_compute_the_same_state),
        FIXTURE_TEST(test_replica_workload_scripts_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
