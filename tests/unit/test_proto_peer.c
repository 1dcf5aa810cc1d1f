/*
 * test_proto_peer.c — the peer frame codec and the handshake HMAC, one behaviour per test.
 *
 * Round trips encode a frame with every field set to a distinct value, decode it and compare
 * field by field. Rejection tests build frames by hand (with a correct checksum, so that the
 * check under test is the one that fires) or corrupt an encoded frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "proto/peer.h"

static struct proto_buffer buffer;
static struct peer_decoder decoder;

static int setup(void **state)
{
    proto_buffer_init(&buffer, PROTO_BUFFER_DEFAULT_MAX_BYTES);
    return peer_decoder_init(&decoder, 0);
}

static int teardown(void **state)
{
    proto_buffer_free(&buffer);
    peer_decoder_free(&decoder);
    return 0;
}

static void fill(uint8_t *bytes, size_t count, uint8_t first)
{
    for (size_t i = 0; i < count; i++) {
        bytes[i] = (uint8_t)(first + i);
    }
}

static void assert_round_trip(const struct peer_frame *frame)
{
    size_t start = buffer.length;
    assert_int_equal(peer_encode(&buffer, frame), PROTO_OK);
    struct peer_frame decoded;
    size_t consumed = 0;
    assert_int_equal(
        peer_decode(&decoder, buffer.data + start, buffer.length - start, &consumed, &decoded),
        PEER_FRAME);
    assert_int_equal(consumed, buffer.length - start);
    assert_true(peer_frame_equal(frame, &decoded));
}

static void hello_round_trips(void **state)
{
    struct peer_frame frame = {.type = PEER_FRAME_HELLO};
    fill(frame.hello.cluster_id, PEER_CLUSTER_ID_BYTES, 1);
    frame.hello.node_id = 0x0102030405060708;
    fill(frame.hello.challenge, PEER_CHALLENGE_BYTES, 100);
    frame.hello.protocol_version = 0xA1B2C3D4;
    assert_round_trip(&frame);
    assert_int_equal(buffer.length, PEER_HEADER_BYTES + 60);
    assert_memory_equal(buffer.data, "RKVP", 4);
}

static void hello_reply_and_auth_round_trip(void **state)
{
    struct peer_frame frame = {.type = PEER_FRAME_HELLO_REPLY};
    frame.auth.node_id = 77;
    fill(frame.auth.mac, PEER_MAC_BYTES, 3);
    fill(frame.auth.challenge, PEER_CHALLENGE_BYTES, 200);
    assert_round_trip(&frame);
    frame.type = PEER_FRAME_AUTH;
    memset(frame.auth.challenge, 0, PEER_CHALLENGE_BYTES);
    assert_round_trip(&frame);
}

static uint8_t entry_data[3][40];

static void full_raft_message(struct raft_message *message, struct raft_entry *entries)
{
    memset(message, 0, sizeof *message);
    message->type = RAFT_MSG_APPEND;
    message->from = 1;
    message->to = 2;
    message->term = 3;
    message->log_term = 4;
    message->index = 5;
    message->commit = 6;
    message->context = 7;
    message->hint_index = 8;
    message->hint_term = 9;
    message->reject = true;
    message->force = true;
    message->snapshot.index = 10;
    message->snapshot.term = 11;
    message->snapshot.configuration.voter_count = RAFT_MAX_NODES;
    for (uint32_t i = 0; i < RAFT_MAX_NODES; i++) {
        message->snapshot.configuration.voters[i] = 1000 + i;
    }
    message->snapshot.configuration.learner_count = 2;
    message->snapshot.configuration.learners[0] = 2000;
    message->snapshot.configuration.learners[1] = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        fill(entry_data[i], sizeof entry_data[i], (uint8_t)(i * 50));
        entries[i].term = 20 + (uint64_t)i;
        entries[i].index = 30 + (uint64_t)i;
        entries[i].type = RAFT_ENTRY_COMMAND;
        entries[i].data_bytes = 40;
        entries[i].data = entry_data[i];
    }
    entries[1].type = RAFT_ENTRY_NOOP;
    entries[1].data_bytes = 0;
    entries[1].data = NULL;
    message->entry_count = 3;
    message->entries = entries;
}

static void raft_message_round_trips_every_field(void **state)
{
    struct raft_message message;
    struct raft_entry entries[3];
    full_raft_message(&message, entries);
    struct peer_frame frame = {.type = PEER_FRAME_RAFT, .raft = message};
    assert_round_trip(&frame);
}

/* peer_frame_equal is what the round trips rely on: it must see a change in any field. */
static void each_raft_field_change_is_detected(void **state)
{
    struct raft_entry entries[3];
    struct peer_frame base = {.type = PEER_FRAME_RAFT};
    full_raft_message(&base.raft, entries);
    uint64_t *fields[] = {&base.raft.from,           &base.raft.to,           &base.raft.term,
                          &base.raft.log_term,       &base.raft.index,        &base.raft.commit,
                          &base.raft.context,        &base.raft.hint_index,   &base.raft.hint_term,
                          &base.raft.snapshot.index, &base.raft.snapshot.term};
    assert_int_equal(peer_encode(&buffer, &base), PROTO_OK);
    struct peer_frame decoded;
    size_t consumed = 0;
    assert_int_equal(peer_decode(&decoder, buffer.data, buffer.length, &consumed, &decoded),
                     PEER_FRAME);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        (*fields[i])++;
        assert_false(peer_frame_equal(&base, &decoded));
        (*fields[i])--;
    }
    entry_data[2][39] ^= 1;
    assert_false(peer_frame_equal(&base, &decoded)); /* decoded data points into buffer */
    entry_data[2][39] ^= 1;
    assert_true(peer_frame_equal(&base, &decoded));
}

