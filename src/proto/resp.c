/*
 * resp.c — the incremental RESP request parser (see resp.h for the contract).
 *
 * Happy path: resp_parse() looks at the first byte of a request: '*' starts a multibulk
 * request, parsed as a count line "*N\r\n" and N bulks "$L\r\n<L bytes>\r\n"; anything else
 * is an inline line up to "\n", split with Redis's quoting rules into the parser's scratch
 * buffer. Progress through a partial request is kept in the parser as offsets from the
 * request's first byte, so a later call resumes where the last stopped and never re-reads a
 * completed bulk; the search for a line's end also resumes (line_scanned), so bytes trickling
 * in one at a time cost linear, not quadratic, time.
 *
 * Failure modes: every count is parsed strictly (Redis's string2ll: no sign but '-', no
 * leading zeros, no spaces) and bounded by a named limit before it is used; an error sets
 * Redis's text in parser->error and makes the parser fail until reset.
 *
 * Why the line limits are applied to a window rather than to what happens to be buffered:
 * Redis fails "too big inline request" only when it has buffered more than 64 KiB without a
 * newline, so whether a long line passes depends on how it was split into reads. Here a line
 * fails exactly when its length exceeds the limit, wherever the reads were split; a split
 * parse therefore always equals a one-shot parse (which fuzz_resp checks).
 */
#include "proto/resp.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RESP_INITIAL_ARGUMENTS = 8 };

/* Internal outcome: a request with no arguments was skipped. */
enum { RESP_EMPTY = 2 };

static const char error_multibulk_length[] = "Protocol error: invalid multibulk length";
static const char error_bulk_length[] = "Protocol error: invalid bulk length";
static const char error_inline_too_big[] = "Protocol error: too big inline request";
static const char error_unbalanced[] = "Protocol error: unbalanced quotes in request";
static const char error_mbulk_too_big[] = "Protocol error: too big mbulk count string";
static const char error_bulk_too_big[] = "Protocol error: too big bulk count string";

void resp_limits_default(struct resp_limits *limits)
{
    limits->max_bulk_bytes = RESP_DEFAULT_MAX_BULK_BYTES;
    limits->max_array_length = RESP_DEFAULT_MAX_ARRAY_LENGTH;
    limits->max_inline_bytes = RESP_DEFAULT_MAX_INLINE_BYTES;
}

static void clear_request(struct resp_parser *parser)
{
    parser->phase = RESP_PHASE_START;
    parser->position = 0;
    parser->line_scanned = 0;
    parser->remaining_arguments = 0;
    parser->bulk_length = 0;
    parser->argc = 0;
}

int resp_parser_init(struct resp_parser *parser, const struct resp_limits *limits)
{
    assert(parser != NULL);
    memset(parser, 0, sizeof *parser);
    if (limits == NULL) {
        resp_limits_default(&parser->limits);
    } else {
        parser->limits = *limits;
    }
    if (parser->limits.max_bulk_bytes == 0 || parser->limits.max_array_length == 0 ||
        parser->limits.max_inline_bytes == 0 ||
        parser->limits.max_bulk_bytes > RESP_MAX_BULK_BYTES_CEILING) {
        return PROTO_ERROR_INVALID;
    }
    clear_request(parser);
    return PROTO_OK;
}

void resp_parser_free(struct resp_parser *parser)
{
    free(parser->spans);
    free(parser->argv);
    free(parser->scratch);
    parser->spans = NULL;
    parser->argv = NULL;
    parser->scratch = NULL;
    parser->argument_capacity = 0;
    parser->scratch_capacity = 0;
    clear_request(parser);
}

void resp_parser_reset(struct resp_parser *parser)
{
    clear_request(parser);
    parser->failed = false;
    parser->error[0] = '\0';
}

const char *resp_parser_error(const struct resp_parser *parser)
{
    return parser->error;
}

static int fail(struct resp_parser *parser, const char *text)
{
    snprintf(parser->error, sizeof parser->error, "%s", text);
    return PROTO_ERROR_PROTOCOL;
}

