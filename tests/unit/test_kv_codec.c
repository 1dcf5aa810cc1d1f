/*
 * test_kv_codec.c — the entry encoding (round trip, and the decoder's refusal of truncated,
 * padded, garbage and oversized input), Redis's integer syntax, and the glob matcher.
 */
#include "test_kv_support.c"

static const struct kv_arg sample_argv[] = {
    {(const uint8_t *)"SET", 3},
    {(const uint8_t *)"key", 3},
    {(const uint8_t *)"", 0},
    {(const uint8_t *)"v\0\r\n", 4},
};
#define SAMPLE_ARGC 4

static size_t encode_sample(uint8_t *out, size_t capacity)
{
    size_t written;
    assert_int_equal(kv_command_encode(SAMPLE_ARGC, sample_argv, 1234567, out, capacity, &written),
                     0);
    return written;
}

static void test_encode_decode_round_trip(void **state)
{
    (void)state;
    uint8_t bytes[128];
    size_t written = encode_sample(bytes, sizeof bytes);
    assert_int_equal(written, kv_command_encoded_bytes(SAMPLE_ARGC, sample_argv));
    assert_int_equal(written, 13 + 4 * 4 + 3 + 3 + 0 + 4);
    struct kv_arg argv[8];
    size_t argc;
    uint64_t stamp_ms = 0;
    assert_int_equal(kv_command_decode(bytes, written, argv, 8, &argc, &stamp_ms), 0);
    assert_int_equal(stamp_ms, 1234567);
    assert_int_equal(argc, SAMPLE_ARGC);
    for (size_t i = 0; i < argc; i++) {
        assert_int_equal(argv[i].data_bytes, sample_argv[i].data_bytes);
        assert_memory_equal(argv[i].data, sample_argv[i].data, argv[i].data_bytes);
    }
}

static void test_encode_refuses_small_buffer_and_no_arguments(void **state)
{
    (void)state;
    uint8_t bytes[16];
    size_t written;
    assert_int_equal(
        kv_command_encode(SAMPLE_ARGC, sample_argv, 1234567, bytes, sizeof bytes, &written),
        KV_ERROR_TOO_BIG);
    assert_int_equal(kv_command_encoded_bytes(0, sample_argv), 0);
    assert_int_equal(kv_command_encode(0, sample_argv, 1234567, bytes, sizeof bytes, &written),
                     KV_ERROR_TOO_BIG);
}

static void test_decode_rejects_every_truncation(void **state)
{
    (void)state;
    uint8_t bytes[128];
    size_t written = encode_sample(bytes, sizeof bytes);
    for (size_t length = 0; length < written; length++) {
        uint8_t *copy = malloc(length > 0 ? length : 1); /* exact size, for ASan */
        assert_non_null(copy);
        memcpy(copy, bytes, length);
        struct kv_arg argv[8];
        size_t argc;
        assert_int_equal(kv_command_decode(copy, length, argv, 8, &argc, NULL), KV_ERROR_CORRUPT);
        free(copy);
    }
}

static void test_decode_rejects_trailing_bytes(void **state)
{
    (void)state;
    uint8_t bytes[128];
    size_t written = encode_sample(bytes, sizeof bytes);
    bytes[written] = 0;
    struct kv_arg argv[8];
    size_t argc;
    assert_int_equal(kv_command_decode(bytes, written + 1, argv, 8, &argc, NULL), KV_ERROR_CORRUPT);
}

static void test_decode_rejects_unknown_version(void **state)
{
    (void)state;
    uint8_t bytes[128];
    size_t written = encode_sample(bytes, sizeof bytes);
    bytes[0] = 3;
    struct kv_arg argv[8];
    size_t argc;
    assert_int_equal(kv_command_decode(bytes, written, argv, 8, &argc, NULL), KV_ERROR_UNSUPPORTED);
}

/* Entries written before the replicated clock (format 1: no stamp) still apply, at stamp 0. */
static void test_decode_reads_format_1_without_a_stamp(void **state)
{
    (void)state;
    const uint8_t old[] = {1, 2, 0, 0, 0, 3, 0, 0, 0, 'G', 'E', 'T', 1, 0, 0, 0, 'k'};
    struct kv_arg argv[8];
    size_t argc = 0;
    uint64_t stamp_ms = 99;
    assert_int_equal(kv_command_decode(old, sizeof old, argv, 8, &argc, &stamp_ms), 0);
    assert_int_equal(argc, 2);
    assert_int_equal(stamp_ms, 0);
    assert_memory_equal(argv[1].data, "k", 1);
}

