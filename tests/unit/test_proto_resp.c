/*
 * test_proto_resp.c — the RESP request parser, one behaviour per test.
 *
 * Each test feeds bytes the way a connection would (a buffer it compacts by *consumed) and
 * checks the arguments, the outcome, or Redis's exact error text. Split tests feed the same
 * bytes one byte per call and at every split point, and compare with a one-shot parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/resp.h"

enum { MAX_TEST_COMMANDS = 16, MAX_TEST_ARGUMENTS = 8, MAX_TEST_ARGUMENT_BYTES = 64 };

/* Parsed commands copied out of the parser, so that they outlive its next call. */
struct parsed {
    size_t command_count;
    size_t argc[MAX_TEST_COMMANDS];
    size_t length[MAX_TEST_COMMANDS][MAX_TEST_ARGUMENTS];
    char argv[MAX_TEST_COMMANDS][MAX_TEST_ARGUMENTS][MAX_TEST_ARGUMENT_BYTES];
    int final_rc;    /* RESP_NEED_MORE or the error */
    size_t leftover; /* bytes not consumed at the end */
    char error[RESP_ERROR_MESSAGE_BYTES];
};

static void record(struct parsed *out, const struct resp_command *command)
{
    assert_true(out->command_count < MAX_TEST_COMMANDS);
    assert_true(command->argc <= MAX_TEST_ARGUMENTS);
    size_t n = out->command_count++;
    out->argc[n] = command->argc;
    for (size_t i = 0; i < command->argc; i++) {
        assert_true(command->argv[i].length <= MAX_TEST_ARGUMENT_BYTES);
        out->length[n][i] = command->argv[i].length;
        memcpy(out->argv[n][i], command->argv[i].data, command->argv[i].length);
    }
}

/* Feeds `input` in pieces of at most `step` bytes (0 = all at once), as a connection would:
 * bytes accumulate in a buffer from which consumed bytes are dropped. */
static void parse_stepwise(const struct resp_limits *limits, const char *input, size_t length,
                           size_t step, struct parsed *out)
{
    memset(out, 0, sizeof *out);
    struct resp_parser parser;
    assert_int_equal(resp_parser_init(&parser, limits), PROTO_OK);
    char *buffer = malloc(length + 1);
    assert_non_null(buffer);
    size_t buffered = 0;
    size_t fed = 0;
    int rc = RESP_NEED_MORE;
    while (rc >= 0 && (fed < length || rc == RESP_COMMAND)) {
        size_t piece = step == 0 || length - fed < step ? length - fed : step;
        memcpy(buffer + buffered, input + fed, piece);
        buffered += piece;
        fed += piece;
        do {
            size_t consumed = 0;
            struct resp_command command;
            rc = resp_parse(&parser, buffer, buffered, &consumed, &command);
            if (rc == RESP_COMMAND) {
                record(out, &command);
            }
            assert_true(consumed <= buffered);
            memmove(buffer, buffer + consumed, buffered - consumed);
            buffered -= consumed;
        } while (rc == RESP_COMMAND);
    }
    out->final_rc = rc;
    out->leftover = buffered;
    snprintf(out->error, sizeof out->error, "%s", resp_parser_error(&parser));
    free(buffer);
    resp_parser_free(&parser);
}

static void parse_text(const char *input, struct parsed *out)
{
    parse_stepwise(NULL, input, strlen(input), 0, out);
}

static void assert_argument(const struct parsed *out, size_t command, size_t index,
                            const char *expected, size_t expected_length)
{
    assert_int_equal(out->length[command][index], expected_length);
    assert_memory_equal(out->argv[command][index], expected, expected_length);
}