static void every_raft_message_type_round_trips(void **state)
{
    for (uint8_t type = 1; type <= RAFT_MSG_TYPE_MAX; type++) {
        struct peer_frame frame = {.type = PEER_FRAME_RAFT};
        frame.raft.type = type;
        frame.raft.term = type;
        assert_round_trip(&frame);
    }
}

static void snapshot_chunk_round_trips(void **state)
{
    uint8_t data[100];
    fill(data, sizeof data, 9);
    struct peer_frame frame = {.type = PEER_FRAME_SNAPSHOT_CHUNK};
    frame.chunk = (struct peer_snapshot_chunk){.snapshot_index = 500,
                                               .snapshot_term = 7,
                                               .offset = 1000,
                                               .total_bytes = 1100,
                                               .last = true,
                                               .data_bytes = 100,
                                               .data = data};
    assert_round_trip(&frame);
    frame.chunk.last = false;
    frame.chunk.total_bytes = 5000;
    assert_round_trip(&frame);
}

static void frame_split_at_every_byte_needs_more_then_decodes(void **state)
{
    struct raft_entry entries[3];
    struct peer_frame frame = {.type = PEER_FRAME_RAFT};
    full_raft_message(&frame.raft, entries);
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_OK);
    struct peer_frame decoded;
    size_t consumed = 0;
    for (size_t length = 0; length < buffer.length; length++) {
        assert_int_equal(peer_decode(&decoder, buffer.data, length, &consumed, &decoded),
                         PEER_NEED_MORE);
        assert_int_equal(consumed, 0);
        if (length >= PEER_HEADER_BYTES) {
            assert_int_equal(decoder.needed_bytes, buffer.length);
        }
    }
    assert_int_equal(peer_decode(&decoder, buffer.data, buffer.length, &consumed, &decoded),
                     PEER_FRAME);
}

static void two_frames_back_to_back_decode_in_turn(void **state)
{
    struct peer_frame hello = {.type = PEER_FRAME_HELLO};
    hello.hello.node_id = 1;
    struct peer_frame auth = {.type = PEER_FRAME_AUTH};
    auth.auth.node_id = 2;
    assert_int_equal(peer_encode(&buffer, &hello), PROTO_OK);
    assert_int_equal(peer_encode(&buffer, &auth), PROTO_OK);
    struct peer_frame decoded;
    size_t consumed = 0;
    assert_int_equal(peer_decode(&decoder, buffer.data, buffer.length, &consumed, &decoded),
                     PEER_FRAME);
    assert_true(peer_frame_equal(&hello, &decoded));
    size_t first = consumed;
    assert_int_equal(
        peer_decode(&decoder, buffer.data + first, buffer.length - first, &consumed, &decoded),
        PEER_FRAME);
    assert_true(peer_frame_equal(&auth, &decoded));
    assert_int_equal(first + consumed, buffer.length);
}

