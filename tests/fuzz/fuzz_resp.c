/*
 * fuzz_resp.c — libFuzzer target for the RESP request parser.
 *
 * Input layout: byte 0 picks the limits (bit 0: tiny limits, so that every limit is reached
 * by short inputs) and the largest read size (bits 1-7); byte 1 seeds the generator of read
 * sizes; the rest is what a client sends. The target parses the bytes in one read, then again
 * in reads of pseudo-random sizes as a connection would (compacting its buffer by *consumed),
 * and aborts unless both give the same commands, the same outcome and the same error text.
 * Every command is then re-encoded as a multibulk request and must parse back to the same
 * arguments. Crashes, leaks and out-of-bounds reads are caught by ASan and UBSan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"

enum { FUZZ_MAX_LOG_BYTES = 1024 * 1024 * 1024 };

static const struct resp_limits tiny_limits = {
    .max_bulk_bytes = 64,
    .max_array_length = 8,
    .max_inline_bytes = 32,
};

/* The log of one parse: each command's arguments, then the outcome and the error text. */
static void log_bytes(struct proto_buffer *log, const void *bytes, size_t count)
{
    if (proto_buffer_append(log, bytes, count) != PROTO_OK) {
        abort(); /* the log is bounded by the input's size; this cannot happen */
    }
}

static void log_command(struct proto_buffer *log, const struct resp_command *command)
{
    uint64_t argc = command->argc;
    log_bytes(log, &argc, sizeof argc);
    for (size_t i = 0; i < command->argc; i++) {
        uint64_t length = command->argv[i].length;
        log_bytes(log, &length, sizeof length);
        log_bytes(log, command->argv[i].data, command->argv[i].length);
    }
}

static void log_end(struct proto_buffer *log, const struct resp_parser *parser, int rc)
{
    int64_t outcome = rc;
    log_bytes(log, &outcome, sizeof outcome);
    log_bytes(log, resp_parser_error(parser), strlen(resp_parser_error(parser)));
}

/* The same command, as a multibulk request, must parse back to the same arguments. */
static void check_reencoded(const struct resp_command *command)
{
    struct proto_buffer request;
    proto_buffer_init(&request, FUZZ_MAX_LOG_BYTES);
    if (resp_append_array_header(&request, command->argc) != PROTO_OK) {
        abort();
    }
    for (size_t i = 0; i < command->argc; i++) {
        if (resp_append_bulk(&request, command->argv[i].data, command->argv[i].length) !=
            PROTO_OK) {
            abort();
        }
    }
    struct resp_parser parser;
    if (resp_parser_init(&parser, NULL) != PROTO_OK) {
        abort();
    }
    struct resp_command again;
    size_t consumed = 0;
    int rc = resp_parse(&parser, (const char *)request.data, request.length, &consumed, &again);
    if (rc != RESP_COMMAND || consumed != request.length || again.argc != command->argc) {
        abort();
    }
    for (size_t i = 0; i < command->argc; i++) {
        if (again.argv[i].length != command->argv[i].length ||
            memcmp(again.argv[i].data, command->argv[i].data, command->argv[i].length) != 0) {
            abort();
        }
    }
    resp_parser_free(&parser);
    proto_buffer_free(&request);
}

/* Feeds input in reads of 1..max_read bytes (0: all at once), logging what is parsed. */
static void parse_in_reads(const struct resp_limits *limits, const char *input, size_t length,
                           size_t max_read, uint32_t seed, struct proto_buffer *log)
{
    struct resp_parser parser;
    if (resp_parser_init(&parser, limits) != PROTO_OK) {
        abort();
    }
    char *buffer = malloc(length > 0 ? length : 1);
    if (buffer == NULL) {
        abort();
    }
    size_t buffered = 0;
    size_t fed = 0;
    int rc = RESP_NEED_MORE;
    while (rc >= 0 && fed < length) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = max_read == 0 ? length : 1 + (seed >> 16) % max_read;
        if (piece > length - fed) {
            piece = length - fed;
        }
        memcpy(buffer + buffered, input + fed, piece);
        buffered += piece;
        fed += piece;
        do {
            size_t consumed = 0;
            struct resp_command command;
            rc = resp_parse(&parser, buffer, buffered, &consumed, &command);
            if (rc == RESP_COMMAND) {
                log_command(log, &command);
                if (max_read == 0) {
                    check_reencoded(&command);
                }
            }
            if (consumed > buffered) {
                abort();
            }
            memmove(buffer, buffer + consumed, buffered - consumed);
            buffered -= consumed;
        } while (rc == RESP_COMMAND);
    }
    log_end(log, &parser, rc);
    free(buffer);
    resp_parser_free(&parser);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    const struct resp_limits *limits = (data[0] & 1) ? &tiny_limits : NULL;
    size_t max_read = 1 + (data[0] >> 1);
    uint32_t seed = data[1];
    const char *input = (const char *)data + 2;
    size_t length = size - 2;

    struct proto_buffer whole;
    struct proto_buffer split;
    proto_buffer_init(&whole, FUZZ_MAX_LOG_BYTES);
    proto_buffer_init(&split, FUZZ_MAX_LOG_BYTES);
    parse_in_reads(limits, input, length, 0, seed, &whole);
    parse_in_reads(limits, input, length, max_read, seed, &split);
    if (whole.length != split.length ||
        (whole.length > 0 && memcmp(whole.data, split.data, whole.length) != 0)) {
        abort();
    }
    proto_buffer_free(&whole);
    proto_buffer_free(&split);
    return 0;
}