static void assert_parsed_equal(const struct parsed *a, const struct parsed *b)
{
    assert_int_equal(a->command_count, b->command_count);
    assert_int_equal(a->final_rc, b->final_rc);
    if (a->final_rc >= 0) {
        assert_int_equal(a->leftover, b->leftover); /* after an error, bytes are discarded */
    }
    assert_string_equal(a->error, b->error);
    for (size_t c = 0; c < a->command_count; c++) {
        assert_int_equal(a->argc[c], b->argc[c]);
        for (size_t i = 0; i < a->argc[c]; i++) {
            assert_int_equal(a->length[c][i], b->length[c][i]);
            assert_memory_equal(a->argv[c][i], b->argv[c][i], a->length[c][i]);
        }
    }
}

static void assert_protocol_error(const char *input, const char *text)
{
    struct parsed out;
    parse_text(input, &out);
    assert_int_equal(out.final_rc, PROTO_ERROR_PROTOCOL);
    assert_string_equal(out.error, text);
}

static void multibulk_command_parses(void **state)
{
    struct parsed out;
    parse_text("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", &out);
    assert_int_equal(out.command_count, 1);
    assert_int_equal(out.argc[0], 3);
    assert_argument(&out, 0, 0, "SET", 3);
    assert_argument(&out, 0, 1, "key", 3);
    assert_argument(&out, 0, 2, "value", 5);
    assert_int_equal(out.final_rc, RESP_NEED_MORE);
    assert_int_equal(out.leftover, 0);
}

static void multibulk_arguments_point_into_the_input(void **state)
{
    static const char input[] = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    struct resp_parser parser;
    assert_int_equal(resp_parser_init(&parser, NULL), PROTO_OK);
    struct resp_command command;
    size_t consumed = 0;
    assert_int_equal(resp_parse(&parser, input, strlen(input), &consumed, &command), RESP_COMMAND);
    assert_int_equal(consumed, strlen(input));
    assert_ptr_equal(command.argv[0].data, input + 8);
    assert_ptr_equal(command.argv[1].data, input + 17);
    assert_false(command.inline_request);
    resp_parser_free(&parser);
}

static void binary_bulk_with_crlf_and_nul_is_kept(void **state)
{
    static const char input[] = "*1\r\n$4\r\na\r\0b\r\n";
    struct parsed out;
    parse_stepwise(NULL, input, sizeof input - 1, 0, &out);
    assert_int_equal(out.command_count, 1);
    assert_argument(&out, 0, 0, "a\r\0b", 4);
}

static void empty_bulk_is_an_empty_argument(void **state)
{
    struct parsed out;
    parse_text("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", &out);
    assert_int_equal(out.command_count, 1);
    assert_argument(&out, 0, 1, "", 0);
}

static void pipeline_parses_commands_in_order(void **state)
{
    struct parsed out;
    parse_text("*1\r\n$4\r\nPING\r\nECHO hi\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nQU", &out);
    assert_int_equal(out.command_count, 3);
    assert_argument(&out, 0, 0, "PING", 4);
    assert_argument(&out, 1, 0, "ECHO", 4);
    assert_argument(&out, 1, 1, "hi", 2);
    assert_argument(&out, 2, 1, "k", 1);
    assert_int_equal(out.final_rc, RESP_NEED_MORE);
    assert_int_equal(out.leftover, strlen("*1\r\n$4\r\nQU"));
}

static const char *const split_inputs[] = {
    "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\n0123456789\r\n",
    "PING\r\nSET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n\r\n*0\r\n*1\r\n$1\r\nx\r\n",
    "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*-1\r\nGET k\n",
    "*1\r\n$3\r\nabc\r\n*1\r\nx\r\n",
    "GET \"unterminated\r\n",
};

static void one_byte_at_a_time_equals_one_shot(void **state)
{
    for (size_t i = 0; i < sizeof split_inputs / sizeof split_inputs[0]; i++) {
        struct parsed whole;
        struct parsed trickled;
        parse_stepwise(NULL, split_inputs[i], strlen(split_inputs[i]), 0, &whole);
        parse_stepwise(NULL, split_inputs[i], strlen(split_inputs[i]), 1, &trickled);
        assert_parsed_equal(&whole, &trickled);
    }
}