/* Redis's string2ll: an optional '-', then "0" alone or a digit 1-9 and more digits. */
static bool parse_integer(const char *text, size_t length, int64_t *value)
{
    size_t i = 0;
    bool negative = false;
    if (length == 1 && text[0] == '0') {
        *value = 0;
        return true;
    }
    if (length > 0 && text[0] == '-') {
        negative = true;
        i = 1;
    }
    if (i >= length || text[i] < '1' || text[i] > '9') {
        return false;
    }
    uint64_t magnitude = 0;
    for (; i < length; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(text[i] - '0');
        if (magnitude > (UINT64_MAX - digit) / 10) {
            return false;
        }
        magnitude = magnitude * 10 + digit;
    }
    if (negative) {
        if (magnitude > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *value = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
        return true;
    }
    if (magnitude > (uint64_t)INT64_MAX) {
        return false;
    }
    *value = (int64_t)magnitude;
    return true;
}

static int grow_arguments(struct resp_parser *parser)
{
    size_t capacity =
        parser->argument_capacity == 0 ? RESP_INITIAL_ARGUMENTS : parser->argument_capacity * 2;
    struct resp_span *spans = realloc(parser->spans, capacity * sizeof *spans);
    if (spans == NULL) {
        return PROTO_ERROR_NO_MEMORY;
    }
    parser->spans = spans;
    struct resp_argument *argv = realloc(parser->argv, capacity * sizeof *argv);
    if (argv == NULL) {
        return PROTO_ERROR_NO_MEMORY;
    }
    parser->argv = argv;
    parser->argument_capacity = capacity;
    return PROTO_OK;
}

static int add_span(struct resp_parser *parser, size_t offset, size_t length)
{
    if (parser->argc == parser->argument_capacity) {
        int rc = grow_arguments(parser);
        if (rc != PROTO_OK) {
            snprintf(parser->error, sizeof parser->error, "out of memory");
            return rc;
        }
    }
    assert(parser->argc < parser->argument_capacity);
    parser->spans[parser->argc].offset = offset;
    parser->spans[parser->argc].length = length;
    parser->argc++;
    return PROTO_OK;
}

/*
 * Finds the '\r' that ends a count line starting at parser->position. Returns 1 with
 * *line_bytes (from position to the '\r') once the line and the byte after '\r' are
 * buffered, RESP_NEED_MORE before that, or the protocol error `too_big` when no '\r' occurs
 * within max_inline_bytes + 1 bytes (Redis counts the '*' or '$' in the line, so do we).
 */
static int find_count_line(struct resp_parser *parser, const char *data, size_t length,
                           const char *too_big, size_t *line_bytes)
{
    assert(parser->position <= length);
    size_t available = length - parser->position;
    size_t window = (size_t)parser->limits.max_inline_bytes + 1;
    if (window > available) {
        window = available;
    }
    const char *line = data + parser->position;
    assert(parser->line_scanned <= window);
    const char *end = memchr(line + parser->line_scanned, '\r', window - parser->line_scanned);
    if (end == NULL) {
        parser->line_scanned = window;
        if (available > parser->limits.max_inline_bytes) {
            return fail(parser, too_big);
        }
        return RESP_NEED_MORE;
    }
    size_t found = (size_t)(end - line);
    parser->line_scanned = found;
    if (found + 2 > available) {
        return RESP_NEED_MORE; /* the byte after '\r' has not arrived */
    }
    *line_bytes = found;
    return 1;
}

static int parse_multibulk_count(struct resp_parser *parser, const char *data, size_t length,
                                 size_t *used)
{
    size_t line_bytes = 0;
    int rc = find_count_line(parser, data, length, error_mbulk_too_big, &line_bytes);
    if (rc != 1) {
        return rc;
    }
    const char *line = data + parser->position;
    assert(line[0] == '*');
    int64_t count = 0;
    if (!parse_integer(line + 1, line_bytes - 1, &count) ||
        count > (int64_t)parser->limits.max_array_length) {
        return fail(parser, error_multibulk_length);
    }
    parser->position += line_bytes + 2;
    parser->line_scanned = 0;
    if (count <= 0) {
        *used = parser->position;
        return RESP_EMPTY;
    }
    parser->remaining_arguments = (uint64_t)count;
    parser->phase = RESP_PHASE_BULK_HEADER;
    return RESP_NEED_MORE;
}

static int parse_bulk_header(struct resp_parser *parser, const char *data, size_t length)
{
    size_t line_bytes = 0;
    int rc = find_count_line(parser, data, length, error_bulk_too_big, &line_bytes);
    if (rc != 1) {
        return rc;
    }
    const char *line = data + parser->position;
    if (line[0] != '$') {
        /* Redis prints the byte as is, with "\r" and "\n" turned to spaces; so do we, and a
         * NUL too, which would otherwise cut the text short. */
        char got = line[0] == '\r' || line[0] == '\n' || line[0] == '\0' ? ' ' : line[0];
        snprintf(parser->error, sizeof parser->error, "Protocol error: expected '$', got '%c'",
                 got);
        return PROTO_ERROR_PROTOCOL;
    }
    int64_t bulk_length = 0;
    if (!parse_integer(line + 1, line_bytes - 1, &bulk_length) || bulk_length < 0 ||
        (uint64_t)bulk_length > parser->limits.max_bulk_bytes) {
        return fail(parser, error_bulk_length);
    }
    parser->position += line_bytes + 2;
    parser->line_scanned = 0;
    parser->bulk_length = (uint64_t)bulk_length;
    parser->phase = RESP_PHASE_BULK_DATA;
    return RESP_NEED_MORE;
}

/* Runs the multibulk phases as far as the buffered bytes allow. */
static int parse_multibulk(struct resp_parser *parser, const char *data, size_t length,
                           size_t *used)
{
    for (;;) {
        int rc;
        switch (parser->phase) {
        case RESP_PHASE_MULTIBULK_COUNT:
            rc = parse_multibulk_count(parser, data, length, used);
            if (rc != RESP_NEED_MORE || parser->phase == RESP_PHASE_MULTIBULK_COUNT) {
                return rc;
            }
            break;
        case RESP_PHASE_BULK_HEADER:
            rc = parse_bulk_header(parser, data, length);
            if (rc != RESP_NEED_MORE || parser->phase == RESP_PHASE_BULK_HEADER) {
                return rc;
            }
            break;
        case RESP_PHASE_BULK_DATA:
            assert(parser->bulk_length <= RESP_MAX_BULK_BYTES_CEILING);
            if (length - parser->position < parser->bulk_length + 2) {
                return RESP_NEED_MORE;
            }
            rc = add_span(parser, parser->position, (size_t)parser->bulk_length);
            if (rc != PROTO_OK) {
                return rc;
            }
            parser->position += (size_t)parser->bulk_length + 2;
            parser->remaining_arguments--;
            if (parser->remaining_arguments == 0) {
                *used = parser->position;
                return RESP_COMMAND;
            }
            parser->phase = RESP_PHASE_BULK_HEADER;
            break;
        default:
            assert(false);
            return PROTO_ERROR_INVALID;
        }
    }
}

/* isspace() in the C locale, which sdssplitargs uses between arguments. */
static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The inline line as sdssplitargs sees it: a C string, so reading at its end gives NUL. */
struct inline_line {
    const char *text;
    size_t length;
};

static char line_at(const struct inline_line *line, size_t index)
{
    return index < line->length ? line->text[index] : '\0';
}

static char unescape(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return c;
    }
}

