/*
 * test_proto_encode.c — the RESP reply encoder and the byte buffer, one behaviour per test.
 *
 * Each test appends to a fresh buffer and compares the exact bytes with what Redis sends for
 * the same reply in RESP2 or RESP3; limit tests check that a failed append changes nothing.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/resp.h"

static struct proto_buffer buffer;

static int setup(void **state)
{
    proto_buffer_init(&buffer, PROTO_BUFFER_DEFAULT_MAX_BYTES);
    return 0;
}

static int teardown(void **state)
{
    proto_buffer_free(&buffer);
    return 0;
}

static void assert_buffer(const char *expected, size_t length)
{
    assert_int_equal(buffer.length, length);
    assert_memory_equal(buffer.data, expected, length);
}

#define ASSERT_BUFFER(literal) assert_buffer(literal, sizeof(literal) - 1)

static void simple_string(void **state)
{
    assert_int_equal(resp_append_simple(&buffer, "OK", 2), PROTO_OK);
    ASSERT_BUFFER("+OK\r\n");
}

static void error_reply(void **state)
{
    const char *text = "ERR Protocol error: invalid bulk length";
    assert_int_equal(resp_append_error(&buffer, text, strlen(text)), PROTO_OK);
    ASSERT_BUFFER("-ERR Protocol error: invalid bulk length\r\n");
}

static void error_newlines_become_spaces(void **state)
{
    assert_int_equal(resp_append_error(&buffer, "ERR a\r\nb", 8), PROTO_OK);
    ASSERT_BUFFER("-ERR a  b\r\n");
}

static void integers_including_extremes(void **state)
{
    assert_int_equal(resp_append_integer(&buffer, 0), PROTO_OK);
    assert_int_equal(resp_append_integer(&buffer, -42), PROTO_OK);
    assert_int_equal(resp_append_integer(&buffer, INT64_MIN), PROTO_OK);
    assert_int_equal(resp_append_integer(&buffer, INT64_MAX), PROTO_OK);
    ASSERT_BUFFER(":0\r\n:-42\r\n:-9223372036854775808\r\n:9223372036854775807\r\n");
}

static void bulk_string_is_binary_safe(void **state)
{
    assert_int_equal(resp_append_bulk(&buffer, "a\r\n\0b", 5), PROTO_OK);
    ASSERT_BUFFER("$5\r\na\r\n\0b\r\n");
}

static void empty_bulk_string(void **state)
{
    assert_int_equal(resp_append_bulk(&buffer, NULL, 0), PROTO_OK);
    ASSERT_BUFFER("$0\r\n\r\n");
}

static void array_header(void **state)
{
    assert_int_equal(resp_append_array_header(&buffer, 2), PROTO_OK);
    assert_int_equal(resp_append_bulk(&buffer, "a", 1), PROTO_OK);
    assert_int_equal(resp_append_integer(&buffer, 1), PROTO_OK);
    ASSERT_BUFFER("*2\r\n$1\r\na\r\n:1\r\n");
}

static void null_in_resp2_and_resp3(void **state)
{
    assert_int_equal(resp_append_null(&buffer, 2), PROTO_OK);
    assert_int_equal(resp_append_null(&buffer, 3), PROTO_OK);
    ASSERT_BUFFER("$-1\r\n_\r\n");
}

static void null_array_in_resp2_and_resp3(void **state)
{
    assert_int_equal(resp_append_null_array(&buffer, 2), PROTO_OK);
    assert_int_equal(resp_append_null_array(&buffer, 3), PROTO_OK);
    ASSERT_BUFFER("*-1\r\n_\r\n");
}

static void map_header_in_resp2_and_resp3(void **state)
{
    assert_int_equal(resp_append_map_header(&buffer, 3, 2), PROTO_OK);
    assert_int_equal(resp_append_map_header(&buffer, 2, 2), PROTO_OK);
    ASSERT_BUFFER("%2\r\n*4\r\n");
}

static void set_header_in_resp2_and_resp3(void **state)
{
    assert_int_equal(resp_append_set_header(&buffer, 3, 5), PROTO_OK);
    assert_int_equal(resp_append_set_header(&buffer, 2, 5), PROTO_OK);
    ASSERT_BUFFER("~5\r\n*5\r\n");
}

static void double_in_resp3(void **state)
{
    assert_int_equal(resp_append_double(&buffer, 3, 1.5), PROTO_OK);
    assert_int_equal(resp_append_double(&buffer, 3, INFINITY), PROTO_OK);
    assert_int_equal(resp_append_double(&buffer, 3, -INFINITY), PROTO_OK);
    assert_int_equal(resp_append_double(&buffer, 3, NAN), PROTO_OK);
    ASSERT_BUFFER(",1.5\r\n,inf\r\n,-inf\r\n,nan\r\n");
}

static void double_in_resp2_is_a_bulk_string(void **state)
{
    assert_int_equal(resp_append_double(&buffer, 2, 0.1), PROTO_OK);
    ASSERT_BUFFER("$19\r\n0.10000000000000001\r\n");
}

static void boolean_in_resp2_and_resp3(void **state)
{
    assert_int_equal(resp_append_boolean(&buffer, 3, true), PROTO_OK);
    assert_int_equal(resp_append_boolean(&buffer, 3, false), PROTO_OK);
    assert_int_equal(resp_append_boolean(&buffer, 2, true), PROTO_OK);
    assert_int_equal(resp_append_boolean(&buffer, 2, false), PROTO_OK);
    ASSERT_BUFFER("#t\r\n#f\r\n:1\r\n:0\r\n");
}

static void verbatim_in_resp3_and_resp2(void **state)
{
    assert_int_equal(resp_append_verbatim(&buffer, 3, "txt", "Some string", 11), PROTO_OK);
    assert_int_equal(resp_append_verbatim(&buffer, 2, "txt", "Some string", 11), PROTO_OK);
    ASSERT_BUFFER("=15\r\ntxt:Some string\r\n$11\r\nSome string\r\n");
}

static void unknown_version_is_invalid(void **state)
{
    assert_int_equal(resp_append_null(&buffer, 1), PROTO_ERROR_INVALID);
    assert_int_equal(resp_append_double(&buffer, 4, 1.0), PROTO_ERROR_INVALID);
    assert_int_equal(resp_append_verbatim(&buffer, 3, "text", "x", 1), PROTO_ERROR_INVALID);
    assert_int_equal(buffer.length, 0);
}

static void append_beyond_max_fails_and_changes_nothing(void **state)
{
    struct proto_buffer small;
    proto_buffer_init(&small, 10);
    assert_int_equal(resp_append_simple(&small, "OK", 2), PROTO_OK);           /* 5 bytes */
    assert_int_equal(resp_append_bulk(&small, "abc", 3), PROTO_ERROR_TOO_BIG); /* 9 more */
    assert_int_equal(small.length, 5);
    assert_memory_equal(small.data, "+OK\r\n", 5);
    assert_int_equal(resp_append_simple(&small, "OK", 2), PROTO_OK); /* exactly 10 */
    assert_int_equal(small.length, 10);
    assert_int_equal(proto_buffer_append(&small, "x", 1), PROTO_ERROR_TOO_BIG);
    proto_buffer_free(&small);
}