/* Two reads split at every byte boundary. */
static void every_split_point_equals_one_shot(void **state)
{
    for (size_t i = 0; i < sizeof split_inputs / sizeof split_inputs[0]; i++) {
        const char *input = split_inputs[i];
        size_t length = strlen(input);
        struct parsed whole;
        parse_stepwise(NULL, input, length, 0, &whole);
        for (size_t split = 1; split < length; split++) {
            struct parsed two_reads;
            parse_stepwise(NULL, input, length, split, &two_reads);
            assert_parsed_equal(&whole, &two_reads);
        }
    }
}

static void partial_request_needs_more(void **state)
{
    struct parsed out;
    parse_text("*2\r\n$3\r\nGET\r\n$1\r\n", &out);
    assert_int_equal(out.command_count, 0);
    assert_int_equal(out.final_rc, RESP_NEED_MORE);
    assert_int_equal(out.leftover, strlen("*2\r\n$3\r\nGET\r\n$1\r\n"));
}

static void no_bytes_at_all_needs_more(void **state)
{
    struct resp_parser parser;
    assert_int_equal(resp_parser_init(&parser, NULL), PROTO_OK);
    struct resp_command command;
    size_t consumed = 1;
    assert_int_equal(resp_parse(&parser, NULL, 0, &consumed, &command), RESP_NEED_MORE);
    assert_int_equal(consumed, 0);
    resp_parser_free(&parser);
}

static void empty_requests_are_skipped_and_consumed(void **state)
{
    struct parsed out;
    parse_text("\r\n   \r\n*0\r\n*-1\r\n\n", &out);
    assert_int_equal(out.command_count, 0);
    assert_int_equal(out.final_rc, RESP_NEED_MORE);
    assert_int_equal(out.leftover, 0);
}

static void inline_command_splits_on_blanks(void **state)
{
    struct parsed out;
    parse_text("  SET\tkey   value \r\n", &out);
    assert_int_equal(out.command_count, 1);
    assert_int_equal(out.argc[0], 3);
    assert_argument(&out, 0, 0, "SET", 3);
    assert_argument(&out, 0, 1, "key", 3);
    assert_argument(&out, 0, 2, "value", 5);
}

static void inline_command_ends_at_bare_newline(void **state)
{
    struct parsed out;
    parse_text("PING\nPING\n", &out);
    assert_int_equal(out.command_count, 2);
    assert_int_equal(out.leftover, 0);
}

static void inline_double_quotes_unescape(void **state)
{
    struct parsed out;
    parse_text("SET \"a b\" \"\\x41\\x4a\\n\\r\\t\\b\\a\\\"\\q\"\r\n", &out);
    assert_int_equal(out.command_count, 1);
    assert_argument(&out, 0, 1, "a b", 3);
    assert_argument(&out, 0, 2, "AJ\n\r\t\b\a\"q", 9);
}

static void inline_single_quotes_keep_backslashes(void **state)
{
    struct parsed out;
    parse_text("SET 'it\\'s' 'a\\nb'\r\n", &out);
    assert_argument(&out, 0, 1, "it's", 4);
    assert_argument(&out, 0, 2, "a\\nb", 4);
}

static void inline_empty_quotes_are_an_empty_argument(void **state)
{
    struct parsed out;
    parse_text("SET k \"\"\r\n", &out);
    assert_int_equal(out.argc[0], 3);
    assert_argument(&out, 0, 2, "", 0);
}

static void inline_quote_may_open_inside_an_argument(void **state)
{
    struct parsed out;
    parse_text("SET ab\"c d\"\r\n", &out);
    assert_int_equal(out.argc[0], 2);
    assert_argument(&out, 0, 1, "abc d", 5);
}

static void inline_invalid_hex_escape_is_literal(void **state)
{
    struct parsed out;
    parse_text("ECHO \"\\xZZ\"\r\n", &out);
    assert_argument(&out, 0, 1, "xZZ", 3);
}

