/*
 * test_kv_bits.c — SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, INCRBYFLOAT and LCS against Redis
 * 7.0's replies (the expected transcripts were taken from redis-server 7.0.15): bit order,
 * growth with zero bytes, byte and bit ranges with negative indexes, Redis's order of checks
 * (a missing key answers before a bad range does), the offset limit from max_value_bytes, the
 * time to live kept by SETBIT and INCRBYFLOAT and dropped by BITOP, WRONGTYPE, keys past their
 * deadline, float formatting and errors, and LCS's ranges and memory limit.
 */
#include "test_kv_support.c"

#include "kv/kv_internal.h"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

static const char *const wrong_type =
    "-WRONGTYPE Operation against a key holding the wrong kind of value";

static void advance(uint64_t ms)
{
    test_clock_ms += ms;
}

/* SET key to arbitrary bytes (the line syntax cannot carry a NUL or a space). */
static void set_bytes(struct fixture *fixture, const char *key, const void *bytes, size_t count)
{
    struct kv_arg argv[3] = {
        {(const uint8_t *)"SET", 3},
        {(const uint8_t *)key, strlen(key)},
        {bytes, count},
    };
    assert_string_equal(run_argv(fixture, 3, argv), "+OK");
}

/* Stores a one-element list under key through kv's item API, as a list command would: the
 * WRONGTYPE tests need a key of another type, and depend on no type's commands. */
static void seed_list(struct fixture *fixture, const char *key)
{
    struct kv_exec exec = {
        .kv = fixture->kv, .reply = &kv_discard_reply, .writable = true, .now_ms = test_clock_ms};
    assert_int_equal(mdb_txn_begin(fixture->kv->env, NULL, 0, &exec.txn), 0);
    struct kv_record record;
    kv_collection_new(&exec, KV_TYPE_LIST, &record);
    uint8_t position[8];
    kv_put_be64(position, record.head);
    struct kv_item_key item;
    kv_item_key(&item, record.id, position, sizeof position);
    assert_int_equal(kv_item_put(&exec, &item, (const uint8_t *)"x", 1), 0);
    record.count = 1;
    struct kv_arg name = {.data = (const uint8_t *)key, .data_bytes = strlen(key)};
    assert_int_equal(kv_collection_store(&exec, &name, &record), 0);
    struct kv *kv = fixture->kv;
    assert_int_equal(kv_meta_write_state(exec.txn, kv->meta_dbi, kv->clock_ms, kv->next_id), 0);
    assert_int_equal(mdb_txn_commit(exec.txn), 0);
}

static void setup_small_limit(struct fixture **out)
{
    struct fixture *fixture = malloc(sizeof *fixture);
    assert_non_null(fixture);
    struct kv_options options;
    kv_options_default(&options);
    options.max_value_bytes = 100;
    fixture_open(fixture, &options);
    *out = fixture;
}

/* ---- SETBIT, GETBIT ------------------------------------------------------------------------ */

static void test_setbit_sets_bits_most_significant_first(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SETBIT b 7 1", ":0");
    EXPECT("SETBIT b 7 1", ":1");
    EXPECT("GET b", "\"\\x01\"");
    EXPECT("SETBIT b 0 1", ":0");
    EXPECT("GET b", "\"\\x81\"");
    EXPECT("SETBIT b 7 0", ":1");
    EXPECT("GET b", "\"\\x80\"");
    EXPECT("SETBIT b 20 1", ":0"); /* grows with zero bytes */
    EXPECT("GET b", "\"\\x80\\x00\\x08\"");
    EXPECT("STRLEN b", ":3");
    EXPECT("SETBIT b 23 0", ":0"); /* within the string: no growth */
    EXPECT("STRLEN b", ":3");
    EXPECT("SETBIT fresh 15 0", ":0"); /* a clear bit still creates the key */
    EXPECT("GET fresh", "\"\\x00\\x00\"");
    EXPECT("GETBIT b 0", ":1");
    EXPECT("GETBIT b 1", ":0");
    EXPECT("GETBIT b 20", ":1");
    EXPECT("GETBIT b 24", ":0");
    EXPECT("GETBIT b 4294967295", ":0");
    EXPECT("GETBIT nokey 3", ":0");
    EXPECT("SET n 1", "+OK"); /* "1" is 0x31 */
    EXPECT("GETBIT n 2", ":1");
    EXPECT("GETBIT n 7", ":1");
    EXPECT("GETBIT n 6", ":0");
}

