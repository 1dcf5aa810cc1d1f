/*
 * resp.h — the Redis protocol (RESP) for clients: an incremental request parser and the
 * reply encoder.
 *
 * Parser, happy path: the connection keeps one struct resp_parser and a buffer of the bytes
 * it has read but not yet consumed. After every read it calls resp_parse() on the unconsumed
 * bytes; the call returns RESP_COMMAND with the request's arguments, or RESP_NEED_MORE. In
 * both cases the caller drops the first *consumed bytes from its buffer (after it is done
 * with the command's arguments) and, after RESP_COMMAND, calls again at once: a pipeline of
 * many commands in one read parses one command per call. A request split across any number
 * of reads parses exactly as if it had arrived in one piece. Two request forms are accepted,
 * chosen by the first byte as Redis does: multibulk ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and
 * inline ("GET k\r\n", with Redis's quoting: "..." with \n \r \t \b \a \xHH escapes, and '...'
 * with \' only). Empty requests (a blank inline line, "*0\r\n", "*-1\r\n") are skipped and
 * counted in *consumed, as Redis does.
 *
 * Parser, failure modes: malformed or oversized input returns PROTO_ERROR_PROTOCOL, and
 * resp_parser_error() gives Redis's exact text ("Protocol error: invalid bulk length", ...)
 * for the reply "-ERR <text>" before the connection is closed. The error is sticky: later
 * calls fail the same way until resp_parser_reset(). Every length is bounded before it is
 * trusted, by the limits in struct resp_limits; the count-line and inline-line limits are
 * applied so that the outcome never depends on how the bytes were split into reads.
 * Deliberately like Redis: the two bytes after a bulk's data are skipped, not checked for
 * "\r\n"; and an inline line ends at its first NUL byte.
 *
 * Ownership and lifetimes: the parser owns its argument array and an inline scratch buffer
 * (resp_parser_free() releases them). The bytes passed to resp_parse() stay the caller's. The
 * parser remembers progress through a partial request as offsets from the start of those
 * bytes, so between calls the caller may move or grow its buffer but must not change or drop
 * any byte it has not been told to consume. The arguments of a returned command point
 * without copying into the caller's bytes (multibulk) or into the parser's scratch buffer
 * (inline), and stay valid until the next resp_parse()/resp_parser_reset()/resp_parser_free()
 * or until the caller changes or drops those bytes, whichever comes first. No allocation
 * happens per argument: the argument array grows by doubling and is reused.
 *
 * Encoder: resp_append_*() append one reply element to a struct proto_buffer (proto.h).
 * Functions taking a protocol version (2 or 3) encode a RESP3 type natively for 3 and its
 * RESP2 fallback for 2, as Redis does. Each returns 0, PROTO_ERROR_TOO_BIG (the buffer's
 * max_bytes) or PROTO_ERROR_NO_MEMORY, and on failure leaves the buffer unchanged.
 */
#ifndef RAFTKV_PROTO_RESP_H
#define RAFTKV_PROTO_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* Redis's proto-max-bulk-len. */
#define RESP_DEFAULT_MAX_BULK_BYTES ((uint64_t)512 * 1024 * 1024)
/* Redis's limit for multibulk lengths from unauthenticated clients. */
#define RESP_DEFAULT_MAX_ARRAY_LENGTH ((uint32_t)1024 * 1024)
/* Redis's PROTO_INLINE_MAX_SIZE; also bounds the "*N" and "$N" count lines. */
#define RESP_DEFAULT_MAX_INLINE_BYTES ((uint32_t)64 * 1024)
/* The largest max_bulk_bytes resp_parser_init() accepts (keeps offset sums from overflow). */
#define RESP_MAX_BULK_BYTES_CEILING ((uint64_t)1 << 40)
#define RESP_ERROR_MESSAGE_BYTES    96

struct resp_limits {
    uint64_t max_bulk_bytes;   /* longest bulk argument: "$N" with N above is an error */
    uint32_t max_array_length; /* most arguments: "*N" with N above is an error */
    uint32_t max_inline_bytes; /* longest inline line (without "\r\n") and count line */
};

void resp_limits_default(struct resp_limits *limits);

/* What resp_parse() returns when it does not fail (failures are negative enum proto_error). */
enum resp_outcome {
    RESP_NEED_MORE = 0, /* no complete request yet: read more and call again */
    RESP_COMMAND = 1,   /* *command holds one request */
};

