/*
 * test_kv_commands.c — every command's happy path and errors, through the real paths: writes
 * are encoded into a Raft entry and applied with kv_apply_batch, reads run through kv_read.
 * Expected replies follow Redis 7 / Valkey 8 (transcript notation in test_kv_support.c).
 */
#include "test_kv_support.c"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

static void test_get_of_missing_key_is_nil(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("GET nothing", "(nil)");
}

static void test_set_then_get_returns_value(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k v1", "+OK");
    EXPECT("get k", "\"v1\"");
    EXPECT("SET k v2", "+OK");
    EXPECT("GET k", "\"v2\"");
}

static void test_set_empty_value(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k ''", "+OK");
    EXPECT("GET k", "\"\"");
    EXPECT("STRLEN k", ":0");
    EXPECT("EXISTS k", ":1");
}

static void test_empty_key_is_a_key(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET '' v", "+OK");
    EXPECT("GET ''", "\"v\"");
    EXPECT("DBSIZE", ":1");
}

static void test_binary_safe_key_and_value(void **state)
{
    struct fixture *fixture = *state;
    const uint8_t key[] = {'a', 0, 'b', '\r', '\n'};
    const uint8_t value[] = {0, 1, 2, 0xff};
    struct kv_arg set[] = {{(const uint8_t *)"SET", 3}, {key, sizeof key}, {value, 4}};
    assert_string_equal(run_argv(fixture, 3, set), "+OK");
    struct kv_arg get[] = {{(const uint8_t *)"GET", 3}, {key, sizeof key}};
    assert_string_equal(run_argv(fixture, 2, get), "\"\\x00\\x01\\x02\\xff\"");
    struct kv_arg other[] = {{(const uint8_t *)"GET", 3}, {key, 1}};
    assert_string_equal(run_argv(fixture, 2, other), "(nil)");
}

static void test_set_nx_only_when_missing(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a NX", "+OK");
    EXPECT("SET k b nx", "(nil)");
    EXPECT("GET k", "\"a\"");
}

static void test_set_xx_only_when_present(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a XX", "(nil)");
    EXPECT("EXISTS k", ":0");
    EXPECT("SET k a", "+OK");
    EXPECT("SET k b XX", "+OK");
    EXPECT("GET k", "\"b\"");
}

static void test_set_nx_with_xx_is_syntax_error(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a NX XX", "-ERR syntax error");
    EXPECT("SET k a XX NX", "-ERR syntax error");
    EXPECT("EXISTS k", ":0");
}

static void test_set_unknown_option_is_syntax_error(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a BOGUS", "-ERR syntax error");
    EXPECT("SET k a IFEQ", "-ERR syntax error");
    EXPECT("EXISTS k", ":0");
}

static void test_set_expiry_options_parse_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a EX", "-ERR syntax error");
    EXPECT("SET k a EX 10 PX 10", "-ERR syntax error");
    EXPECT("SET k a EX bad EX 20", "+OK"); /* the same option again: the last one wins */
    EXPECT("TTL k", ":20");
    EXPECT("DEL k", ":1");
    EXPECT("SET k a EX 10 KEEPTTL", "-ERR syntax error");
    EXPECT("SET k a KEEPTTL EXAT 10", "-ERR syntax error");
    EXPECT("SET k a EX 0", "-ERR invalid expire time in 'set' command");
    EXPECT("SET k a PX -5", "-ERR invalid expire time in 'set' command");
    EXPECT("SET k a EX 9223372036854775807", "-ERR invalid expire time in 'set' command");
    EXPECT("SET k a EX ten", "-ERR value is not an integer or out of range");
    EXPECT("EXISTS k", ":0");
    EXPECT("SET k a KEEPTTL", "+OK");
    EXPECT("TTL k", ":-1");
}

static void test_set_get_returns_old_value(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a GET", "(nil)");
    EXPECT("SET k b GET", "\"a\"");
    EXPECT("GET k", "\"b\"");
}

static void test_set_nx_get_returns_old_value_without_setting(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a", "+OK");
    EXPECT("SET k b NX GET", "\"a\"");
    EXPECT("GET k", "\"a\"");
}

static void test_set_ifeq_sets_when_equal(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a", "+OK");
    EXPECT("SET k b IFEQ a", "+OK");
    EXPECT("GET k", "\"b\"");
}

static void test_set_ifeq_refuses_when_different(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a", "+OK");
    EXPECT("SET k b IFEQ x", "(nil)");
    EXPECT("SET k b IFEQ ''", "(nil)");
    EXPECT("GET k", "\"a\"");
}