static void test_setbit_keeps_the_ttl(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET b a PX 5000", "+OK");
    EXPECT("SETBIT b 100 1", ":0");
    EXPECT("PTTL b", ":5000");
    EXPECT("SETBIT b 100 1", ":1"); /* no change, still kept */
    EXPECT("PTTL b", ":5000");
    advance(5000);
    EXPECT("GETBIT b 100", ":0");
    EXPECT("SETBIT b 1 1", ":0"); /* expired: a new key, without a TTL */
    EXPECT("GET b", "\"@\"");
    EXPECT("TTL b", ":-1");
}

static void test_setbit_and_getbit_errors(void **state)
{
    struct fixture *fixture = *state;
    const char *offset = "-ERR bit offset is not an integer or out of range";
    const char *value = "-ERR bit is not an integer or out of range";
    EXPECT("SETBIT b 4294967296 1", offset); /* 512 MiB × 8 */
    EXPECT("SETBIT b -1 1", offset);
    EXPECT("SETBIT b x 1", offset);
    EXPECT("SETBIT b 01 1", offset);
    EXPECT("SETBIT b +1 1", offset);
    EXPECT("SETBIT b 1 2", value);
    EXPECT("SETBIT b 1 -1", value);
    EXPECT("SETBIT b 1 x", value);
    EXPECT("SETBIT b x x", offset); /* the offset first */
    EXPECT("GETBIT b 4294967296", offset);
    EXPECT("GETBIT b -1", offset);
    EXPECT("EXISTS b", ":0");
    EXPECT("SETBIT b 1", "-ERR wrong number of arguments for 'setbit' command");
    EXPECT("GETBIT b", "-ERR wrong number of arguments for 'getbit' command");
    seed_list(fixture, "l");
    EXPECT("SETBIT l 1 1", wrong_type);
    EXPECT("GETBIT l 1", wrong_type);
    EXPECT("SETBIT l 1 2", value); /* the arguments before the type */
    EXPECT("GETBIT l x", offset);
}

static void test_setbit_offset_limit_follows_max_value_bytes(void **state)
{
    (void)state;
    struct fixture *fixture;
    setup_small_limit(&fixture);
    EXPECT("SETBIT b 799 1", ":0"); /* byte 99: the string is 100 bytes */
    EXPECT("STRLEN b", ":100");
    EXPECT("SETBIT b 800 1", "-ERR bit offset is not an integer or out of range");
    EXPECT("GETBIT b 800", "-ERR bit offset is not an integer or out of range");
    EXPECT("GETBIT b 799", ":1");
    fixture_close(fixture);
    free(fixture);
}

/* ---- BITCOUNT ------------------------------------------------------------------------------ */