static void inline_line_ends_at_nul(void **state)
{
    static const char input[] = "GET k\0ignored\r\nPING\r\n";
    struct parsed out;
    parse_stepwise(NULL, input, sizeof input - 1, 0, &out);
    assert_int_equal(out.command_count, 2);
    assert_int_equal(out.argc[0], 2);
    assert_argument(&out, 0, 1, "k", 1);
    assert_argument(&out, 1, 0, "PING", 4);
}

static void inline_arguments_are_flagged(void **state)
{
    struct resp_parser parser;
    assert_int_equal(resp_parser_init(&parser, NULL), PROTO_OK);
    struct resp_command command;
    size_t consumed = 0;
    assert_int_equal(resp_parse(&parser, "PING\r\n", 6, &consumed, &command), RESP_COMMAND);
    assert_true(command.inline_request);
    assert_int_equal(consumed, 6);
    resp_parser_free(&parser);
}

static void error_invalid_multibulk_length(void **state)
{
    assert_protocol_error("*abc\r\n", "Protocol error: invalid multibulk length");
    assert_protocol_error("*\r\n", "Protocol error: invalid multibulk length");
    assert_protocol_error("*01\r\n", "Protocol error: invalid multibulk length");
    assert_protocol_error("*+1\r\n", "Protocol error: invalid multibulk length");
    assert_protocol_error("*99999999999999999999\r\n", "Protocol error: invalid multibulk length");
}

static void error_invalid_bulk_length(void **state)
{
    assert_protocol_error("*1\r\n$-1\r\n", "Protocol error: invalid bulk length");
    assert_protocol_error("*1\r\n$x\r\n", "Protocol error: invalid bulk length");
    assert_protocol_error("*1\r\n$\r\n", "Protocol error: invalid bulk length");
    assert_protocol_error("*1\r\n$1 \r\n", "Protocol error: invalid bulk length");
}

static void error_expected_dollar(void **state)
{
    assert_protocol_error("*1\r\n:1\r\n", "Protocol error: expected '$', got ':'");
    assert_protocol_error("*2\r\n$1\r\na\r\nx\r\n", "Protocol error: expected '$', got 'x'");
}

static void error_expected_dollar_never_carries_a_newline(void **state)
{
    assert_protocol_error("*1\r\n\r\r\n", "Protocol error: expected '$', got ' '");
}

static void error_unbalanced_quotes(void **state)
{
    assert_protocol_error("SET \"abc\r\n", "Protocol error: unbalanced quotes in request");
    assert_protocol_error("SET 'abc\r\n", "Protocol error: unbalanced quotes in request");
    assert_protocol_error("SET \"a\"b\r\n", "Protocol error: unbalanced quotes in request");
    assert_protocol_error("SET 'a'b\r\n", "Protocol error: unbalanced quotes in request");
}

static char *repeat(char c, size_t count, const char *prefix, const char *suffix)
{
    size_t prefix_bytes = strlen(prefix);
    size_t suffix_bytes = strlen(suffix);
    char *text = malloc(prefix_bytes + count + suffix_bytes + 1);
    assert_non_null(text);
    memcpy(text, prefix, prefix_bytes);
    memset(text + prefix_bytes, c, count);
    memcpy(text + prefix_bytes + count, suffix, suffix_bytes + 1);
    return text;
}

static void error_too_big_inline_request(void **state)
{
    char *text = repeat('a', RESP_DEFAULT_MAX_INLINE_BYTES + 1, "", "");
    assert_protocol_error(text, "Protocol error: too big inline request");
    free(text);
}

static void error_too_big_mbulk_count_string(void **state)
{
    char *text = repeat('1', RESP_DEFAULT_MAX_INLINE_BYTES, "*", "");
    assert_protocol_error(text, "Protocol error: too big mbulk count string");
    free(text);
}

static void error_too_big_bulk_count_string(void **state)
{
    char *text = repeat('1', RESP_DEFAULT_MAX_INLINE_BYTES, "*1\r\n$", "");
    assert_protocol_error(text, "Protocol error: too big bulk count string");
    free(text);
}