static void test_set_ifeq_does_not_create(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k b IFEQ a", "(nil)");
    EXPECT("EXISTS k", ":0");
}

static void test_set_ifeq_with_get_returns_old_value(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a", "+OK");
    EXPECT("SET k b IFEQ a GET", "\"a\"");
    EXPECT("SET k c IFEQ zzz GET", "\"b\"");
    EXPECT("GET k", "\"b\"");
}

static void test_set_ifeq_with_nx_or_xx_is_syntax_error(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k a IFEQ x NX", "-ERR syntax error");
    EXPECT("SET k a XX IFEQ x", "-ERR syntax error");
}

static void test_value_above_limit_is_refused(void **state)
{
    struct fixture *fixture = *state;
    struct kv_options options;
    kv_options_default(&options);
    options.max_value_bytes = 4;
    fixture_close(fixture);
    fixture_open(fixture, &options);
    EXPECT("SET k 12345", "-" KV_ERROR_TEXT_STRING_TOO_LONG);
    EXPECT("SET k 1234", "+OK");
    EXPECT("APPEND k 5", "-" KV_ERROR_TEXT_STRING_TOO_LONG);
    EXPECT("SETRANGE k 4 x", "-" KV_ERROR_TEXT_STRING_TOO_LONG);
    EXPECT("MSET a 1 b 12345", "-" KV_ERROR_TEXT_STRING_TOO_LONG);
    EXPECT("EXISTS a", ":0");
    EXPECT("GET k", "\"1234\"");
}

