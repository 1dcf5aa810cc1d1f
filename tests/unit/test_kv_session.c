/*
 * test_kv_session.c — exactly-once writes inside the state machine (kv/session.c): a
 * session's write applies once per sequence number and a retry answers the first reply,
 * byte for byte, whatever its shape; replies are kept for the window and until acknowledged,
 * a too-large one as a marker; a write that blocks does not use its number; an idle session
 * is forgotten by the replicated clock; and all of it survives a reopen and a snapshot.
 */
#include "test_kv_support.c"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

static void test_a_retry_answers_the_first_reply_and_does_not_apply(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.session s 1 1 INCR c", ":1");
    EXPECT("raft.session s 1 1 INCR c", ":1");
    EXPECT("GET c", "\"1\"");
    EXPECT("raft.session s 2 1 INCR c", ":2");
    EXPECT("raft.session s 1 1 INCR c", ":1"); /* any number of the window */
    EXPECT("raft.session other 1 1 INCR c", ":3");
    EXPECT("GET c", "\"3\"");
    /* Every shape of reply comes back as it was. */
    EXPECT("raft.session s 3 1 HSET h a 1 b 2.5", ":2");
    EXPECT("raft.session s 4 1 HINCRBYFLOAT h b 1", "\"3.5\"");
    EXPECT("raft.session s 5 1 ZADD z 1 x 2 y", ":2");
    EXPECT("raft.session s 6 1 ZPOPMIN z 2", "*4 | \"x\" | ,1 | \"y\" | ,2");
    EXPECT("raft.session s 7 1 INCR h", "-WRONGTYPE Operation against a key holding the wrong "
                                        "kind of value");
    EXPECT("raft.session s 8 1 SET k v GET", "(nil)");
    EXPECT("raft.session s 9 1 LPOP nothing 2", "(nil-array)");
    EXPECT("raft.session s 10 1 raft.exec 2 INCR c 3 SET c2 x", "*2 | :4 | +OK");
    EXPECT("raft.session s 4 1 HINCRBYFLOAT h b 1", "\"3.5\"");
    EXPECT("raft.session s 6 1 ZPOPMIN z 2", "*4 | \"x\" | ,1 | \"y\" | ,2");
    EXPECT("raft.session s 7 1 INCR h", "-WRONGTYPE Operation against a key holding the wrong "
                                        "kind of value");
    EXPECT("raft.session s 8 1 SET k other GET", "(nil)");
    EXPECT("raft.session s 9 1 LPOP nothing 2", "(nil-array)");
    EXPECT("raft.session s 10 1 raft.exec 2 INCR c 3 SET c2 x", "*2 | :4 | +OK");
    EXPECT("GET k", "\"v\"");
    EXPECT("GET c", "\"4\"");
    EXPECT("HGET h b", "\"3.5\"");
    /* A gap is fine: numbers refused before proposal never reach the log. */
    EXPECT("raft.session s 20 1 INCR c", ":5");
    EXPECT("raft.session s 15 1 INCR c",
           "-ERR session write 15 was applied already; its reply is no longer kept");
    EXPECT("GET c", "\"5\"");
}

static void test_replies_are_kept_for_the_window_and_until_acknowledged(void **state)
{
    struct fixture *fixture = *state;
    char line[128];
    for (unsigned seq = 1; seq <= KV_SESSION_WINDOW + 5; seq++) {
        snprintf(line, sizeof line, "raft.session s %u 1 INCR c", seq);
        run(fixture, line);
    }
    EXPECT("raft.session s 5 1 INCR c",
           "-ERR session write 5 was applied already; its reply is no longer kept");
    EXPECT("raft.session s 6 1 INCR c", ":6");
    /* Acknowledged up to 100: the replies below it go with the next write. */
    snprintf(line, sizeof line, "raft.session s %u 100 INCR c", KV_SESSION_WINDOW + 6);
    run(fixture, line);
    EXPECT("raft.session s 99 100 INCR c",
           "-ERR session write 99 was applied already; its reply is no longer kept");
    EXPECT("raft.session s 100 100 INCR c", ":100");
    snprintf(line, sizeof line, "\"%u\"", KV_SESSION_WINDOW + 6);
    EXPECT("GET c", line);
}