static void encode_hello_frame(void)
{
    struct peer_frame frame = {.type = PEER_FRAME_HELLO};
    frame.hello.node_id = 5;
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_OK);
}

static int decode_buffer(void)
{
    struct peer_frame decoded;
    size_t consumed = 0;
    return peer_decode(&decoder, buffer.data, buffer.length, &consumed, &decoded);
}

static void corrupted_payload_fails_the_checksum(void **state)
{
    encode_hello_frame();
    buffer.data[PEER_HEADER_BYTES + 17] ^= 0x10;
    assert_int_equal(decode_buffer(), PROTO_ERROR_CHECKSUM);
}

static void corrupted_checksum_is_rejected(void **state)
{
    encode_hello_frame();
    buffer.data[12] ^= 0x01;
    assert_int_equal(decode_buffer(), PROTO_ERROR_CHECKSUM);
}

static void changed_frame_type_fails_the_checksum(void **state)
{
    struct peer_frame frame = {.type = PEER_FRAME_HELLO_REPLY};
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_OK);
    buffer.data[5] = PEER_FRAME_AUTH; /* same payload layout: only the checksum can tell */
    assert_int_equal(decode_buffer(), PROTO_ERROR_CHECKSUM);
}

static void bad_magic_is_rejected_from_the_first_byte(void **state)
{
    struct peer_frame decoded;
    size_t consumed = 0;
    assert_int_equal(peer_decode(&decoder, (const uint8_t *)"*", 1, &consumed, &decoded),
                     PROTO_ERROR_PROTOCOL);
    assert_string_equal(peer_decoder_error(&decoder), "bad magic: not a raftkv peer frame");
}

static void bad_version_is_rejected(void **state)
{
    encode_hello_frame();
    buffer.data[4] = 2;
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
}

static void unknown_frame_type_and_nonzero_flags_are_rejected(void **state)
{
    encode_hello_frame();
    buffer.data[5] = PEER_FRAME_TYPE_MAX + 1;
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    buffer.data[5] = 0;
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    buffer.data[5] = PEER_FRAME_HELLO;
    buffer.data[7] = 1;
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
}

/* A header with a correct checksum around an arbitrary payload. */
static void append_raw_frame(uint8_t type, const uint8_t *payload, uint32_t payload_bytes)
{
    uint8_t header[PEER_HEADER_BYTES] = {'R', 'K', 'V', 'P', PEER_FRAME_VERSION, type, 0, 0};
    for (int i = 0; i < 4; i++) {
        header[8 + i] = (uint8_t)(payload_bytes >> (8 * i));
    }
    uint64_t checksum = XXH3_64bits_withSeed(payload, payload_bytes, XXH3_64bits(header, 12));
    for (int i = 0; i < 8; i++) {
        header[12 + i] = (uint8_t)(checksum >> (8 * i));
    }
    assert_int_equal(proto_buffer_append(&buffer, header, sizeof header), PROTO_OK);
    assert_int_equal(proto_buffer_append(&buffer, payload, payload_bytes), PROTO_OK);
}

static void oversized_length_is_rejected_from_the_header_alone(void **state)
{
    uint8_t header[PEER_HEADER_BYTES] = {'R', 'K', 'V', 'P', PEER_FRAME_VERSION, PEER_FRAME_RAFT,
                                         0,   0};
    uint32_t length = PEER_MAX_PAYLOAD_BYTES + 1;
    for (int i = 0; i < 4; i++) {
        header[8 + i] = (uint8_t)(length >> (8 * i));
    }
    struct peer_frame decoded;
    size_t consumed = 0;
    assert_int_equal(peer_decode(&decoder, header, sizeof header, &consumed, &decoded),
                     PROTO_ERROR_TOO_BIG);
    assert_int_equal(decoder.entry_capacity, 0);
}

