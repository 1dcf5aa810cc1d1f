/*
 * proto.h — what the wire-format modules share: one error enum and a growable byte buffer.
 *
 * The proto module turns bytes into structures and back, and does nothing else: no sockets,
 * no files, no clock. resp.h parses client requests and encodes replies; peer.h frames the
 * messages between raftkv nodes. Both append their output to a struct proto_buffer.
 *
 * Happy path: proto_buffer_init() with a named maximum, append replies or frames, hand
 * data[0, length) to the socket, proto_buffer_consume() what was written, proto_buffer_free().
 * Failure modes: an append that would grow the buffer past max_bytes returns
 * PROTO_ERROR_TOO_BIG, and one that cannot allocate returns PROTO_ERROR_NO_MEMORY; either
 * way the buffer's bytes are left exactly as they were, and `append_failed` is set. The flag
 * stays set until the buffer is emptied (truncate to 0, free), because a reply assembled from
 * many appends has a hole once one of them failed, even if later ones succeed: its owner must
 * not send it (a client that passes its output limit is disconnected, as in Redis).
 *
 * Ownership: the buffer owns data (malloc/realloc); proto_buffer_free() releases it. Pointers
 * into data are invalidated by any append (it may move) and by consume (it shifts bytes).
 */
#ifndef RAFTKV_PROTO_H
#define RAFTKV_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(name, value, text) per code: enum proto_error and proto_error_string() are both
 * expanded from this list, so a code cannot lack its text. The text is the code's name. */
#define PROTO_ERRORS(X)                                                                            \
    X(PROTO_OK, 0, "PROTO_OK")                                                                     \
    X(PROTO_ERROR_NO_MEMORY, -1, "PROTO_ERROR_NO_MEMORY")                                          \
    /* malformed input; the parser/decoder holds a message */                                      \
    X(PROTO_ERROR_PROTOCOL, -2, "PROTO_ERROR_PROTOCOL")                                            \
    /* a named limit would be exceeded */                                                          \
    X(PROTO_ERROR_TOO_BIG, -3, "PROTO_ERROR_TOO_BIG")                                              \
    /* bad argument from the caller (a programming error) */                                       \
    X(PROTO_ERROR_INVALID, -4, "PROTO_ERROR_INVALID")                                              \
    /* a peer frame's checksum does not match its bytes */                                         \
    X(PROTO_ERROR_CHECKSUM, -5, "PROTO_ERROR_CHECKSUM")                                            \
    /* an HMAC did not verify */                                                                   \
    X(PROTO_ERROR_AUTH, -6, "PROTO_ERROR_AUTH")                                                    \
    /* OpenSSL failed to compute an HMAC */                                                        \
    X(PROTO_ERROR_CRYPTO, -7, "PROTO_ERROR_CRYPTO")

enum proto_error {
#define PROTO_ERROR_ENUMERATOR(name, value, text) name = value,
    PROTO_ERRORS(PROTO_ERROR_ENUMERATOR)
#undef PROTO_ERROR_ENUMERATOR
};

/* The code's text from PROTO_ERRORS ("PROTO_ERROR_TOO_BIG"); "unknown" for any other value. */
const char *proto_error_string(int error);

/* Default ceiling of a buffer: a client's reply queue or a peer's send queue. */
#define PROTO_BUFFER_DEFAULT_MAX_BYTES ((size_t)1 << 30)

struct proto_buffer {
    uint8_t *data;      /* owned; NULL until the first append */
    size_t length;      /* bytes in use, from data[0] */
    size_t capacity;    /* bytes allocated */
    size_t max_bytes;   /* length never exceeds this */
    bool append_failed; /* an append or reserve failed since the buffer was last empty */
};

/* Starts an empty buffer; allocates nothing. max_bytes must be nonzero. */
void proto_buffer_init(struct proto_buffer *buffer, size_t max_bytes);
void proto_buffer_free(struct proto_buffer *buffer);

/* Makes room for `extra` more bytes without changing length. */
int proto_buffer_reserve(struct proto_buffer *buffer, size_t extra);
int proto_buffer_append(struct proto_buffer *buffer, const void *bytes, size_t count);
/* Drops the first `count` bytes (count <= length), moving the rest to the front. */
void proto_buffer_consume(struct proto_buffer *buffer, size_t count);
/* Truncates back to `length` (<= current length): how a failed multi-part append unwinds.
 * Truncating to 0 also clears append_failed: nothing is left to have a hole. */
void proto_buffer_truncate(struct proto_buffer *buffer, size_t length);

#endif
