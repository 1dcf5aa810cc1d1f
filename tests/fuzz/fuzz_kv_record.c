/*
 * fuzz_kv_record.c — libFuzzer target for kv_record_decode(), which parses a key's record as
 * LMDB returns it (bytes from a data file that may be damaged, or from a snapshot a peer sent):
 * it must accept only well-formed records, never read outside the bytes, and give a record
 * whose fields agree with its type (a string's bytes inside the input, a collection's count
 * never 0, a deadline never 0 when the flag says one is there).
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "kv/kv_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kv kv; /* only its error message is used */
    MDB_val value = {.mv_size = size, .mv_data = (void *)data};
    struct kv_record record;
    int result = kv_record_decode(&kv, &value, &record);
    if (result != 0) {
        assert(result == KV_ERROR_CORRUPT);
        return 0;
    }
    assert(size >= 2 && record.type < KV_TYPE_COUNT);
    if (record.type == KV_TYPE_STRING) {
        assert(record.value >= data && record.value + record.value_bytes == data + size);
    } else {
        assert(record.count > 0);
    }
    assert(((data[1] & 1) != 0) == (record.deadline_ms != 0));
    return 0;
}