static void payload_of_exactly_the_limit_is_accepted(void **state)
{
    struct peer_decoder small;
    assert_int_equal(peer_decoder_init(&small, 64), PROTO_OK);
    uint8_t data[64 - 37];
    fill(data, sizeof data, 0);
    struct peer_frame frame = {.type = PEER_FRAME_SNAPSHOT_CHUNK};
    frame.chunk = (struct peer_snapshot_chunk){
        .total_bytes = sizeof data, .last = true, .data_bytes = sizeof data, .data = data};
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_OK);
    assert_int_equal(buffer.length, PEER_HEADER_BYTES + 64);
    struct peer_frame decoded;
    size_t consumed = 0;
    assert_int_equal(peer_decode(&small, buffer.data, buffer.length, &consumed, &decoded),
                     PEER_FRAME);
    proto_buffer_truncate(&buffer, 0);
    frame.chunk.total_bytes++;
    frame.chunk.data_bytes++;
    uint8_t more[64 - 36] = {0};
    frame.chunk.data = more;
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_OK);
    assert_int_equal(peer_decode(&small, buffer.data, buffer.length, &consumed, &decoded),
                     PROTO_ERROR_TOO_BIG);
    peer_decoder_free(&small);
}

static size_t raft_prefix(uint8_t *payload, uint8_t type, uint8_t reject)
{
    memset(payload, 0, 116);
    payload[0] = type;
    payload[1] = reject;
    return 4 + 9 * 8 + 16 + 8 + 8; /* fixed fields, snapshot index/term, two zero counts,
                                    * highest id */
}

static void huge_entry_count_is_rejected_before_allocation(void **state)
{
    uint8_t payload[128];
    size_t at = raft_prefix(payload, RAFT_MSG_APPEND, 0);
    uint32_t count = 1000000;
    memcpy(payload + at, &count, 4); /* little-endian host */
    append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    assert_int_equal(decoder.entry_capacity, 0);
    assert_non_null(strstr(peer_decoder_error(&decoder), "entry count 1000000"));
}

static void entry_data_longer_than_the_payload_is_rejected(void **state)
{
    uint8_t payload[160];
    size_t at = raft_prefix(payload, RAFT_MSG_APPEND, 0);
    memset(payload + at, 0, 50);
    payload[at] = 1;             /* one entry */
    payload[at + 4 + 17] = 0xFF; /* data_bytes = 255 */
    append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4 + 21 + 10);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    assert_string_equal(peer_decoder_error(&decoder), "entry 0 of 1 is truncated");
}

static void too_many_voters_are_rejected(void **state)
{
    uint8_t payload[128];
    size_t at = raft_prefix(payload, RAFT_MSG_SNAPSHOT, 0);
    payload[at - 16] = RAFT_MAX_NODES + 1; /* voter_count */
    append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    assert_string_equal(peer_decoder_error(&decoder), "17 nodes in a configuration (max 16)");
}

static void unknown_raft_message_type_is_rejected(void **state)
{
    uint8_t payload[128];
    size_t at = raft_prefix(payload, RAFT_MSG_TYPE_MAX + 1, 0);
    append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
}

static void boolean_other_than_zero_or_one_is_rejected(void **state)
{
    uint8_t payload[128];
    size_t at = raft_prefix(payload, RAFT_MSG_VOTE_RESPONSE, 2);
    append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
}

static void well_formed_raw_raft_frame_decodes(void **state)
{
    uint8_t payload[128];
    size_t at = raft_prefix(payload, RAFT_MSG_VOTE_RESPONSE, 1);
    append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4);
    assert_int_equal(decode_buffer(), PEER_FRAME); /* the rejections above are not flukes */
}

static void put_u64(uint8_t *at, uint64_t value)
{
    for (int i = 0; i < 8; i++) {
        at[i] = (uint8_t)(value >> (8 * i));
    }
}

/* A forged heartbeat at term 2^64 - 1 used to make a node adopt it; its next campaign wrapped
 * the term to 0 and failed the core's assertion. The wire refuses such terms and indexes. */
static void term_or_index_past_the_wire_bound_is_rejected(void **state)
{
    enum { TERM_AT = 4 + 2 * 8, COMMIT_AT = 4 + 5 * 8, SNAPSHOT_TERM_AT = 4 + 9 * 8 + 8 };
    const size_t offsets[] = {TERM_AT, COMMIT_AT, SNAPSHOT_TERM_AT};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        uint8_t payload[128];
        size_t at = raft_prefix(payload, RAFT_MSG_HEARTBEAT, 0);
        put_u64(payload + offsets[i], PEER_MAX_TERM);
        proto_buffer_truncate(&buffer, 0);
        append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4);
        assert_int_equal(decode_buffer(), PEER_FRAME); /* the bound itself is allowed */
        put_u64(payload + offsets[i], UINT64_MAX);
        proto_buffer_truncate(&buffer, 0);
        append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4);
        assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
        assert_non_null(strstr(peer_decoder_error(&decoder), "with a term above"));
    }
}