static void error_is_sticky_until_reset(void **state)
{
    struct resp_parser parser;
    assert_int_equal(resp_parser_init(&parser, NULL), PROTO_OK);
    struct resp_command command;
    size_t consumed = 0;
    assert_int_equal(resp_parse(&parser, "*x\r\n", 4, &consumed, &command), PROTO_ERROR_PROTOCOL);
    assert_int_equal(resp_parse(&parser, "PING\r\n", 6, &consumed, &command), PROTO_ERROR_PROTOCOL);
    resp_parser_reset(&parser);
    assert_string_equal(resp_parser_error(&parser), "");
    assert_int_equal(resp_parse(&parser, "PING\r\n", 6, &consumed, &command), RESP_COMMAND);
    resp_parser_free(&parser);
}

static const struct resp_limits small_limits = {
    .max_bulk_bytes = 10,
    .max_array_length = 3,
    .max_inline_bytes = 16,
};

static void assert_limited(const char *input, int expected_rc, const char *expected_error)
{
    struct parsed out;
    parse_stepwise(&small_limits, input, strlen(input), 0, &out);
    assert_int_equal(out.final_rc, expected_rc);
    assert_string_equal(out.error, expected_error);
    struct parsed trickled;
    parse_stepwise(&small_limits, input, strlen(input), 1, &trickled);
    assert_parsed_equal(&out, &trickled);
}

static void bulk_of_exactly_max_bytes_parses(void **state)
{
    assert_limited("*1\r\n$10\r\n0123456789\r\n", RESP_NEED_MORE, "");
}

static void bulk_of_max_plus_one_bytes_fails(void **state)
{
    assert_limited("*1\r\n$11\r\n", PROTO_ERROR_PROTOCOL, "Protocol error: invalid bulk length");
}

static void array_of_exactly_max_length_parses(void **state)
{
    assert_limited("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", RESP_NEED_MORE, "");
}

static void array_of_max_plus_one_fails(void **state)
{
    assert_limited("*4\r\n", PROTO_ERROR_PROTOCOL, "Protocol error: invalid multibulk length");
}

static void inline_of_exactly_max_bytes_parses(void **state)
{
    assert_limited("ECHO 01234567890\r\n", RESP_NEED_MORE, ""); /* 16 bytes + CRLF */
    assert_limited("ECHO 01234567890\n", RESP_NEED_MORE, "");
}

static void inline_of_max_plus_one_bytes_fails(void **state)
{
    const char *error = "Protocol error: too big inline request";
    assert_limited("ECHO 012345678901\r\n", PROTO_ERROR_PROTOCOL, error);
    assert_limited("ECHO 012345678901", PROTO_ERROR_PROTOCOL, error);
}

static void inline_of_max_bytes_waits_for_its_newline(void **state)
{
    assert_limited("ECHO 01234567890\r", RESP_NEED_MORE, "");
}

static void count_line_of_exactly_max_bytes_parses(void **state)
{
    /* 16-byte count lines are not "too big"; their leading zeros make them invalid. */
    assert_limited("*000000000000003\r\n", PROTO_ERROR_PROTOCOL,
                   "Protocol error: invalid multibulk length");
    assert_limited("*1\r\n$000000000000001\r\n", PROTO_ERROR_PROTOCOL,
                   "Protocol error: invalid bulk length");
}

static void count_line_of_max_plus_one_bytes_fails(void **state)
{
    assert_limited("*0000000000000003", PROTO_ERROR_PROTOCOL,
                   "Protocol error: too big mbulk count string");
    assert_limited("*1\r\n$0000000000000001", PROTO_ERROR_PROTOCOL,
                   "Protocol error: too big bulk count string");
}