static void test_bitcount_ranges_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET s foobar", "+OK");
    EXPECT("BITCOUNT s", ":26");
    EXPECT("BITCOUNT s 0 0", ":4");
    EXPECT("BITCOUNT s 1 1", ":6");
    EXPECT("BITCOUNT s 1 1 BYTE", ":6");
    EXPECT("BITCOUNT s 0 -1", ":26");
    EXPECT("BITCOUNT s -2 -1", ":7");
    EXPECT("BITCOUNT s 5 30 BIT", ":17");
    EXPECT("BITCOUNT s 0 -1 bit", ":26");
    EXPECT("BITCOUNT s 0 100 BIT", ":26");
    EXPECT("BITCOUNT s -1 -3", ":0");
    EXPECT("BITCOUNT s 2 1", ":0");
    EXPECT("BITCOUNT s -100 -50", ":4"); /* both clamp to byte 0 */
    EXPECT("BITCOUNT s 9223372036854775807 9223372036854775807 BIT", ":0");
    EXPECT("BITCOUNT s -9223372036854775808 -1 BIT", ":26");
    EXPECT("BITCOUNT s -9223372036854775808 9223372036854775807 BIT", ":26");
    EXPECT("BITCOUNT s 3 3 BIT", ":0");
    EXPECT("BITCOUNT s 1 1 BIT", ":1");
    EXPECT("BITCOUNT s 1 6 BIT", ":4");
    EXPECT("BITCOUNT s 7 9 BIT", ":1");
    EXPECT("SET e ''", "+OK");
    EXPECT("BITCOUNT e", ":0");
    EXPECT("BITCOUNT e 0 -1 BIT", ":0");
    EXPECT("SET n 12345", "+OK");
    EXPECT("BITCOUNT n", ":17");
    /* A long string, counted by words. */
    char line[128];
    snprintf(line, sizeof line, "SETBIT long %d 1", 8 * 1000 + 3);
    EXPECT(line, ":0");
    EXPECT("SETBIT long 5 1", ":0");
    EXPECT("SETBIT long 4000 1", ":0");
    EXPECT("BITCOUNT long", ":3");
    EXPECT("BITCOUNT long 1 -1", ":2");
    EXPECT("BITCOUNT long 6 8003 BIT", ":2");
    EXPECT("BITCOUNT long 6 8002 BIT", ":1");
}

static void test_bitcount_order_of_checks(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET s foobar", "+OK");
    EXPECT("BITCOUNT s 0", "-ERR syntax error");
    EXPECT("BITCOUNT s 0 1 foo", "-ERR syntax error");
    EXPECT("BITCOUNT s 0 1 bit x", "-ERR syntax error");
    EXPECT("BITCOUNT s a b", "-ERR value is not an integer or out of range");
    EXPECT("BITCOUNT s 1 a", "-ERR value is not an integer or out of range");
    EXPECT("BITCOUNT s -1 -3 foo", ":0"); /* answered before the unit is read */
    EXPECT("BITCOUNT nokey", ":0");
    EXPECT("BITCOUNT nokey 0", ":0"); /* a missing key answers first */
    EXPECT("BITCOUNT nokey a b", ":0");
    EXPECT("BITCOUNT nokey 0 1 2 3", ":0");
    EXPECT("BITCOUNT", "-ERR wrong number of arguments for 'bitcount' command");
    seed_list(fixture, "l");
    EXPECT("BITCOUNT l", wrong_type);
    EXPECT("BITCOUNT l a b", wrong_type); /* the type before the range */
    EXPECT("BITCOUNT l 0 1 foo", wrong_type);
    EXPECT("SET gone foobar PX 5", "+OK");
    advance(5);
    EXPECT("BITCOUNT gone", ":0");
}

/* ---- BITPOS -------------------------------------------------------------------------------- */

