/*
 * fuzz_kv_command.c — libFuzzer target for kv_command_decode(), which parses the command bytes
 * of Raft entries read from the WAL and received from peers.
 *
 * Happy path: input that decodes must re-encode to exactly the same bytes (the format has one
 * encoding per argv), and every argument must lie inside the input. Failure modes it hunts:
 * reads past the end (ASan), integer overflow in length arithmetic (UBSan), accepting trailing
 * bytes, and disagreement between the counting and the filling modes of the decoder.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"

#define FUZZ_ARGV_CAPACITY 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t counted = 0;
    int count_result = kv_command_decode(data, size, NULL, 0, &counted, NULL);
    struct kv_arg argv[FUZZ_ARGV_CAPACITY];
    size_t argc = 0;
    uint64_t stamp_ms = 0;
    int result = kv_command_decode(data, size, argv, FUZZ_ARGV_CAPACITY, &argc, &stamp_ms);
    if (count_result != 0) {
        assert(result == count_result);
        return 0;
    }
    assert(argc == counted);
    if (result == KV_ERROR_TOO_BIG) {
        assert(counted > FUZZ_ARGV_CAPACITY);
        return 0;
    }
    assert(result == 0);
    for (size_t i = 0; i < argc; i++) {
        assert(argv[i].data >= data);
        assert(argv[i].data_bytes <= size);
        assert(argv[i].data + argv[i].data_bytes <= data + size);
    }
    /* Version 1 (no stamp) re-encodes as version 2, 8 bytes longer; the arguments agree. */
    bool version_1 = data[0] == 1;
    size_t encoded_bytes = kv_command_encoded_bytes(argc, argv);
    assert(encoded_bytes == size + (version_1 ? 8 : 0));
    uint8_t *encoded = malloc(encoded_bytes);
    if (encoded == NULL) {
        return 0;
    }
    size_t written = 0;
    int encode_result = kv_command_encode(argc, argv, stamp_ms, encoded, encoded_bytes, &written);
    assert(encode_result == 0);
    assert(written == encoded_bytes);
    if (version_1) {
        assert(memcmp(encoded + 13, data + 5, size - 5) == 0);
    } else {
        assert(memcmp(encoded, data, size) == 0);
    }
    (void)encode_result;
    free(encoded);
    /* The table lookup runs on the decoded name in the apply path too. */
    (void)kv_command_lookup(argv[0].data, argv[0].data_bytes);
    return 0;
}