static void entry_index_past_the_wire_bound_is_rejected(void **state)
{
    uint8_t payload[160];
    size_t at = raft_prefix(payload, RAFT_MSG_APPEND, 0);
    memset(payload + at, 0, 30);
    payload[at] = 1;                                   /* one entry */
    put_u64(payload + at + 4 + 8, PEER_MAX_INDEX + 1); /* its index */
    append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4 + 21);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
}

static void unknown_entry_type_is_rejected(void **state)
{
    uint8_t payload[160];
    size_t at = raft_prefix(payload, RAFT_MSG_APPEND, 0);
    memset(payload + at, 0, 30);
    payload[at] = 1;
    payload[at + 4 + 16] = RAFT_ENTRY_CONFIG + 1; /* entry type */
    append_raw_frame(PEER_FRAME_RAFT, payload, (uint32_t)at + 4 + 21);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    assert_string_equal(peer_decoder_error(&decoder), "entry 0 has unknown type 3");
}

static void trailing_bytes_are_rejected(void **state)
{
    uint8_t payload[61] = {0};
    append_raw_frame(PEER_FRAME_HELLO, payload, sizeof payload);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    assert_string_equal(peer_decoder_error(&decoder),
                        "HELLO payload of 61 bytes is followed by extra bytes");
}

static void short_fixed_payload_is_rejected(void **state)
{
    uint8_t payload[59] = {0};
    append_raw_frame(PEER_FRAME_HELLO, payload, sizeof payload);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
}

static void chunk_past_its_total_is_rejected(void **state)
{
    uint8_t payload[37 + 4] = {0};
    payload[16] = 10; /* offset 10 */
    payload[24] = 12; /* total 12, with 4 data bytes: overruns */
    payload[32] = 1;
    payload[33] = 4;
    append_raw_frame(PEER_FRAME_SNAPSHOT_CHUNK, payload, sizeof payload);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    assert_non_null(strstr(peer_decoder_error(&decoder), "does not tile"));
}

static void encoder_refuses_what_the_decoder_would_reject(void **state)
{
    struct peer_frame frame = {.type = PEER_FRAME_RAFT};
    frame.raft.type = 0;
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_ERROR_INVALID);
    frame.raft.type = RAFT_MSG_APPEND;
    frame.raft.snapshot.configuration.learner_count = RAFT_MAX_NODES + 1;
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_ERROR_INVALID);
    struct peer_frame chunk = {.type = PEER_FRAME_SNAPSHOT_CHUNK};
    chunk.chunk.total_bytes = 10; /* last chunk must end at total */
    chunk.chunk.last = true;
    assert_int_equal(peer_encode(&buffer, &chunk), PROTO_ERROR_INVALID);
    struct peer_frame unknown = {.type = 99};
    assert_int_equal(peer_encode(&buffer, &unknown), PROTO_ERROR_INVALID);
    struct peer_frame high = {.type = PEER_FRAME_RAFT};
    high.raft.type = RAFT_MSG_HEARTBEAT;
    high.raft.term = PEER_MAX_TERM + 1;
    assert_int_equal(peer_encode(&buffer, &high), PROTO_ERROR_INVALID);
    struct peer_frame high_chunk = {.type = PEER_FRAME_SNAPSHOT_CHUNK};
    high_chunk.chunk.snapshot_index = PEER_MAX_INDEX + 1;
    high_chunk.chunk.last = true;
    assert_int_equal(peer_encode(&buffer, &high_chunk), PROTO_ERROR_INVALID);
    assert_int_equal(buffer.length, 0);
}

static void encoder_respects_the_buffer_limit(void **state)
{
    struct proto_buffer small;
    proto_buffer_init(&small, PEER_HEADER_BYTES + 59);
    struct peer_frame frame = {.type = PEER_FRAME_HELLO};
    assert_int_equal(peer_encode(&small, &frame), PROTO_ERROR_TOO_BIG);
    assert_int_equal(small.length, 0);
    proto_buffer_free(&small);
}

/* ---- HMAC ---- */

static const uint8_t secret[] = "correct horse battery staple";
#define SECRET_BYTES (sizeof secret - 1)

static void auth_inputs(uint8_t *challenge, uint8_t *cluster_id)
{
    fill(challenge, PEER_CHALLENGE_BYTES, 0);
    fill(cluster_id, PEER_CLUSTER_ID_BYTES, 100);
}