static void test_bitpos_as_redis(void **state)
{
    struct fixture *fixture = *state;
    const uint8_t s[] = {0xff, 0xf0, 0x00};
    set_bytes(fixture, "s", s, sizeof s);
    EXPECT("BITPOS s 1", ":0");
    EXPECT("BITPOS s 0", ":12");
    EXPECT("BITPOS s 1 1", ":8");
    EXPECT("BITPOS s 1 2", ":-1");
    EXPECT("BITPOS s 0 2", ":16");
    EXPECT("BITPOS s 0 1 2", ":12");
    EXPECT("BITPOS s 0 0 -1 BIT", ":12");
    EXPECT("BITPOS s 1 0 -1 bit", ":0");
    EXPECT("BITPOS s 0 7 15 BIT", ":12");
    EXPECT("BITPOS s 1 12 15 BIT", ":-1");
    EXPECT("BITPOS s 1 3 100 BIT", ":3");
    EXPECT("BITPOS s 0 0 7 BIT", ":-1");
    EXPECT("BITPOS s 0 -100 -200", ":-1"); /* both clamp to byte 0, all ones */
    EXPECT("BITPOS s 0 5", ":-1");         /* past the end: an empty range */
    EXPECT("BITPOS s 1 -3 -1 BIT", ":-1");
    EXPECT("BITPOS s 0 0 -1 BYTE", ":12");
    const uint8_t ones[] = {0xff, 0xff};
    set_bytes(fixture, "ff", ones, sizeof ones);
    EXPECT("BITPOS ff 0", ":16"); /* no end: the zero after the string */
    EXPECT("BITPOS ff 0 1", ":16");
    EXPECT("BITPOS ff 0 0 -1", ":-1"); /* an end given: within it only */
    EXPECT("BITPOS ff 0 0 1 BIT", ":-1");
    EXPECT("BITPOS ff 1 -1", ":8");
    EXPECT("SET e ''", "+OK");
    EXPECT("BITPOS e 0", ":-1");
    EXPECT("BITPOS e 1", ":-1");
    EXPECT("BITPOS nokey 0", ":0");
    EXPECT("BITPOS nokey 1", ":-1");
    /* Long runs are skipped by words. */
    char line[64];
    snprintf(line, sizeof line, "SETBIT long %d 1", 8 * 300 + 5);
    EXPECT(line, ":0");
    EXPECT("BITPOS long 1", ":2405");
    EXPECT("BITPOS long 1 0 2404 BIT", ":-1");
    EXPECT("BITPOS long 1 2405 2405 BIT", ":2405");
    EXPECT("BITPOS long 0 1", ":8");
    snprintf(line, sizeof line, "SETBIT long %d 0", 8 * 300 + 5);
    EXPECT(line, ":1");
    EXPECT("BITPOS long 1", ":-1");
    const uint8_t mostly_ones[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff};
    set_bytes(fixture, "m", mostly_ones, sizeof mostly_ones);
    EXPECT("BITPOS m 0", ":167");
    EXPECT("BITPOS m 0 0 166 BIT", ":-1");
    EXPECT("BITPOS m 0 21", ":184");
    EXPECT("BITPOS m 0 21 -1", ":-1");
}

static void test_bitpos_order_of_checks(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET s ab", "+OK");
    EXPECT("BITPOS s 2", "-ERR The bit argument must be 1 or 0.");
    EXPECT("BITPOS s -1", "-ERR The bit argument must be 1 or 0.");
    EXPECT("BITPOS s x", "-ERR value is not an integer or out of range");
    EXPECT("BITPOS nokey 2", "-ERR The bit argument must be 1 or 0."); /* before the lookup */
    EXPECT("BITPOS nokey 0 x", ":0");                                  /* after it */
    EXPECT("BITPOS s 0 x 1", "-ERR value is not an integer or out of range");
    EXPECT("BITPOS s 0 1 x", "-ERR value is not an integer or out of range");
    EXPECT("BITPOS s 0 1 x foo", "-ERR syntax error"); /* the unit before the end */
    EXPECT("BITPOS s 0 0 -1 foo", "-ERR syntax error");
    EXPECT("BITPOS s 0 1 2 3 4", "-ERR syntax error");
    EXPECT("BITPOS s", "-ERR wrong number of arguments for 'bitpos' command");
    seed_list(fixture, "l");
    EXPECT("BITPOS l 5", "-ERR The bit argument must be 1 or 0.");
    EXPECT("BITPOS l 1 x", wrong_type);
    EXPECT("SET gone ab PX 5", "+OK");
    advance(5);
    EXPECT("BITPOS gone 1", ":-1");
    EXPECT("BITPOS gone 0", ":0");
}

/* ---- BITOP --------------------------------------------------------------------------------- */