/*
 * Reads one argument starting at *index into scratch at *out, by Redis's sdssplitargs rules:
 * unquoted bytes run to a space, tab, CR or LF; a double or single quote may open anywhere in
 * an argument and must close before the line ends, and be followed by a blank or the end.
 * Returns false for unbalanced quotes.
 */
static bool split_one(const struct inline_line *line, size_t *index, char *scratch, size_t *out)
{
    size_t i = *index;
    bool in_double = false;
    bool in_single = false;
    for (bool done = false; !done;) {
        char c = line_at(line, i);
        if (in_double) {
            if (c == '\\' && line_at(line, i + 1) == 'x' && hex_value(line_at(line, i + 2)) >= 0 &&
                hex_value(line_at(line, i + 3)) >= 0) {
                scratch[(*out)++] =
                    (char)(hex_value(line_at(line, i + 2)) * 16 + hex_value(line_at(line, i + 3)));
                i += 3;
            } else if (c == '\\' && line_at(line, i + 1) != '\0') {
                i++;
                scratch[(*out)++] = unescape(line_at(line, i));
            } else if (c == '"') {
                if (line_at(line, i + 1) != '\0' && !is_blank(line_at(line, i + 1))) {
                    return false;
                }
                done = true;
            } else if (c == '\0') {
                return false;
            } else {
                scratch[(*out)++] = c;
            }
        } else if (in_single) {
            if (c == '\\' && line_at(line, i + 1) == '\'') {
                i++;
                scratch[(*out)++] = '\'';
            } else if (c == '\'') {
                if (line_at(line, i + 1) != '\0' && !is_blank(line_at(line, i + 1))) {
                    return false;
                }
                done = true;
            } else if (c == '\0') {
                return false;
            } else {
                scratch[(*out)++] = c;
            }
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0') {
            done = true;
        } else if (c == '"') {
            in_double = true;
        } else if (c == '\'') {
            in_single = true;
        } else {
            scratch[(*out)++] = c;
        }
        if (line_at(line, i) != '\0') {
            i++;
        }
    }
    *index = i;
    return true;
}

