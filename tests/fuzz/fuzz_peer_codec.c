/*
 * fuzz_peer_codec.c — libFuzzer target for the peer frame decoder.
 *
 * Byte 0 chooses the mode. Mode 0 (even): the rest is a raw byte stream, decoded frame after
 * frame as a connection would. Mode 1 (odd): byte 1 is a frame type and the rest a payload;
 * the target wraps it in a header with a correct checksum, so that the fuzzer reaches the
 * payload checks instead of stopping at the checksum it cannot forge.
 *
 * Every frame that decodes is re-encoded: the bytes must equal the frame's original bytes
 * (the encoding is canonical), and decoding them again with a second decoder must give an
 * equal frame. Every proper prefix of a decoded frame's bytes must decode as "need more".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "proto/peer.h"

/* Fuzz inputs are small; a decoder limit near them makes the too-big path reachable too. */
enum { FUZZ_MAX_PAYLOAD_BYTES = 1024 * 1024 };

static void check_frame(const uint8_t *bytes, size_t frame_bytes, const struct peer_frame *frame)
{
    struct proto_buffer encoded;
    proto_buffer_init(&encoded, PROTO_BUFFER_DEFAULT_MAX_BYTES);
    if (peer_encode(&encoded, frame) != PROTO_OK || encoded.length != frame_bytes ||
        memcmp(encoded.data, bytes, frame_bytes) != 0) {
        abort();
    }
    struct peer_decoder decoder;
    if (peer_decoder_init(&decoder, FUZZ_MAX_PAYLOAD_BYTES) != PROTO_OK) {
        abort();
    }
    struct peer_frame again;
    size_t consumed = 0;
    if (peer_decode(&decoder, encoded.data, encoded.length, &consumed, &again) != PEER_FRAME ||
        consumed != frame_bytes || !peer_frame_equal(frame, &again)) {
        abort();
    }
    /* A few prefixes (all would be quadratic): each must ask for more bytes. */
    size_t step = frame_bytes / 16 + 1;
    for (size_t prefix = 0; prefix < frame_bytes; prefix += step) {
        if (peer_decode(&decoder, encoded.data, prefix, &consumed, &again) != PEER_NEED_MORE) {
            abort();
        }
    }
    if (peer_decode(&decoder, encoded.data, frame_bytes - 1, &consumed, &again) != PEER_NEED_MORE) {
        abort();
    }
    peer_decoder_free(&decoder);
    proto_buffer_free(&encoded);
}

static void decode_stream(const uint8_t *data, size_t size)
{
    struct peer_decoder decoder;
    if (peer_decoder_init(&decoder, FUZZ_MAX_PAYLOAD_BYTES) != PROTO_OK) {
        abort();
    }
    size_t offset = 0;
    for (;;) {
        struct peer_frame frame;
        size_t consumed = 0;
        int rc = peer_decode(&decoder, data + offset, size - offset, &consumed, &frame);
        if (rc != PEER_FRAME) {
            if (rc < 0 && peer_decoder_error(&decoder)[0] == '\0') {
                abort(); /* every failure explains itself */
            }
            break;
        }
        if (consumed < PEER_HEADER_BYTES || consumed > size - offset) {
            abort();
        }
        check_frame(data + offset, consumed, &frame);
        offset += consumed;
    }
    peer_decoder_free(&decoder);
}

static void decode_wrapped(uint8_t type, const uint8_t *payload, size_t payload_bytes)
{
    if (payload_bytes > FUZZ_MAX_PAYLOAD_BYTES) {
        return;
    }
    uint8_t *frame = malloc(PEER_HEADER_BYTES + payload_bytes);
    if (frame == NULL) {
        abort();
    }
    memcpy(frame, "RKVP", 4);
    frame[4] = PEER_FRAME_VERSION;
    frame[5] = type;
    frame[6] = 0;
    frame[7] = 0;
    for (int i = 0; i < 4; i++) {
        frame[8 + i] = (uint8_t)(payload_bytes >> (8 * i));
    }
    uint64_t checksum = XXH3_64bits_withSeed(payload, payload_bytes, XXH3_64bits(frame, 12));
    for (int i = 0; i < 8; i++) {
        frame[12 + i] = (uint8_t)(checksum >> (8 * i));
    }
    if (payload_bytes > 0) {
        memcpy(frame + PEER_HEADER_BYTES, payload, payload_bytes);
    }
    decode_stream(frame, PEER_HEADER_BYTES + payload_bytes);
    free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    if ((data[0] & 1) == 0) {
        decode_stream(data + 1, size - 1);
    } else if (size >= 2) {
        decode_wrapped(data[1], data + 2, size - 2);
    }
    return 0;
}