static void test_bitop_operations(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a abc", "+OK");
    EXPECT("SET b a", "+OK");
    EXPECT("BITOP AND d a b", ":3");
    EXPECT("GET d", "\"a\\x00\\x00\"");
    EXPECT("BITOP or d a b", ":3");
    EXPECT("GET d", "\"abc\"");
    EXPECT("BITOP XOR d a b", ":3");
    EXPECT("GET d", "\"\\x00bc\"");
    EXPECT("BITOP NOT d a", ":3");
    EXPECT("GET d", "\"\\x9e\\x9d\\x9c\"");
    EXPECT("BITOP AND d a nokey", ":3");
    EXPECT("GET d", "\"\\x00\\x00\\x00\"");
    EXPECT("BITOP OR d nokey a a b", ":3");
    EXPECT("GET d", "\"abc\"");
    EXPECT("BITOP XOR d a a", ":3");
    EXPECT("GET d", "\"\\x00\\x00\\x00\"");
    EXPECT("BITOP AND a a b", ":3"); /* the target among the sources */
    EXPECT("GET a", "\"a\\x00\\x00\"");
}

static void test_bitop_target_ttl_type_and_emptiness(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a abc", "+OK");
    EXPECT("SET d x EX 100", "+OK");
    EXPECT("BITOP OR d a", ":3");
    EXPECT("TTL d", ":-1"); /* stored as SET stores: no time to live */
    EXPECT("SET d x EX 100", "+OK");
    EXPECT("BITOP AND d nokey1 nokey2", ":0");
    EXPECT("EXISTS d", ":0"); /* an empty result deletes the target */
    EXPECT("SET e ''", "+OK");
    EXPECT("SET d x", "+OK");
    EXPECT("BITOP NOT d e", ":0");
    EXPECT("EXISTS d", ":0");
    EXPECT("SET gone abcdef PX 10", "+OK");
    advance(10);
    EXPECT("BITOP OR d gone a gone", ":3"); /* an expired source is absent */
    EXPECT("GET d", "\"abc\"");
}

static void test_bitop_errors(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a abc", "+OK");
    EXPECT("BITOP NOT d a b", "-ERR BITOP NOT must be called with a single source key.");
    EXPECT("BITOP foo d a", "-ERR syntax error");
    EXPECT("BITOP DIFF d a", "-ERR syntax error"); /* Redis 8's operators are not 7.0's */
    EXPECT("BITOP NOT d", "-ERR wrong number of arguments for 'bitop' command");
    EXPECT("BITOP AND d", "-ERR wrong number of arguments for 'bitop' command");
    char line[700];
    snprintf(line, sizeof line, "BITOP AND %0504d a", 0);
    EXPECT(line, "-ERR key exceeds the maximum length of 503 bytes");
    seed_list(fixture, "l");
    EXPECT("BITOP AND d a l", wrong_type);
    EXPECT("BITOP AND d l nokey", wrong_type);
    EXPECT("EXISTS d", ":0");
    EXPECT("BITOP AND l a", ":3"); /* a target of another type is replaced */
    EXPECT("TYPE l", "+string");
}

/* ---- INCRBYFLOAT --------------------------------------------------------------------------- */

static void test_incrbyfloat_formats_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("INCRBYFLOAT f 1.5", "\"1.5\"");
    EXPECT("INCRBYFLOAT f 0.1", "\"1.6\"");
    EXPECT("INCRBYFLOAT f -1.6", "\"0\"");
    EXPECT("INCRBYFLOAT f 1e3", "\"1000\"");
    EXPECT("GET f", "\"1000\"");
    EXPECT("INCRBYFLOAT y 5.0e3", "\"5000\"");
    EXPECT("INCRBYFLOAT z -0.0", "\"0\"");
    EXPECT("INCRBYFLOAT z 0x10", "\"16\"");
    EXPECT("INCRBYFLOAT w 1.23456789012345678901", "\"1.23456789012345679\"");
    EXPECT("INCRBYFLOAT v 10.5e-5", "\"0.000105\"");
    EXPECT("SET i 10", "+OK");
    EXPECT("INCRBYFLOAT i 5", "\"15\"");
    EXPECT("SET x 3 EX 100", "+OK");
    EXPECT("INCRBYFLOAT x 0.5", "\"3.5\"");
    EXPECT("TTL x", ":100");
    EXPECT("SET g 1 PX 5", "+OK");
    advance(5);
    EXPECT("INCRBYFLOAT g 2", "\"2\""); /* expired: starts from 0, no TTL */
    EXPECT("TTL g", ":-1");
}