/* Splits a whole line into scratch; the unescaped arguments never outgrow the line. */
static int split_inline(struct resp_parser *parser, const struct inline_line *line)
{
    if (parser->scratch_capacity < line->length) {
        char *scratch = realloc(parser->scratch, line->length);
        if (scratch == NULL) {
            snprintf(parser->error, sizeof parser->error, "out of memory");
            return PROTO_ERROR_NO_MEMORY;
        }
        parser->scratch = scratch;
        parser->scratch_capacity = line->length;
    }
    size_t i = 0;
    size_t out = 0;
    for (;;) {
        while (i < line->length && is_blank(line->text[i])) {
            i++;
        }
        if (i == line->length) {
            return PROTO_OK;
        }
        size_t start = out;
        if (!split_one(line, &i, parser->scratch, &out)) {
            return fail(parser, error_unbalanced);
        }
        assert(out <= line->length);
        int rc = add_span(parser, start, out - start);
        if (rc != PROTO_OK) {
            return rc;
        }
    }
}

static int parse_inline(struct resp_parser *parser, const char *data, size_t length, size_t *used)
{
    size_t limit = parser->limits.max_inline_bytes;
    size_t window = limit + 2; /* the longest line with its "\r\n" */
    if (window > length) {
        window = length;
    }
    assert(parser->line_scanned <= window);
    const char *newline = memchr(data + parser->line_scanned, '\n', window - parser->line_scanned);
    if (newline == NULL) {
        parser->line_scanned = window;
        size_t pending = window;
        if (pending > 0 && data[pending - 1] == '\r') {
            pending--; /* may yet be the "\r" of "\r\n" */
        }
        return pending > limit ? fail(parser, error_inline_too_big) : RESP_NEED_MORE;
    }
    size_t line_bytes = (size_t)(newline - data);
    *used = line_bytes + 1;
    if (line_bytes > 0 && data[line_bytes - 1] == '\r') {
        line_bytes--;
    }
    if (line_bytes > limit) {
        return fail(parser, error_inline_too_big);
    }
    struct inline_line line = {.text = data, .length = strnlen(data, line_bytes)};
    int rc = split_inline(parser, &line);
    if (rc != PROTO_OK) {
        return rc;
    }
    return parser->argc == 0 ? RESP_EMPTY : RESP_COMMAND;
}

static void fill_command(struct resp_parser *parser, const char *data, struct resp_command *command)
{
    bool inline_request = parser->phase == RESP_PHASE_INLINE;
    const char *origin = inline_request ? parser->scratch : data;
    assert(parser->argc > 0);
    for (size_t i = 0; i < parser->argc; i++) {
        parser->argv[i].data = origin + parser->spans[i].offset;
        parser->argv[i].length = parser->spans[i].length;
    }
    command->argc = parser->argc;
    command->argv = parser->argv;
    command->inline_request = inline_request;
}

int resp_parse(struct resp_parser *parser, const char *data, size_t length, size_t *consumed,
               struct resp_command *command)
{
    assert(data != NULL || length == 0);
    *consumed = 0;
    command->argc = 0;
    command->argv = NULL;
    command->inline_request = false;
    if (parser->failed) {
        return PROTO_ERROR_PROTOCOL;
    }
    if (length == 0) {
        return RESP_NEED_MORE; /* also keeps NULL + 0 out of the arithmetic below */
    }
    size_t base = 0; /* bytes of skipped empty requests */
    for (;;) {
        const char *request = data + base;
        size_t available = length - base;
        if (parser->phase == RESP_PHASE_START) {
            if (available == 0) {
                *consumed = base;
                return RESP_NEED_MORE;
            }
            parser->phase = request[0] == '*' ? RESP_PHASE_MULTIBULK_COUNT : RESP_PHASE_INLINE;
        }
        size_t used = 0;
        int rc = parser->phase == RESP_PHASE_INLINE
                     ? parse_inline(parser, request, available, &used)
                     : parse_multibulk(parser, request, available, &used);
        if (rc == RESP_EMPTY) {
            assert(used > 0);
            base += used;
            clear_request(parser);
            continue;
        }
        *consumed = base;
        if (rc < 0) {
            parser->failed = true;
            return rc;
        }
        if (rc == RESP_COMMAND) {
            assert(used <= available);
            fill_command(parser, request, command);
            *consumed = base + used;
            clear_request(parser);
        }
        return rc;
    }
}