struct resp_argument {
    const char *data; /* not NUL-terminated; may contain any byte */
    size_t length;
};

struct resp_command {
    size_t argc; /* at least 1 */
    const struct resp_argument *argv;
    bool inline_request; /* true when it came as an inline line */
};

/* Internal: where an argument sits, as an offset from the command's first byte (multibulk)
 * or from the scratch buffer's start (inline). */
struct resp_span {
    size_t offset;
    size_t length;
};

enum resp_phase {
    RESP_PHASE_START = 0,
    RESP_PHASE_INLINE,
    RESP_PHASE_MULTIBULK_COUNT,
    RESP_PHASE_BULK_HEADER,
    RESP_PHASE_BULK_DATA,
};

/* All fields are private to resp.c except limits, which the caller may read. */
struct resp_parser {
    struct resp_limits limits;
    /* The request in progress. Offsets count from the first unconsumed byte. */
    enum resp_phase phase;
    size_t position;     /* next byte to parse */
    size_t line_scanned; /* bytes after position already searched for the line's end */
    uint64_t remaining_arguments;
    uint64_t bulk_length;
    size_t argc;
    size_t argument_capacity;
    struct resp_span *spans;
    struct resp_argument *argv;
    char *scratch; /* unescaped inline arguments */
    size_t scratch_capacity;
    bool failed;
    char error[RESP_ERROR_MESSAGE_BYTES];
};

/* limits may be NULL for the defaults. Returns PROTO_ERROR_INVALID for a zero limit or a
 * max_bulk_bytes above RESP_MAX_BULK_BYTES_CEILING. Allocates nothing. */
int resp_parser_init(struct resp_parser *parser, const struct resp_limits *limits);
void resp_parser_free(struct resp_parser *parser);
/* Forgets any partial request and a sticky error (the caller discarded its bytes). */
void resp_parser_reset(struct resp_parser *parser);

/* Parses the next request from data[0, length). Returns RESP_COMMAND, RESP_NEED_MORE, or
 * PROTO_ERROR_PROTOCOL (text in resp_parser_error) / PROTO_ERROR_NO_MEMORY. *consumed is
 * always set: the bytes at the front the caller must drop before the next call. */
int resp_parse(struct resp_parser *parser, const char *data, size_t length, size_t *consumed,
               struct resp_command *command);

/* The last error's text without the "-ERR " prefix, e.g. "Protocol error: invalid bulk
 * length"; "" when there was none. Contains no "\r" or "\n". Owned by the parser. */
const char *resp_parser_error(const struct resp_parser *parser);

/* Reply encoding. Simple strings and errors must not contain "\r" or "\n": the encoder
 * replaces each with a space, as Redis does for error texts. */
int resp_append_simple(struct proto_buffer *buffer, const char *text, size_t length);
/* text should start with an error code word ("ERR ...", "MOVED ..."); the "-" is added. */
int resp_append_error(struct proto_buffer *buffer, const char *text, size_t length);
int resp_append_integer(struct proto_buffer *buffer, int64_t value);
int resp_append_bulk(struct proto_buffer *buffer, const void *data, size_t length);
int resp_append_array_header(struct proto_buffer *buffer, uint64_t count);
int resp_append_set_header(struct proto_buffer *buffer, int version, uint64_t count);
/* A map of `pairs` key/value pairs: "%N" in RESP3, an array of 2N elements in RESP2. */
int resp_append_map_header(struct proto_buffer *buffer, int version, uint64_t pairs);
/* A missing value: "_" in RESP3, "$-1" in RESP2. */
int resp_append_null(struct proto_buffer *buffer, int version);
/* A missing array: "_" in RESP3, "*-1" in RESP2. */
int resp_append_null_array(struct proto_buffer *buffer, int version);
/* ",<%.17g>" in RESP3 (inf, -inf, nan spelled so); a bulk string of the same text in RESP2. */
int resp_append_double(struct proto_buffer *buffer, int version, double value);
/* "#t"/"#f" in RESP3; ":1"/":0" in RESP2. */
int resp_append_boolean(struct proto_buffer *buffer, int version, bool value);
/* "=<len>\r\n<fmt>:<data>" in RESP3 (format is 3 characters, e.g. "txt"); a bulk in RESP2. */
int resp_append_verbatim(struct proto_buffer *buffer, int version, const char *format,
                         const void *data, size_t length);

#endif