static void hmac_matches_a_known_answer(void **state)
{
    /* Computed independently with Python's hmac module over the documented message layout. */
    static const uint8_t expected[PEER_MAC_BYTES] = {
        0xf8, 0x23, 0x24, 0x85, 0x9b, 0xc9, 0xcc, 0xa3, 0xa6, 0xf7, 0xe3,
        0xc7, 0x64, 0x06, 0x53, 0x2f, 0x42, 0x36, 0x77, 0x1b, 0xdd, 0x31,
        0xd5, 0xa4, 0xa3, 0x43, 0xbf, 0xb0, 0xd4, 0xd0, 0xdd, 0xe7};
    uint8_t challenge[PEER_CHALLENGE_BYTES];
    uint8_t cluster_id[PEER_CLUSTER_ID_BYTES];
    auth_inputs(challenge, cluster_id);
    uint8_t mac[PEER_MAC_BYTES];
    assert_int_equal(peer_auth_compute(secret, SECRET_BYTES, challenge, 2, 1, cluster_id, mac),
                     PROTO_OK);
    assert_memory_equal(mac, expected, PEER_MAC_BYTES);
}

static void hmac_verifies_with_the_same_secret(void **state)
{
    uint8_t challenge[PEER_CHALLENGE_BYTES];
    uint8_t cluster_id[PEER_CLUSTER_ID_BYTES];
    auth_inputs(challenge, cluster_id);
    uint8_t mac[PEER_MAC_BYTES];
    assert_int_equal(peer_auth_compute(secret, SECRET_BYTES, challenge, 2, 1, cluster_id, mac),
                     PROTO_OK);
    assert_int_equal(peer_auth_verify(secret, SECRET_BYTES, challenge, 2, 1, cluster_id, mac),
                     PROTO_OK);
}

static void hmac_fails_with_a_wrong_secret(void **state)
{
    uint8_t challenge[PEER_CHALLENGE_BYTES];
    uint8_t cluster_id[PEER_CLUSTER_ID_BYTES];
    auth_inputs(challenge, cluster_id);
    uint8_t mac[PEER_MAC_BYTES];
    assert_int_equal(peer_auth_compute(secret, SECRET_BYTES, challenge, 2, 1, cluster_id, mac),
                     PROTO_OK);
    const uint8_t wrong[] = "correct horse battery stapler";
    assert_int_equal(peer_auth_verify(wrong, sizeof wrong - 1, challenge, 2, 1, cluster_id, mac),
                     PROTO_ERROR_AUTH);
}

static void hmac_fails_when_reflected_or_replayed(void **state)
{
    uint8_t challenge[PEER_CHALLENGE_BYTES];
    uint8_t cluster_id[PEER_CLUSTER_ID_BYTES];
    auth_inputs(challenge, cluster_id);
    uint8_t mac[PEER_MAC_BYTES];
    assert_int_equal(peer_auth_compute(secret, SECRET_BYTES, challenge, 2, 1, cluster_id, mac),
                     PROTO_OK);
    /* Node ids swapped: a MAC sent back at its author does not pass. */
    assert_int_equal(peer_auth_verify(secret, SECRET_BYTES, challenge, 1, 2, cluster_id, mac),
                     PROTO_ERROR_AUTH);
    challenge[31] ^= 1; /* a fresh challenge makes an old MAC useless */
    assert_int_equal(peer_auth_verify(secret, SECRET_BYTES, challenge, 2, 1, cluster_id, mac),
                     PROTO_ERROR_AUTH);
    challenge[31] ^= 1;
    cluster_id[0] ^= 1; /* another cluster with the same secret */
    assert_int_equal(peer_auth_verify(secret, SECRET_BYTES, challenge, 2, 1, cluster_id, mac),
                     PROTO_ERROR_AUTH);
}

static void hmac_refuses_an_empty_secret(void **state)
{
    uint8_t challenge[PEER_CHALLENGE_BYTES];
    uint8_t cluster_id[PEER_CLUSTER_ID_BYTES];
    auth_inputs(challenge, cluster_id);
    uint8_t mac[PEER_MAC_BYTES];
    assert_int_equal(peer_auth_compute(secret, 0, challenge, 2, 1, cluster_id, mac),
                     PROTO_ERROR_INVALID);
}