static void test_decode_rejects_bad_counts_and_lengths(void **state)
{
    (void)state;
    struct kv_arg argv[8];
    size_t argc;
    const uint8_t zero_args[] = {1, 0, 0, 0, 0};
    assert_int_equal(kv_command_decode(zero_args, sizeof zero_args, argv, 8, &argc, NULL),
                     KV_ERROR_CORRUPT);
    const uint8_t huge_count[] = {1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_int_equal(kv_command_decode(huge_count, sizeof huge_count, argv, 8, &argc, NULL),
                     KV_ERROR_CORRUPT);
    const uint8_t huge_length[] = {1, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'a'};
    assert_int_equal(kv_command_decode(huge_length, sizeof huge_length, argv, 8, &argc, NULL),
                     KV_ERROR_CORRUPT);
    assert_int_equal(kv_command_decode(NULL, 0, argv, 8, &argc, NULL), KV_ERROR_CORRUPT);
}

static void test_decode_counts_when_capacity_is_short(void **state)
{
    (void)state;
    uint8_t bytes[128];
    size_t written = encode_sample(bytes, sizeof bytes);
    struct kv_arg argv[2];
    size_t argc = 0;
    assert_int_equal(kv_command_decode(bytes, written, argv, 2, &argc, NULL), KV_ERROR_TOO_BIG);
    assert_int_equal(argc, SAMPLE_ARGC);
    argc = 0;
    assert_int_equal(kv_command_decode(bytes, written, NULL, 0, &argc, NULL), 0);
    assert_int_equal(argc, SAMPLE_ARGC);
}

static void test_decode_head_fills_the_first_arguments_of_a_longer_command(void **state)
{
    (void)state;
    uint8_t bytes[128];
    size_t written = encode_sample(bytes, sizeof bytes);
    struct kv_arg full[8];
    size_t argc = 0;
    assert_int_equal(kv_command_decode(bytes, written, full, 8, &argc, NULL), 0);
    struct kv_arg head[2];
    size_t head_argc = 0;
    assert_int_equal(kv_command_decode_head(bytes, written, head, 2, &head_argc), 0);
    assert_int_equal(head_argc, SAMPLE_ARGC);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(head[i].data_bytes, full[i].data_bytes);
        assert_memory_equal(head[i].data, full[i].data, full[i].data_bytes);
    }
    /* The whole entry is still checked: a truncated one is refused. */
    assert_int_equal(kv_command_decode_head(bytes, written - 1, head, 2, &head_argc),
                     KV_ERROR_CORRUPT);
}

static void test_decode_survives_pseudo_random_garbage(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    uint8_t bytes[64];
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        size_t length = (size_t)(seed % sizeof bytes);
        for (size_t i = 0; i < length; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            bytes[i] = (uint8_t)seed;
        }
        if (length > 0 && (round & 1)) {
            bytes[0] = (uint8_t)(1 + (round & 2) / 2); /* a known version half of the time */
        }
        struct kv_arg argv[16];
        size_t argc;
        int result = kv_command_decode(bytes, length, argv, 16, &argc, NULL);
        assert_true(result == 0 || result == KV_ERROR_CORRUPT || result == KV_ERROR_UNSUPPORTED ||
                    result == KV_ERROR_TOO_BIG);
        if (result == 0) {
            accepted++;
            for (size_t i = 0; i < argc; i++) {
                assert_true(argv[i].data >= bytes);
                assert_true(argv[i].data + argv[i].data_bytes <= bytes + length);
            }
        }
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    }
    assert_true(accepted < 20000);
}