static void test_incrbyfloat_errors(void **state)
{
    struct fixture *fixture = *state;
    const char *not_float = "-ERR value is not a valid float";
    EXPECT("INCRBYFLOAT f abc", not_float);
    EXPECT("INCRBYFLOAT f nan", not_float);
    EXPECT("INCRBYFLOAT f 1x", not_float);
    EXPECT("INCRBYFLOAT f ''", not_float);
    struct kv_arg spaced[3] = {{(const uint8_t *)"INCRBYFLOAT", 11},
                               {(const uint8_t *)"f", 1},
                               {(const uint8_t *)" 1", 2}};
    assert_string_equal(run_argv(fixture, 3, spaced), not_float);
    EXPECT("INCRBYFLOAT f inf", "-ERR increment would produce NaN or Infinity");
    EXPECT("EXISTS f", ":0");
    EXPECT("SET t hello", "+OK");
    EXPECT("INCRBYFLOAT t 1", not_float);
    EXPECT("SET big 1e308", "+OK");
    EXPECT("SET m 1e4932", "+OK");
    EXPECT("INCRBYFLOAT m 1e4932", "-ERR increment would produce NaN or Infinity");
    EXPECT("GET m", "\"1e4932\"");
    EXPECT("INCRBYFLOAT f", "-ERR wrong number of arguments for 'incrbyfloat' command");
    seed_list(fixture, "l");
    EXPECT("INCRBYFLOAT l abc", wrong_type); /* the type before the increment */
}

/* ---- LCS ----------------------------------------------------------------------------------- */

static void test_lcs_string_len_and_ranges(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET key1 ohmytext", "+OK");
    EXPECT("SET key2 mynewtext", "+OK");
    EXPECT("LCS key1 key2", "\"mytext\"");
    EXPECT("LCS key1 key2 LEN", ":6");
    EXPECT("LCS key1 key2 IDX", "*4 | \"matches\" | *2 | *2 | *2 | :4 | :7 | *2 | :5 | :8 | *2 | "
                                "*2 | :2 | :3 | *2 | :0 | :1 | \"len\" | :6");
    EXPECT("LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN",
           "*4 | \"matches\" | *1 | *3 | *2 | :4 | :7 | *2 | :5 | :8 | :4 | \"len\" | :6");
    EXPECT("LCS key1 key2 idx withmatchlen",
           "*4 | \"matches\" | *2 | *3 | *2 | :4 | :7 | *2 | :5 | :8 | :4 | *3 | *2 | :2 | :3 | "
           "*2 | :0 | :1 | :2 | \"len\" | :6");
    EXPECT("LCS key1 key2 LEN MINMATCHLEN -5 WITHMATCHLEN", ":6");
    EXPECT("LCS key1 nokey", "\"\"");
    EXPECT("LCS nokey nokey IDX", "*4 | \"matches\" | *0 | \"len\" | :0");
    EXPECT("LCS key1 key1 IDX MINMATCHLEN 100", "*4 | \"matches\" | *0 | \"len\" | :8");
    EXPECT("LCS key1 key1 IDX", "*4 | \"matches\" | *1 | *2 | *2 | :0 | :7 | *2 | :0 | :7 | "
                                "\"len\" | :8");
    EXPECT("SET a ABCBDAB", "+OK"); /* several LCSs: Redis's walk picks this one */
    EXPECT("SET b BDCABA", "+OK");
    EXPECT("LCS a b", "\"BDAB\"");
    EXPECT("LCS b a", "\"BCBA\"");
    EXPECT("SET gone ohmytext PX 5", "+OK");
    advance(5);
    EXPECT("LCS gone key2 LEN", ":0");
}