/* A reply assembled from many appends has a hole once one failed, even if later, smaller
 * ones succeed: the flag stays until the buffer is emptied, so the client layer can refuse to
 * send it. */
static void failed_append_is_remembered_until_the_buffer_is_emptied(void **state)
{
    struct proto_buffer small;
    proto_buffer_init(&small, 10);
    assert_false(small.append_failed);
    assert_int_equal(resp_append_array_header(&small, 2), PROTO_OK);           /* 4 bytes */
    assert_int_equal(resp_append_bulk(&small, "abc", 3), PROTO_ERROR_TOO_BIG); /* 9 more */
    assert_true(small.append_failed);
    assert_int_equal(resp_append_integer(&small, 1), PROTO_OK); /* fits, but the hole stays */
    assert_true(small.append_failed);
    proto_buffer_truncate(&small, 2);
    assert_true(small.append_failed);
    proto_buffer_truncate(&small, 0);
    assert_false(small.append_failed);
    assert_int_equal(proto_buffer_reserve(&small, 11), PROTO_ERROR_TOO_BIG);
    assert_true(small.append_failed);
    proto_buffer_free(&small);
    assert_false(small.append_failed);
    assert_false(buffer.append_failed);
}

static void consume_moves_the_rest_to_the_front(void **state)
{
    assert_int_equal(proto_buffer_append(&buffer, "abcdef", 6), PROTO_OK);
    proto_buffer_consume(&buffer, 4);
    ASSERT_BUFFER("ef");
    proto_buffer_consume(&buffer, 2);
    assert_int_equal(buffer.length, 0);
}

static void growth_keeps_earlier_bytes(void **state)
{
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(resp_append_integer(&buffer, i % 10), PROTO_OK);
    }
    assert_int_equal(buffer.length, 4000);
    assert_memory_equal(buffer.data + 3996, ":9\r\n", 4);
}

static void error_names_are_distinct(void **state)
{
    assert_string_equal(proto_error_string(PROTO_ERROR_TOO_BIG), "PROTO_ERROR_TOO_BIG");
    assert_string_equal(proto_error_string(PROTO_ERROR_AUTH), "PROTO_ERROR_AUTH");
    assert_string_equal(proto_error_string(12345), "unknown");
}

/* Every code in PROTO_ERRORS has its own text, and values beyond the list fall back. */
static void error_names_cover_every_code(void **state)
{
    (void)state;
    int lowest = 0;
#define PROTO_CHECK_CODE(name, value, text)                                                        \
    assert_int_equal(name, value);                                                                 \
    assert_true(text[0] != '\0');                                                                  \
    assert_string_not_equal(text, "unknown");                                                      \
    assert_string_equal(proto_error_string(value), text);                                          \
    lowest = value < lowest ? value : lowest;
    PROTO_ERRORS(PROTO_CHECK_CODE)
#undef PROTO_CHECK_CODE
    assert_string_equal(proto_error_string(lowest - 1), "unknown");
    assert_string_equal(proto_error_string(1), "unknown");
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(simple_string),
        TEST(error_reply),
        TEST(error_newlines_become_spaces),
        TEST(integers_including_extremes),
        TEST(bulk_string_is_binary_safe),
        TEST(empty_bulk_string),
        TEST(array_header),
        TEST(null_in_resp2_and_resp3),
        TEST(null_array_in_resp2_and_resp3),
        TEST(map_header_in_resp2_and_resp3),
        TEST(set_header_in_resp2_and_resp3),
        TEST(double_in_resp3),
        TEST(double_in_resp2_is_a_bulk_string),
        TEST(boolean_in_resp2_and_resp3),
        TEST(verbatim_in_resp3_and_resp2),
        TEST(unknown_version_is_invalid),
        TEST(append_beyond_max_fails_and_changes_nothing),
        TEST(failed_append_is_remembered_until_the_buffer_is_emptied),
        TEST(consume_moves_the_rest_to_the_front),
        TEST(growth_keeps_earlier_bytes),
        TEST(error_names_are_distinct),
        cmocka_unit_test(error_names_cover_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