static void test_parse_int64_follows_redis(void **state)
{
    (void)state;
    struct {
        const char *text;
        bool valid;
        int64_t value;
    } cases[] = {
        {"0", true, 0},
        {"-1", true, -1},
        {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0},
        {"-9223372036854775809", false, 0},
        {"99999999999999999999", false, 0},
        {"", false, 0},
        {"-", false, 0},
        {"-0", false, 0},
        {"01", false, 0},
        {"+1", false, 0},
        {" 1", false, 0},
        {"1 ", false, 0},
        {"1a", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t value = 12345;
        bool valid = kv_parse_int64((const uint8_t *)cases[i].text, strlen(cases[i].text), &value);
        assert_int_equal(valid, cases[i].valid);
        if (valid) {
            assert_int_equal(value, cases[i].value);
        }
    }
}

static bool glob(const char *pattern, const char *text)
{
    return kv_glob_match((const uint8_t *)pattern, strlen(pattern), (const uint8_t *)text,
                         strlen(text));
}

static void test_glob_wildcards(void **state)
{
    (void)state;
    /* As Redis's matcher: the empty string matches only the empty pattern (KEYS and SCAN
     * take a lone "*" as "everything" before they match). */
    assert_false(glob("*", ""));
    assert_false(glob("**", ""));
    assert_true(glob("*", "anything"));
    assert_true(glob("h?llo", "hello"));
    assert_false(glob("h?llo", "hllo"));
    assert_true(glob("h*llo", "hllo"));
    assert_true(glob("h*llo", "heeeello"));
    assert_false(glob("h*llo", "hello!"));
    assert_true(glob("a*b*c", "aXbYbZc"));
    assert_false(glob("a*b*c", "aXbYbZ"));
    assert_true(glob("**a", "ba"));
    assert_false(glob("", "a"));
    assert_true(glob("", ""));
}

static void test_glob_sets_ranges_and_escapes(void **state)
{
    (void)state;
    assert_true(glob("h[ae]llo", "hallo"));
    assert_false(glob("h[ae]llo", "hillo"));
    assert_true(glob("h[^e]llo", "hallo"));
    assert_false(glob("h[^e]llo", "hello"));
    assert_true(glob("h[a-b]llo", "hbllo"));
    assert_true(glob("h[b-a]llo", "hallo")); /* reversed range */
    assert_false(glob("h[a-b]llo", "hcllo"));
    assert_true(glob("a\\*b", "a*b"));
    assert_false(glob("a\\*b", "axb"));
    assert_true(glob("[\\]]", "]"));
    assert_true(glob("a[bc", "ab")); /* an open set runs to the end */
    assert_true(glob("a\\", "a\\")); /* a trailing backslash is itself */
}

static void test_glob_pathological_pattern_is_fast(void **state)
{
    (void)state;
    char text[4001];
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    /* Exponential for naive recursion; bounded by pattern × text here. */
    assert_false(glob("*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
}

/* Every code in KV_ERRORS has its own text, and values beyond the list fall back. */
static void test_error_strings_name_every_code(void **state)
{
    (void)state;
    int lowest = 0;
#define KV_CHECK_CODE(name, value, text)                                                           \
    assert_int_equal(name, value);                                                                 \
    assert_true(text[0] != '\0');                                                                  \
    assert_string_not_equal(text, "unknown error");                                                \
    assert_string_equal(kv_error_string(value), text);                                             \
    lowest = value < lowest ? value : lowest;
    KV_ERRORS(KV_CHECK_CODE)
#undef KV_CHECK_CODE
    assert_string_equal(kv_error_string(lowest - 1), "unknown error");
    assert_string_equal(kv_error_string(1), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode_round_trip),
        cmocka_unit_test(test_encode_refuses_small_buffer_and_no_arguments),
        cmocka_unit_test(test_decode_rejects_every_truncation),
        cmocka_unit_test(test_decode_rejects_trailing_bytes),
        cmocka_unit_test(test_decode_head_fills_the_first_arguments_of_a_longer_command),
        cmocka_unit_test(test_decode_rejects_unknown_version),
        cmocka_unit_test(test_decode_reads_format_1_without_a_stamp),
        cmocka_unit_test(test_decode_rejects_bad_counts_and_lengths),
        cmocka_unit_test(test_decode_counts_when_capacity_is_short),
        cmocka_unit_test(test_decode_survives_pseudo_random_garbage),
        cmocka_unit_test(test_parse_int64_follows_redis),
        cmocka_unit_test(test_glob_wildcards),
        cmocka_unit_test(test_glob_sets_ranges_and_escapes),
        cmocka_unit_test(test_glob_pathological_pattern_is_fast),
        cmocka_unit_test(test_error_strings_name_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
