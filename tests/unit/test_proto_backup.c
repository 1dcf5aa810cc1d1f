/*
 * test_proto_backup.c — the backup format (proto/backup.h): a header round-trips; every prefix
 * asks for more; a flipped bit anywhere in the header, a wrong magic, impossible sizes and a
 * zero index or term are refused with a sentence; the data hash is XXH3-64, the checksum
 * storage gives a snapshot's data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "proto/backup.h"

static const uint8_t configuration[] = "a configuration's bytes, opaque here";

static size_t encode_sample(uint8_t *out)
{
    struct backup_header header = {.index = 12345,
                                   .term = 7,
                                   .data_bytes = 1u << 20,
                                   .configuration_bytes = sizeof configuration,
                                   .configuration = configuration};
    backup_header_encode(&header, out);
    return backup_header_bytes(&header);
}

static void header_round_trips(void **state)
{
    (void)state;
    uint8_t bytes[512];
    size_t size = encode_sample(bytes);
    assert_int_equal(size, BACKUP_FIXED_BYTES + sizeof configuration);
    struct backup_header header;
    size_t consumed = 0;
    char message[BACKUP_MESSAGE_BYTES];
    assert_int_equal(backup_header_decode(bytes, size, &header, &consumed, message), PROTO_OK);
    assert_int_equal(consumed, size);
    assert_int_equal(header.index, 12345);
    assert_int_equal(header.term, 7);
    assert_int_equal(header.data_bytes, 1u << 20);
    assert_int_equal(header.configuration_bytes, sizeof configuration);
    assert_memory_equal(header.configuration, configuration, sizeof configuration);
}

static void every_prefix_asks_for_more(void **state)
{
    (void)state;
    uint8_t bytes[512];
    size_t size = encode_sample(bytes);
    for (size_t prefix = 0; prefix < size; prefix++) {
        struct backup_header header;
        size_t needed = 0;
        char message[BACKUP_MESSAGE_BYTES];
        assert_int_equal(backup_header_decode(bytes, prefix, &header, &needed, message),
                         BACKUP_NEED_MORE);
        assert_true(needed > prefix);
    }
}

static void every_flipped_bit_is_refused(void **state)
{
    (void)state;
    uint8_t bytes[512];
    size_t size = encode_sample(bytes);
    for (size_t bit = 0; bit < 8 * size; bit++) {
        bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        struct backup_header header;
        size_t needed = 0;
        char message[BACKUP_MESSAGE_BYTES];
        int rc = backup_header_decode(bytes, size, &header, &needed, message);
        /* A flipped length may ask for more than there is; nothing decodes as valid. */
        assert_true(rc == PROTO_ERROR_PROTOCOL || rc == BACKUP_NEED_MORE);
        if (rc == PROTO_ERROR_PROTOCOL) {
            assert_true(strlen(message) > 0 || bit < 64);
        }
        bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

static void impossible_sizes_and_zero_points_are_refused(void **state)
{
    (void)state;
    uint8_t bytes[BACKUP_FIXED_BYTES];
    struct backup_header header = {.index = 0, .term = 3};
    backup_header_encode(&header, bytes);
    size_t needed = 0;
    char message[BACKUP_MESSAGE_BYTES];
    assert_int_equal(backup_header_decode(bytes, sizeof bytes, &header, &needed, message),
                     PROTO_ERROR_PROTOCOL);
    assert_non_null(strstr(message, "index 0"));
    memset(bytes, 0, sizeof bytes);
    memcpy(bytes, BACKUP_MAGIC, 8);
    bytes[12] = 0xff; /* a configuration of 255 bytes in a header that claims 0 in total */
    assert_int_equal(backup_header_decode(bytes, sizeof bytes, &header, &needed, message),
                     PROTO_ERROR_PROTOCOL);
    memcpy(bytes, "RKVBACK2", 8);
    assert_int_equal(backup_header_decode(bytes, sizeof bytes, &header, &needed, message),
                     PROTO_ERROR_PROTOCOL);
    assert_non_null(strstr(message, "not a raftkv backup"));
}

static void data_hash_is_xxh3_64(void **state)
{
    (void)state;
    uint8_t data[10000];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 31);
    }
    struct backup_hash *hash = backup_hash_new();
    assert_non_null(hash);
    backup_hash_update(hash, data, 1234);
    backup_hash_update(hash, data + 1234, sizeof data - 1234);
    assert_int_equal(backup_hash_digest(hash), XXH3_64bits(data, sizeof data));
    backup_hash_free(hash);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_round_trips),
        cmocka_unit_test(every_prefix_asks_for_more),
        cmocka_unit_test(every_flipped_bit_is_refused),
        cmocka_unit_test(impossible_sizes_and_zero_points_are_refused),
        cmocka_unit_test(data_hash_is_xxh3_64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