/* ---- REPLICA frames: the lecture's foil modes (src/replica) ---- */

static const uint8_t replica_key[] = "key";
static const uint8_t replica_value[] = "value";

static struct peer_frame replica_frame(uint8_t kind, struct peer_replica_item *items,
                                       uint32_t count)
{
    struct peer_frame frame = {.type = PEER_FRAME_REPLICA};
    frame.replica.kind = kind;
    frame.replica.from = 3;
    frame.replica.to = 1;
    frame.replica.item_count = count;
    frame.replica.items = items;
    return frame;
}

static void replica_put_round_trips_every_field(void **state)
{
    struct peer_replica_item items[2] = {
        {.stamp = {.physical_ms = 1700000000123, .logical = 7, .node = 2},
         .key_bytes = 3,
         .key = replica_key,
         .value_bytes = 5,
         .value = replica_value},
        {.stamp = {.physical_ms = 1700000000124, .logical = 0, .node = 3},
         .tombstone = true,
         .key_bytes = 3,
         .key = replica_key},
    };
    struct peer_frame frame = replica_frame(PEER_REPLICA_PUT, items, 2);
    assert_round_trip(&frame);
    struct peer_frame other = frame;
    struct peer_replica_item changed[2] = {items[0], items[1]};
    changed[0].stamp.logical = 8;
    other.replica.items = changed;
    assert_false(peer_frame_equal(&frame, &other));
}

static void replica_digest_and_entry_round_trip(void **state)
{
    struct peer_frame digest = replica_frame(PEER_REPLICA_DIGEST, NULL, 0);
    digest.replica.flags = PEER_REPLICA_FROM_START | PEER_REPLICA_TO_END;
    assert_round_trip(&digest);
    struct peer_replica_item entry = {.value_bytes = 5, .value = replica_value};
    struct peer_frame frame = replica_frame(PEER_REPLICA_ENTRY, &entry, 1);
    assert_round_trip(&frame);
}

/* The layout of peer.h, byte for byte: a change to it must change this test. */
static void replica_frame_bytes_are_the_documented_layout(void **state)
{
    struct peer_replica_item item = {
        .stamp = {.physical_ms = 0x0102030405060708, .logical = 0x0a0b0c0d, .node = 9},
        .key_bytes = 3,
        .key = replica_key,
        .value_bytes = 5,
        .value = replica_value};
    struct peer_frame frame = replica_frame(PEER_REPLICA_PUT, &item, 1);
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_OK);
    static const uint8_t expected[] = {2,    0,    0,    0, /* kind PUT, flags, zero */
                                       3,    0,    0,    0,    0,   0,   0,   0, /* from */
                                       1,    0,    0,    0,    0,   0,   0,   0, /* to */
                                       1,    0,    0,    0,                      /* item count */
                                       8,    7,    6,    5,    4,   3,   2,   1, /* physical_ms */
                                       0x0d, 0x0c, 0x0b, 0x0a,                   /* logical */
                                       9,    0,    0,    0,    0,   0,   0,   0, /* node */
                                       0,                                        /* tombstone */
                                       3,    0,    0,    0,    'k', 'e', 'y', 5,
                                       0,    0,    0,    'v',  'a', 'l', 'u', 'e'};
    assert_int_equal(buffer.length, PEER_HEADER_BYTES + sizeof expected);
    assert_int_equal(buffer.data[5], PEER_FRAME_REPLICA);
    assert_memory_equal(buffer.data + PEER_HEADER_BYTES, expected, sizeof expected);
}

static void replica_encoder_refuses_what_breaks_the_rules(void **state)
{
    struct peer_replica_item items[2] = {
        {.key_bytes = 3, .key = replica_key, .value_bytes = 5, .value = replica_value},
        {.key_bytes = 3, .key = replica_key, .value_bytes = 5, .value = replica_value},
    };
    struct peer_frame frame = replica_frame(PEER_REPLICA_ENTRY, items, 2); /* one item only */
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_ERROR_INVALID);
    frame = replica_frame(PEER_REPLICA_ENTRY, items, 1); /* an entry has no key */
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_ERROR_INVALID);
    frame = replica_frame(PEER_REPLICA_DIGEST, items, 1); /* a digest carries no value */
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_ERROR_INVALID);
    frame = replica_frame(PEER_REPLICA_PUT, items, 1);
    frame.replica.flags = PEER_REPLICA_TO_END; /* flags are a digest's */
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_ERROR_INVALID);
    items[0].tombstone = true; /* a tombstone has no value */
    frame = replica_frame(PEER_REPLICA_PUT, items, 1);
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_ERROR_INVALID);
    frame = replica_frame(PEER_REPLICA_KIND_MAX + 1, NULL, 0);
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_ERROR_INVALID);
    frame = replica_frame(PEER_REPLICA_PUT, items, PEER_REPLICA_MAX_ITEMS + 1);
    assert_int_equal(peer_encode(&buffer, &frame), PROTO_ERROR_INVALID);
    assert_int_equal(buffer.length, 0);
}