static void init_rejects_zero_limits(void **state)
{
    struct resp_parser parser;
    struct resp_limits limits = small_limits;
    limits.max_array_length = 0;
    assert_int_equal(resp_parser_init(&parser, &limits), PROTO_ERROR_INVALID);
    limits = small_limits;
    limits.max_bulk_bytes = RESP_MAX_BULK_BYTES_CEILING + 1;
    assert_int_equal(resp_parser_init(&parser, &limits), PROTO_ERROR_INVALID);
}

static void many_arguments_grow_the_array(void **state)
{
    struct resp_parser parser;
    assert_int_equal(resp_parser_init(&parser, NULL), PROTO_OK);
    enum { COUNT = 1000 };
    char *input = malloc(COUNT * 16 + 16);
    assert_non_null(input);
    size_t length = (size_t)sprintf(input, "*%d\r\n", COUNT);
    for (int i = 0; i < COUNT; i++) {
        length += (size_t)sprintf(input + length, "$%d\r\n%d\r\n", i < 10 ? 1 : i < 100 ? 2 : 3, i);
    }
    struct resp_command command;
    size_t consumed = 0;
    assert_int_equal(resp_parse(&parser, input, length, &consumed, &command), RESP_COMMAND);
    assert_int_equal(command.argc, COUNT);
    assert_int_equal(consumed, length);
    assert_memory_equal(command.argv[999].data, "999", 3);
    free(input);
    resp_parser_free(&parser);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multibulk_command_parses),
        cmocka_unit_test(multibulk_arguments_point_into_the_input),
        cmocka_unit_test(binary_bulk_with_crlf_and_nul_is_kept),
        cmocka_unit_test(empty_bulk_is_an_empty_argument),
        cmocka_unit_test(pipeline_parses_commands_in_order),
        cmocka_unit_test(one_byte_at_a_time_equals_one_shot),
        cmocka_unit_test(every_split_point_equals_one_shot),
        cmocka_unit_test(partial_request_needs_more),
        cmocka_unit_test(no_bytes_at_all_needs_more),
        cmocka_unit_test(empty_requests_are_skipped_and_consumed),
        cmocka_unit_test(inline_command_splits_on_blanks),
        cmocka_unit_test(inline_command_ends_at_bare_newline),
        cmocka_unit_test(inline_double_quotes_unescape),
        cmocka_unit_test(inline_single_quotes_keep_backslashes),
        cmocka_unit_test(inline_empty_quotes_are_an_empty_argument),
        cmocka_unit_test(inline_quote_may_open_inside_an_argument),
        cmocka_unit_test(inline_invalid_hex_escape_is_literal),
        cmocka_unit_test(inline_line_ends_at_nul),
        cmocka_unit_test(inline_arguments_are_flagged),
        cmocka_unit_test(error_invalid_multibulk_length),
        cmocka_unit_test(error_invalid_bulk_length),
        cmocka_unit_test(error_expected_dollar),
        cmocka_unit_test(error_expected_dollar_never_carries_a_newline),
        cmocka_unit_test(error_unbalanced_quotes),
        cmocka_unit_test(error_too_big_inline_request),
        cmocka_unit_test(error_too_big_mbulk_count_string),
        cmocka_unit_test(error_too_big_bulk_count_string),
        cmocka_unit_test(error_is_sticky_until_reset),
        cmocka_unit_test(bulk_of_exactly_max_bytes_parses),
        cmocka_unit_test(bulk_of_max_plus_one_bytes_fails),
        cmocka_unit_test(array_of_exactly_max_length_parses),
        cmocka_unit_test(array_of_max_plus_one_fails),
        cmocka_unit_test(inline_of_exactly_max_bytes_parses),
        cmocka_unit_test(inline_of_max_plus_one_bytes_fails),
        cmocka_unit_test(inline_of_max_bytes_waits_for_its_newline),
        cmocka_unit_test(count_line_of_exactly_max_bytes_parses),
        cmocka_unit_test(count_line_of_max_plus_one_bytes_fails),
        cmocka_unit_test(init_rejects_zero_limits),
        cmocka_unit_test(many_arguments_grow_the_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
