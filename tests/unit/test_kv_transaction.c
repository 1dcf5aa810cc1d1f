/*
 * test_kv_transaction.c — MULTI/EXEC's entry inside the state machine: `raft.exec` runs its
 * commands in order in one transaction and replies each (errors included, the others still
 * applied); blocking commands inside do not wait; the read-only form refuses a write; a shape
 * the server would never build is a syntax error; internal commands are refused inside.
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

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_exec_runs_every_command_in_order),
        FIXTURE_TEST(test_blocking_commands_inside_do_not_wait),
        FIXTURE_TEST(test_read_only_form_and_malformed_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