static void test_a_large_reply_is_kept_as_a_marker(void **state)
{
    struct fixture *fixture = *state;
    size_t bytes = KV_SESSION_REPLY_MAX_BYTES + 1;
    char *value = malloc(bytes + 1);
    assert_non_null(value);
    memset(value, 'v', bytes);
    value[bytes] = '\0';
    struct kv_arg set[] = {
        {(const uint8_t *)"SET", 3}, {(const uint8_t *)"big", 3}, {(const uint8_t *)value, bytes}};
    run_argv(fixture, 3, set);
    free(value);
    assert_true(strncmp(run(fixture, "raft.session s 1 1 GETDEL big"), "\"vvvv", 5) == 0);
    EXPECT("raft.session s 1 1 GETDEL big",
           "-ERR session write 1 was applied already; its reply was too large to keep");
    EXPECT("EXISTS big", ":0");
}

static void test_a_blocked_write_keeps_its_number_free(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.session s 1 1 BLPOP q 0", "(blocked)");
    EXPECT("RPUSH q a", ":1");
    EXPECT("raft.session s 1 1 BLPOP q 0", "*2 | \"q\" | \"a\"");
    EXPECT("raft.session s 1 1 BLPOP q 0", "*2 | \"q\" | \"a\"");
    EXPECT("LLEN q", ":0");
}

static void test_an_idle_session_is_forgotten_by_the_clock(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.session old 1 1 INCR c", ":1");
    test_clock_ms += KV_SESSION_IDLE_MS - 1;
    EXPECT("raft.session young 1 1 INCR c", ":2");
    EXPECT("raft.session old 1 1 INCR c", ":1"); /* not idle yet: touched again */
    test_clock_ms += KV_SESSION_IDLE_MS;
    EXPECT("raft.session third 1 1 INCR c", ":3"); /* forgets old and young */
    EXPECT("raft.session old 1 1 INCR c", ":4");   /* a new session of the same name */
    EXPECT("raft.session young 1 1 INCR c", ":5");
}

static void test_sessions_survive_a_reopen_and_a_snapshot(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.session s 1 1 INCR c", ":1");
    fixture_reopen(fixture);
    EXPECT("raft.session s 1 1 INCR c", ":1");
    char path[300];
    snprintf(path, sizeof path, "%s.snapshot", fixture->directory);
    uint64_t index, term;
    assert_int_equal(kv_snapshot_export(fixture->kv, path, &index, &term), 0);
    EXPECT("raft.session s 2 1 INCR c", ":2");
    assert_int_equal(kv_snapshot_import(fixture->kv, path, &index, &term), 0);
    fixture->next_index = index + 1;
    EXPECT("GET c", "\"1\"");
    EXPECT("raft.session s 1 1 INCR c", ":1");
    EXPECT("raft.session s 2 1 INCR c", ":2");
}

static void test_malformed_headers_are_syntax_errors(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.session s 0 1 INCR c", "-ERR syntax error");
    EXPECT("raft.session s x 1 INCR c", "-ERR syntax error");
    EXPECT("raft.session s 1 -1 INCR c", "-ERR syntax error");
    char line[160];
    snprintf(line, sizeof line, "raft.session %065d 1 1 INCR c", 0);
    EXPECT(line, "-ERR syntax error");
    /* A command this build does not know stops the batch, as at top level. */
    struct raft_entry entry;
    entry_from_line(&entry, fixture->next_index, fixture->term, "raft.session s 1 1 NOSUCH c");
    assert_int_equal(fixture_apply(fixture, &entry, 1), KV_ERROR_UNSUPPORTED);
    free(entry.data);
    EXPECT("GET c", "(nil)");
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_a_retry_answers_the_first_reply_and_does_not_apply),
        FIXTURE_TEST(test_replies_are_kept_for_the_window_and_until_acknowledged),
        FIXTURE_TEST(test_a_large_reply_is_kept_as_a_marker),
        FIXTURE_TEST(test_a_blocked_write_keeps_its_number_free),
        FIXTURE_TEST(test_an_idle_session_is_forgotten_by_the_clock),
        FIXTURE_TEST(test_sessions_survive_a_reopen_and_a_snapshot),
        FIXTURE_TEST(test_malformed_headers_are_syntax_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