static void test_lcs_errors(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET key1 ohmytext", "+OK");
    EXPECT("SET key2 mynewtext", "+OK");
    EXPECT("LCS key1 key2 LEN IDX",
           "-ERR If you want both the length and indexes, please just use IDX.");
    EXPECT("LCS key1 key2 MINMATCHLEN", "-ERR syntax error");
    EXPECT("LCS key1 key2 MINMATCHLEN x", "-ERR value is not an integer or out of range");
    EXPECT("LCS key1 key2 foo", "-ERR syntax error");
    EXPECT("LCS key1", "-ERR wrong number of arguments for 'lcs' command");
    seed_list(fixture, "l");
    const char *types = "-ERR The specified keys must contain string values";
    EXPECT("LCS key1 l", types);
    EXPECT("LCS l key1 foo", types); /* the types before the options */
    EXPECT("LCS nokey l LEN", types);
}

static void test_lcs_table_limit_follows_max_value_bytes(void **state)
{
    (void)state;
    struct fixture *fixture;
    setup_small_limit(&fixture); /* 100 bytes: a table of at most 25 cells */
    EXPECT("SET a abcd", "+OK");
    EXPECT("SET b abcd", "+OK");
    EXPECT("LCS a b LEN", ":4"); /* 5 × 5 cells of 4 bytes: exactly 100 */
    EXPECT("SET b abcde", "+OK");
    EXPECT("LCS a b LEN",
           "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    EXPECT("LCS a b IDX",
           "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    fixture_close(fixture);
    free(fixture);
}

static void test_command_table_entries(void **state)
{
    (void)state;
    struct {
        const char *name;
        int arity, first, last, step;
        unsigned flags;
    } expected[] = {
        {"setbit", 4, 1, 1, 1, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_EXTENDS},
        {"getbit", 3, 1, 1, 1, KV_COMMAND_READ},
        {"bitcount", -2, 1, 1, 1, KV_COMMAND_READ},
        {"bitpos", -3, 1, 1, 1, KV_COMMAND_READ},
        {"bitop", -4, 2, -1, 1, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_COPIES},
        {"incrbyfloat", 3, 1, 1, 1, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM},
        {"lcs", -3, 1, 2, 1, KV_COMMAND_READ},
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const struct kv_command *command =
            kv_command_lookup((const uint8_t *)expected[i].name, strlen(expected[i].name));
        assert_non_null(command);
        assert_int_equal(command->arity, expected[i].arity);
        assert_int_equal(command->first_key, expected[i].first);
        assert_int_equal(command->last_key, expected[i].last);
        assert_int_equal(command->key_step, expected[i].step);
        assert_int_equal(command->flags, expected[i].flags);
    }
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_setbit_sets_bits_most_significant_first),
        FIXTURE_TEST(test_setbit_keeps_the_ttl),
        FIXTURE_TEST(test_setbit_and_getbit_errors),
        cmocka_unit_test(test_setbit_offset_limit_follows_max_value_bytes),
        FIXTURE_TEST(test_bitcount_ranges_as_redis),
        FIXTURE_TEST(test_bitcount_order_of_checks),
        FIXTURE_TEST(test_bitpos_as_redis),
        FIXTURE_TEST(test_bitpos_order_of_checks),
        FIXTURE_TEST(test_bitop_operations),
        FIXTURE_TEST(test_bitop_target_ttl_type_and_emptiness),
        FIXTURE_TEST(test_bitop_errors),
        FIXTURE_TEST(test_incrbyfloat_formats_as_redis),
        FIXTURE_TEST(test_incrbyfloat_errors),
        FIXTURE_TEST(test_lcs_string_len_and_ranges),
        FIXTURE_TEST(test_lcs_errors),
        cmocka_unit_test(test_lcs_table_limit_follows_max_value_bytes),
        cmocka_unit_test(test_command_table_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