static void test_key_above_limit_is_refused_on_write(void **state)
{
    struct fixture *fixture = *state;
    char line[1200];
    char key[KV_MAX_KEY_BYTES + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(line, sizeof line, "SET %s v", key);
    EXPECT(line, "-" KV_ERROR_TEXT_KEY_TOO_LONG);
    snprintf(line, sizeof line, "GET %s", key);
    EXPECT(line, "(nil)");
    key[sizeof key - 2] = '\0'; /* exactly KV_MAX_KEY_BYTES */
    snprintf(line, sizeof line, "SET %s v", key);
    EXPECT(line, "+OK");
}

static void test_setnx(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SETNX k a", ":1");
    EXPECT("SETNX k b", ":0");
    EXPECT("GET k", "\"a\"");
}

static void test_getset(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("GETSET k a", "(nil)");
    EXPECT("GETSET k b", "\"a\"");
    EXPECT("GET k", "\"b\"");
}

static void test_getdel(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("GETDEL k", "(nil)");
    EXPECT("SET k a", "+OK");
    EXPECT("GETDEL k", "\"a\"");
    EXPECT("EXISTS k", ":0");
}

static void test_mget_mixes_values_and_nils(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("MSET a 1 b 2", "+OK");
    EXPECT("MGET a missing b", "*3 | \"1\" | (nil) | \"2\"");
}

static void test_mset_with_odd_arguments_is_arity_error(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("MSET a 1 b", "-ERR wrong number of arguments for 'mset' command");
    EXPECT("EXISTS a", ":0");
}

static void test_msetnx_sets_all_or_nothing(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("MSETNX a 1 b 2", ":1");
    EXPECT("MSETNX c 3 b 9", ":0");
    EXPECT("MGET a b c", "*3 | \"1\" | \"2\" | (nil)");
}

static void test_del_counts_removed_keys(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("MSET a 1 b 2", "+OK");
    EXPECT("DEL a b c a", ":2");
    EXPECT("DBSIZE", ":0");
}

static void test_exists_counts_repeats(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1", "+OK");
    EXPECT("EXISTS a a missing", ":2");
}

static void test_incr_creates_and_counts(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("INCR n", ":1");
    EXPECT("INCR n", ":2");
    EXPECT("GET n", "\"2\"");
    EXPECT("DECR n", ":1");
    EXPECT("INCRBY n 10", ":11");
    EXPECT("DECRBY n 20", ":-9");
    EXPECT("GET n", "\"-9\"");
}

static void test_incr_of_non_integer_fails_and_changes_nothing(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET n abc", "+OK");
    EXPECT("INCR n", "-ERR value is not an integer or out of range");
    EXPECT("SET z 01", "+OK");
    EXPECT("INCR z", "-ERR value is not an integer or out of range");
    EXPECT("SET p +1", "+OK");
    EXPECT("INCR p", "-ERR value is not an integer or out of range");
    EXPECT("GET n", "\"abc\"");
}

static void test_incr_overflow_is_refused(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET n 9223372036854775807", "+OK");
    EXPECT("INCR n", "-ERR increment or decrement would overflow");
    EXPECT("SET m -9223372036854775808", "+OK");
    EXPECT("DECR m", "-ERR increment or decrement would overflow");
    EXPECT("INCRBY m 9223372036854775807", ":-1");
    EXPECT("GET n", "\"9223372036854775807\"");
}

static void test_incrby_argument_must_be_integer(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("INCRBY n x", "-ERR value is not an integer or out of range");
    EXPECT("INCRBY n 9223372036854775808", "-ERR value is not an integer or out of range");
    EXPECT("INCRBY n 1.5", "-ERR value is not an integer or out of range");
    EXPECT("EXISTS n", ":0");
}

static void test_decrby_of_minimum_is_refused(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("DECRBY n -9223372036854775808", "-ERR decrement would overflow");
    EXPECT("DECRBY n -5", ":5");
}

static void test_append_creates_then_extends(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("APPEND k hello", ":5");
    EXPECT("APPEND k _world", ":11");
    EXPECT("GET k", "\"hello_world\"");
}

static void test_strlen(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("STRLEN k", ":0");
    EXPECT("SET k hello", "+OK");
    EXPECT("STRLEN k", ":5");
}

static void test_getrange_positive_and_negative(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET k Hello_World", "+OK");
    EXPECT("GETRANGE k 0 4", "\"Hello\"");
    EXPECT("GETRANGE k -5 -1", "\"World\"");
    EXPECT("GETRANGE k 0 -1", "\"Hello_World\"");
    EXPECT("GETRANGE k 0 100", "\"Hello_World\"");
    EXPECT("GETRANGE k -100 2", "\"Hel\"");
    EXPECT("GETRANGE k 5 3", "\"\"");
    EXPECT("GETRANGE k -1 -5", "\"\"");
    EXPECT("GETRANGE k 20 30", "\"\"");
    EXPECT("GETRANGE k -100 -50", "\"H\"");
}

static void test_getrange_of_missing_key_is_empty(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("GETRANGE k 0 -1", "\"\"");
    EXPECT("GETRANGE k a 1", "-ERR value is not an integer or out of range");
}

static void test_setrange_pads_with_zero_bytes(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SETRANGE k 3 ab", ":5");
    EXPECT("GET k", "\"\\x00\\x00\\x00ab\"");
    EXPECT("SETRANGE k 1 XYZW", ":5");
    EXPECT("GET k", "\"\\x00XYZW\"");
    EXPECT("SETRANGE k 0 q", ":5");
    EXPECT("GET k", "\"qXYZW\"");
}

static void test_setrange_errors(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SETRANGE k -1 a", "-ERR offset is out of range");
    EXPECT("SETRANGE k x a", "-ERR value is not an integer or out of range");
    EXPECT("SETRANGE k 536870911 ab", "-" KV_ERROR_TEXT_STRING_TOO_LONG);
    EXPECT("SETRANGE k 0 ''", ":0");
    EXPECT("EXISTS k", ":0");
    EXPECT("SET k abc", "+OK");
    EXPECT("SETRANGE k 10 ''", ":3");
}

static void test_type(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("TYPE k", "+none");
    EXPECT("SET k v", "+OK");
    EXPECT("TYPE k", "+string");
}

static void test_dbsize(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("DBSIZE", ":0");
    EXPECT("MSET a 1 b 2 c 3", "+OK");
    EXPECT("DBSIZE", ":3");
}

static void test_flushall_and_flushdb_drop_every_key(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("MSET a 1 b 2 c 3", "+OK");
    EXPECT("FLUSHALL", "+OK");
    EXPECT("DBSIZE", ":0");
    EXPECT("GET a", "(nil)");
    EXPECT("SET d 4", "+OK");
    EXPECT("FLUSHDB ASYNC", "+OK");
    EXPECT("EXISTS d", ":0");
    EXPECT("FLUSHALL sync", "+OK");
    EXPECT("FLUSHALL foo", "-ERR syntax error");
    EXPECT("FLUSHALL ASYNC SYNC", "-ERR syntax error");
    EXPECT("FLUSHDB x y", "-ERR syntax error");
    EXPECT("SET e 5", "+OK");
    EXPECT("GET e", "\"5\"");
}

static void test_keys_with_patterns(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("MSET hello 1 hallo 2 hxllo 3 hllo 4 heeeello 5", "+OK");
    assert_true(strncmp(run(fixture, "KEYS *"), "*5 | ", 5) == 0);
    assert_true(strncmp(run(fixture, "KEYS h?llo"), "*3 | ", 5) == 0);
    assert_true(strncmp(run(fixture, "KEYS h*llo"), "*5 | ", 5) == 0);
    assert_true(strncmp(run(fixture, "KEYS h[ae]llo"), "*2 | ", 5) == 0);
    assert_true(strncmp(run(fixture, "KEYS h[^e]llo"), "*2 | ", 5) == 0);
    assert_true(strncmp(run(fixture, "KEYS h[a-b]llo"), "*1 | ", 5) == 0);
    EXPECT("KEYS nomatch*", "*0");
}

/* A full SCAN iteration must return every key exactly once, whatever COUNT is. */
static void test_scan_full_iteration_returns_each_key_once(void **state)
{
    struct fixture *fixture = *state;
    enum { KEY_COUNT = 50 };
    for (int i = 0; i < KEY_COUNT; i++) {
        char line[64];
        snprintf(line, sizeof line, "SET key:%d v", i);
        EXPECT(line, "+OK");
    }
    int seen[KEY_COUNT] = {0};
    char cursor[32] = "0";
    int calls = 0;
    do {
        char line[64];
        snprintf(line, sizeof line, "SCAN %s COUNT 7", cursor);
        const char *reply = run(fixture, line);
        calls++;
        assert_true(strncmp(reply, "*2 | \"", 6) == 0);
        const char *end = strchr(reply + 6, '"');
        memcpy(cursor, reply + 6, (size_t)(end - reply - 6));
        cursor[end - reply - 6] = '\0';
        for (const char *at = strstr(end, "\"key:"); at != NULL; at = strstr(at + 1, "\"key:")) {
            seen[atoi(at + 5)]++;
        }
    } while (strcmp(cursor, "0") != 0 && calls < 100);
    for (int i = 0; i < KEY_COUNT; i++) {
        assert_int_equal(seen[i], 1);
    }
    assert_true(calls >= KEY_COUNT / 7);
}

static void test_scan_match_and_type_filter(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("MSET user:1 a user:2 b other c", "+OK");
    const char *reply = run(fixture, "SCAN 0 MATCH user:* COUNT 100");
    assert_true(strncmp(reply, "*2 | \"0\" | *2 | ", 16) == 0);
    EXPECT("SCAN 0 COUNT 100 TYPE list", "*2 | \"0\" | *0");
    reply = run(fixture, "SCAN 0 COUNT 100 type STRING");
    assert_true(strncmp(reply, "*2 | \"0\" | *3 | ", 16) == 0);
}

static void test_scan_errors(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SCAN abc", "-ERR invalid cursor");
    EXPECT("SCAN - ", "-ERR invalid cursor");
    EXPECT("SCAN -1", "*2 | \"0\" | *0"); /* strtoul, as Redis: wraps to 2^64 - 1 */
    EXPECT("SCAN +0", "*2 | \"0\" | *0");
    EXPECT("SCAN ''", "*2 | \"0\" | *0");
    EXPECT("SCAN 18446744073709551616", "-ERR invalid cursor");
    EXPECT("SCAN 0 COUNT 0", "-ERR syntax error");
    EXPECT("SCAN 0 COUNT x", "-ERR value is not an integer or out of range");
    EXPECT("SCAN 0 MATCH", "-ERR syntax error");
    EXPECT("SCAN 0 BOGUS 1", "-ERR syntax error");
    EXPECT("SCAN 18446744073709551615", "*2 | \"0\" | *0");
}

static void test_unknown_command_error_text(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("foo a b", "-ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
    EXPECT("foo", "-ERR unknown command 'foo', with args beginning with: ");
}

static void test_unknown_command_echo_is_bounded(void **state)
{
    struct fixture *fixture = *state;
    char line[1024];
    char long_word[301];
    memset(long_word, 'x', 300);
    long_word[300] = '\0';
    snprintf(line, sizeof line, "%s %s %s", long_word, long_word, long_word);
    const char *reply = run(fixture, line);
    /* Redis: the name cut at 128 bytes, then arguments while their echo is under 128 bytes,
     * each cut to what remains of 128. */
    char expected[1024];
    snprintf(expected, sizeof expected,
             "-ERR unknown command '%.128s', with args beginning with: '%.128s' ", long_word,
             long_word);
    assert_string_equal(reply, expected);
}

static void test_wrong_arity_error_text(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("GET", "-ERR wrong number of arguments for 'get' command");
    EXPECT("GET a b", "-ERR wrong number of arguments for 'get' command");
    EXPECT("SET k", "-ERR wrong number of arguments for 'set' command");
    EXPECT("DBSIZE x", "-ERR wrong number of arguments for 'dbsize' command");
}

static void test_lookup_is_case_insensitive_and_table_is_consistent(void **state)
{
    (void)state;
    const struct kv_command *command = kv_command_lookup((const uint8_t *)"gEtRaNgE", 8);
    assert_non_null(command);
    assert_string_equal(command->name, "getrange");
    assert_null(kv_command_lookup((const uint8_t *)"getrang", 7));
    size_t count;
    const struct kv_command *table = kv_command_table(&count);
    for (size_t i = 0; i < count; i++) {
        unsigned kind = table[i].flags & (KV_COMMAND_READ | KV_COMMAND_WRITE);
        assert_true(kind == KV_COMMAND_READ || kind == KV_COMMAND_WRITE);
        assert_int_equal(strlen(table[i].name), table[i].name_bytes);
        assert_ptr_equal(kv_command_lookup((const uint8_t *)table[i].name, table[i].name_bytes),
                         &table[i]);
    }
}

static void test_read_refuses_write_command(void **state)
{
    struct fixture *fixture = *state;
    struct kv_arg argv[] = {
        {(const uint8_t *)"SET", 3}, {(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}};
    transcript_reset(&fixture->transcript);
    assert_int_equal(kv_read(fixture->kv, 3, argv, 0, &fixture->transcript.sink), KV_ERROR_INVALID);
    assert_string_equal(fixture->transcript.text, "");
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_get_of_missing_key_is_nil),
        FIXTURE_TEST(test_set_then_get_returns_value),
        FIXTURE_TEST(test_set_empty_value),
        FIXTURE_TEST(test_empty_key_is_a_key),
        FIXTURE_TEST(test_binary_safe_key_and_value),
        FIXTURE_TEST(test_set_nx_only_when_missing),
        FIXTURE_TEST(test_set_xx_only_when_present),
        FIXTURE_TEST(test_set_nx_with_xx_is_syntax_error),
        FIXTURE_TEST(test_set_unknown_option_is_syntax_error),
        FIXTURE_TEST(test_set_expiry_options_parse_as_redis),
        FIXTURE_TEST(test_set_get_returns_old_value),
        FIXTURE_TEST(test_set_nx_get_returns_old_value_without_setting),
        FIXTURE_TEST(test_set_ifeq_sets_when_equal),
        FIXTURE_TEST(test_set_ifeq_refuses_when_different),
        FIXTURE_TEST(test_set_ifeq_does_not_create),
        FIXTURE_TEST(test_set_ifeq_with_get_returns_old_value),
        FIXTURE_TEST(test_set_ifeq_with_nx_or_xx_is_syntax_error),
        FIXTURE_TEST(test_value_above_limit_is_refused),
        FIXTURE_TEST(test_key_above_limit_is_refused_on_write),
        FIXTURE_TEST(test_setnx),
        FIXTURE_TEST(test_getset),
        FIXTURE_TEST(test_getdel),
        FIXTURE_TEST(test_mget_mixes_values_and_nils),
        FIXTURE_TEST(test_mset_with_odd_arguments_is_arity_error),
        FIXTURE_TEST(test_msetnx_sets_all_or_nothing),
        FIXTURE_TEST(test_del_counts_removed_keys),
        FIXTURE_TEST(test_exists_counts_repeats),
        FIXTURE_TEST(test_incr_creates_and_counts),
        FIXTURE_TEST(test_incr_of_non_integer_fails_and_changes_nothing),
        FIXTURE_TEST(test_incr_overflow_is_refused),
        FIXTURE_TEST(test_incrby_argument_must_be_integer),
        FIXTURE_TEST(test_decrby_of_minimum_is_refused),
        FIXTURE_TEST(test_append_creates_then_extends),
        FIXTURE_TEST(test_strlen),
        FIXTURE_TEST(test_getrange_positive_and_negative),
        FIXTURE_TEST(test_getrange_of_missing_key_is_empty),
        FIXTURE_TEST(test_setrange_pads_with_zero_bytes),
        FIXTURE_TEST(test_setrange_errors),
        FIXTURE_TEST(test_type),
        FIXTURE_TEST(test_dbsize),
        FIXTURE_TEST(test_flushall_and_flushdb_drop_every_key),
        FIXTURE_TEST(test_keys_with_patterns),
        FIXTURE_TEST(test_scan_full_iteration_returns_each_key_once),
        FIXTURE_TEST(test_scan_match_and_type_filter),
        FIXTURE_TEST(test_scan_errors),
        FIXTURE_TEST(test_unknown_command_error_text),
        FIXTURE_TEST(test_unknown_command_echo_is_bounded),
        FIXTURE_TEST(test_wrong_arity_error_text),
        FIXTURE_TEST(test_lookup_is_case_insensitive_and_table_is_consistent),
        FIXTURE_TEST(test_read_refuses_write_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