static void replica_huge_item_count_is_rejected_before_allocation(void **state)
{
    uint8_t payload[24] = {
        PEER_REPLICA_PUT, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0};
    append_raw_frame(PEER_FRAME_REPLICA, payload, sizeof payload);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    assert_int_equal(decoder.replica_item_capacity, 0);
}

static void replica_truncated_item_and_bad_rules_are_rejected(void **state)
{
    /* A DIGEST whose one item claims a value: the layout reads, the rules refuse it. */
    uint8_t payload[24 + 29 + 3 + 1] = {
        PEER_REPLICA_DIGEST, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    size_t at = 24 + 8 + 4 + 8 + 1;
    payload[at] = 3; /* key_bytes */
    memcpy(payload + at + 4, "key", 3);
    payload[at + 7] = 1; /* value_bytes */
    append_raw_frame(PEER_FRAME_REPLICA, payload, sizeof payload);
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
    assert_non_null(strstr(peer_decoder_error(&decoder), "breaks its rules"));
    proto_buffer_truncate(&buffer, 0);
    append_raw_frame(PEER_FRAME_REPLICA, payload, sizeof payload - 2); /* cut in the value */
    assert_int_equal(decode_buffer(), PROTO_ERROR_PROTOCOL);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(hello_round_trips),
        TEST(hello_reply_and_auth_round_trip),
        TEST(raft_message_round_trips_every_field),
        TEST(each_raft_field_change_is_detected),
        TEST(every_raft_message_type_round_trips),
        TEST(snapshot_chunk_round_trips),
        TEST(frame_split_at_every_byte_needs_more_then_decodes),
        TEST(two_frames_back_to_back_decode_in_turn),
        TEST(corrupted_payload_fails_the_checksum),
        TEST(corrupted_checksum_is_rejected),
        TEST(changed_frame_type_fails_the_checksum),
        TEST(bad_magic_is_rejected_from_the_first_byte),
        TEST(bad_version_is_rejected),
        TEST(unknown_frame_type_and_nonzero_flags_are_rejected),
        TEST(oversized_length_is_rejected_from_the_header_alone),
        TEST(payload_of_exactly_the_limit_is_accepted),
        TEST(huge_entry_count_is_rejected_before_allocation),
        TEST(entry_data_longer_than_the_payload_is_rejected),
        TEST(too_many_voters_are_rejected),
        TEST(unknown_raft_message_type_is_rejected),
        TEST(boolean_other_than_zero_or_one_is_rejected),
        TEST(well_formed_raw_raft_frame_decodes),
        TEST(term_or_index_past_the_wire_bound_is_rejected),
        TEST(entry_index_past_the_wire_bound_is_rejected),
        TEST(unknown_entry_type_is_rejected),
        TEST(trailing_bytes_are_rejected),
        TEST(short_fixed_payload_is_rejected),
        TEST(chunk_past_its_total_is_rejected),
        TEST(encoder_refuses_what_the_decoder_would_reject),
        TEST(encoder_respects_the_buffer_limit),
        TEST(hmac_matches_a_known_answer),
        TEST(hmac_verifies_with_the_same_secret),
        TEST(hmac_fails_with_a_wrong_secret),
        TEST(hmac_fails_when_reflected_or_replayed),
        TEST(hmac_refuses_an_empty_secret),
        TEST(replica_put_round_trips_every_field),
        TEST(replica_digest_and_entry_round_trip),
        TEST(replica_frame_bytes_are_the_documented_layout),
        TEST(replica_encoder_refuses_what_breaks_the_rules),
        TEST(replica_huge_item_count_is_rejected_before_allocation),
        TEST(replica_truncated_item_and_bad_rules_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
