/*
 * fuzz_kv_acl.c — libFuzzer target for the ACL rules parser (kv/acl.c), which reads the rules
 * a client gives ACL SETUSER: any bytes (split into rules at spaces) are either refused or
 * compiled; and what compiles has a canonical form that compiles again to itself — the form
 * the state machine stores and every replica reads back.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "kv/kv_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char first[65536];
    static char second[65536];
    if (size > 4096) {
        return 0;
    }
    if (kv_acl_canonical((const char *)data, size, first, sizeof first) != 0) {
        return 0;
    }
    int again = kv_acl_canonical(first, strlen(first), second, sizeof second);
    assert(again == 0);
    assert(strcmp(first, second) == 0);
    return 0;
}
