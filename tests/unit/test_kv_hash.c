/*
 * test_kv_hash.c — the hash commands against Redis 7.0's replies: HSET, HSETNX, HGET, HMGET,
 * HMSET, HGETALL, HDEL, HEXISTS, HLEN, HKEYS, HVALS, HINCRBY, HINCRBYFLOAT, HSTRLEN,
 * HRANDFIELD and HSCAN, with their errors, WRONGTYPE, expired keys (test_clock_ms), the
 * 494-byte field and 503-byte key limits, and the hashed layout's SCAN-style cursor and random
 * picks. Orders that Redis leaves arbitrary (HGETALL, HSCAN, HRANDFIELD) are checked as sets.
 */
#include "test_kv_support.c"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

#define MAX_ITEMS 1024

/* A transcript cut into its replies (" | "-separated), in static storage. */
struct items {
    char copy[TRANSCRIPT_BYTES];
    const char *item[MAX_ITEMS];
    size_t count;
};

static void split_items(const char *text, struct items *items)
{
    snprintf(items->copy, sizeof items->copy, "%s", text);
    items->count = 0;
    char *cursor = items->copy;
    while (cursor != NULL && *cursor != '\0') {
        assert_true(items->count < MAX_ITEMS);
        items->item[items->count++] = cursor;
        char *separator = strstr(cursor, " | ");
        if (separator != NULL) {
            *separator = '\0';
            cursor = separator + 3;
        } else {
            cursor = NULL;
        }
    }
}

static size_t find_item(const struct items *items, size_t from, const char *wanted)
{
    size_t found = 0;
    for (size_t i = from; i < items->count; i++) {
        found += strcmp(items->item[i], wanted) == 0 ? 1 : 0;
    }
    return found;
}

/* Fills a hash with fields f0..f(n-1) holding v0..v(n-1), a few per command. */
static void fill_hash(struct fixture *fixture, const char *key, size_t n)
{
    for (size_t first = 0; first < n; first += 20) {
        char line[TRANSCRIPT_BYTES];
        size_t used = (size_t)snprintf(line, sizeof line, "HSET %s", key);
        for (size_t i = first; i < n && i < first + 20; i++) {
            used += (size_t)snprintf(line + used, sizeof line - used, " f%zu v%zu", i, i);
        }
        run(fixture, line);
    }
    char line[64], expected[32];
    snprintf(line, sizeof line, "HLEN %s", key);
    snprintf(expected, sizeof expected, ":%zu", n);
    EXPECT(line, expected);
}

/* Runs a command given as separate words (NULL-terminated), for arguments with spaces. */
static const char *runv(struct fixture *fixture, ...)
{
    struct kv_arg argv[16];
    size_t argc = 0;
    va_list words;
    va_start(words, fixture);
    for (const char *word = va_arg(words, const char *); word != NULL;
         word = va_arg(words, const char *)) {
        assert_true(argc < 16);
        argv[argc++] = (struct kv_arg){.data = (const uint8_t *)word, .data_bytes = strlen(word)};
    }
    va_end(words);
    return run_argv(fixture, argc, argv);
}

static void advance(uint64_t ms)
{
    test_clock_ms += ms;
}

/* ---- HSET, HMSET, HSETNX, HGET, HMGET ---- */

static void test_hset_counts_new_fields_and_overwrites(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSET h a 1 b 2 a 3", ":2"); /* a repeated field is new once, the last value wins */
    EXPECT("HGET h a", "\"3\"");
    EXPECT("HGET h b", "\"2\"");
    EXPECT("HSET h a 4 c 5", ":1");
    EXPECT("HGET h a", "\"4\"");
    EXPECT("HLEN h", ":3");
    EXPECT("TYPE h", "+hash");
    EXPECT("HSET h '' ''", ":1"); /* the empty field and value are fields like any */
    EXPECT("HGET h ''", "\"\"");
    EXPECT("HLEN h", ":4");
}

static void test_hset_pairs_are_checked_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSET h", "-ERR wrong number of arguments for 'hset' command");
    EXPECT("HSET h a", "-ERR wrong number of arguments for 'hset' command");
    EXPECT("HSET h a 1 b", "-ERR wrong number of arguments for 'hset' command");
    EXPECT("hmset h a 1 b", "-ERR wrong number of arguments for 'hmset' command");
    EXPECT("EXISTS h", ":0");
}

static void test_hmset_replies_ok(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HMSET h a 1 b 2", "+OK");
    EXPECT("HMSET h a 9", "+OK");
    EXPECT("HMGET h a b", "*2 | \"9\" | \"2\"");
}

static void test_hsetnx_sets_only_a_missing_field(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSETNX h a 1", ":1");
    EXPECT("HSETNX h a 2", ":0");
    EXPECT("HGET h a", "\"1\"");
    EXPECT("HSETNX h b 2", ":1");
    EXPECT("HLEN h", ":2");
}

static void test_hget_and_hmget_of_missing_fields_and_keys(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HGET nokey a", "(nil)");
    EXPECT("HMGET nokey a b", "*2 | (nil) | (nil)");
    EXPECT("HSET h a 1 z 9", ":2");
    EXPECT("HGET h nope", "(nil)");
    EXPECT("HMGET h a nope z", "*3 | \"1\" | (nil) | \"9\"");
}

/* ---- HGETALL, HKEYS, HVALS ---- */

static void test_hgetall_hkeys_hvals_hold_every_field(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HGETALL nokey", "*0");
    EXPECT("HKEYS nokey", "*0");
    EXPECT("HVALS nokey", "*0");
    EXPECT("HSET h a 1 b 2 c 3", ":3");
    struct items items;
    split_items(run(fixture, "HGETALL h"), &items);
    assert_int_equal(items.count, 7);
    assert_string_equal(items.item[0], "*6");
    for (size_t i = 1; i < 7; i += 2) { /* each field is followed by its own value */
        const char *field = items.item[i];
        const char *value = items.item[i + 1];
        assert_int_equal(field[1] - 'a', value[1] - '1');
    }
    split_items(run(fixture, "HKEYS h"), &items);
    assert_int_equal(items.count, 4);
    assert_string_equal(items.item[0], "*3");
    assert_int_equal(find_item(&items, 1, "\"a\"") + find_item(&items, 1, "\"b\"") +
                         find_item(&items, 1, "\"c\""),
                     3);
    split_items(run(fixture, "HVALS h"), &items);
    assert_int_equal(items.count, 4);
    assert_int_equal(find_item(&items, 1, "\"1\"") + find_item(&items, 1, "\"2\"") +
                         find_item(&items, 1, "\"3\""),
                     3);
}

static void test_hkeys_and_hvals_pair_up_in_the_same_order(void **state)
{
    struct fixture *fixture = *state;
    fill_hash(fixture, "h", 50);
    struct items keys, values;
    split_items(run(fixture, "HKEYS h"), &keys);
    split_items(run(fixture, "HVALS h"), &values);
    assert_int_equal(keys.count, 51);
    assert_int_equal(values.count, 51);
    for (size_t i = 1; i < keys.count; i++) {
        assert_string_equal(keys.item[i] + 2, values.item[i] + 2); /* "fN" and "vN" */
        assert_int_equal(find_item(&keys, 1, keys.item[i]), 1);
    }
}

/* ---- HDEL, HEXISTS, HLEN, HSTRLEN ---- */

static void test_hdel_counts_and_deletes_an_emptied_hash(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HDEL nokey a", ":0");
    EXPECT("HSET h a 1 b 2 c 3", ":3");
    EXPECT("HDEL h a a nope", ":1"); /* a field repeated in one HDEL goes once */
    EXPECT("HLEN h", ":2");
    EXPECT("HEXISTS h a", ":0");
    EXPECT("HDEL h b c", ":2");
    EXPECT("EXISTS h", ":0");
    EXPECT("TYPE h", "+none");
    EXPECT("HLEN h", ":0");
    EXPECT("HDEL h", "-ERR wrong number of arguments for 'hdel' command");
}

static void test_hexists_hlen_hstrlen(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HEXISTS nokey a", ":0");
    EXPECT("HLEN nokey", ":0");
    EXPECT("HSTRLEN nokey a", ":0");
    EXPECT("HSET h a hello e ''", ":2");
    EXPECT("HEXISTS h a", ":1");
    EXPECT("HEXISTS h e", ":1");
    EXPECT("HEXISTS h b", ":0");
    EXPECT("HSTRLEN h a", ":5");
    EXPECT("HSTRLEN h e", ":0");
    EXPECT("HSTRLEN h b", ":0");
    EXPECT("HLEN h", ":2");
}

/* ---- HINCRBY, HINCRBYFLOAT ---- */

static void test_hincrby_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HINCRBY h a 5", ":5");
    EXPECT("HINCRBY h a -7", ":-2");
    EXPECT("HGET h a", "\"-2\"");
    EXPECT("HINCRBY h a x", "-ERR value is not an integer or out of range");
    EXPECT("HINCRBY h a 1.5", "-ERR value is not an integer or out of range");
    assert_string_equal(
        runv(fixture, "HSET", "h", "s", "abc", "sp", " 1", "fl", "1.5", "e", "", "z", "007", NULL),
        ":5");
    EXPECT("HINCRBY h s 1", "-ERR hash value is not an integer");
    EXPECT("HINCRBY h sp 1", "-ERR hash value is not an integer");
    EXPECT("HINCRBY h fl 1", "-ERR hash value is not an integer");
    EXPECT("HINCRBY h e 1", "-ERR hash value is not an integer");
    EXPECT("HINCRBY h z 1", "-ERR hash value is not an integer");
    EXPECT("HLEN h", ":6");
}

static void test_hincrby_overflow_both_ways(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSET h big 9223372036854775807", ":1");
    EXPECT("HINCRBY h big 1", "-ERR increment or decrement would overflow");
    EXPECT("HINCRBY h big 0", ":9223372036854775807");
    EXPECT("HINCRBY h small -9223372036854775808", ":-9223372036854775808");
    EXPECT("HINCRBY h small -1", "-ERR increment or decrement would overflow");
    EXPECT("HINCRBY h small 9223372036854775807", ":-1");
    EXPECT("HGET h big", "\"9223372036854775807\"");
}

static void test_hincrbyfloat_formats_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HINCRBYFLOAT h a 10.5", "\"10.5\"");
    EXPECT("HINCRBYFLOAT h a 0.1", "\"10.6\"");
    EXPECT("HINCRBYFLOAT h a -10.6", "\"0\"");
    EXPECT("HINCRBYFLOAT h b 5.0e3", "\"5000\"");
    EXPECT("HINCRBYFLOAT h c 0x10", "\"16\"");
    EXPECT("HSET h i 10", ":1");
    EXPECT("HINCRBYFLOAT h i 0.1", "\"10.1\"");
    EXPECT("HINCRBYFLOAT h i -0.1", "\"10\"");
    EXPECT("HINCRBY h i 1", ":11"); /* the float's text is an integer again */
    EXPECT("HINCRBYFLOAT h d 3.0000000000000000000001", "\"3\"");
    EXPECT("HGET h b", "\"5000\"");
}

static void test_hincrbyfloat_errors_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HINCRBYFLOAT h a x", "-ERR value is not a valid float");
    EXPECT("HINCRBYFLOAT h a ''", "-ERR value is not a valid float");
    EXPECT("HINCRBYFLOAT h a nan", "-ERR value is not a valid float");
    EXPECT("HINCRBYFLOAT h a 1e5000", "-ERR value is not a valid float");
    EXPECT("HINCRBYFLOAT h a inf", "-ERR value is NaN or Infinity");
    EXPECT("HINCRBYFLOAT h a -inf", "-ERR value is NaN or Infinity");
    assert_string_equal(runv(fixture, "HSET", "h", "s", "abc", "sp", " 1", "e", "", NULL), ":3");
    EXPECT("HINCRBYFLOAT h s 1", "-ERR hash value is not a float");
    EXPECT("HINCRBYFLOAT h sp 1", "-ERR hash value is not a float");
    EXPECT("HINCRBYFLOAT h e 1", "-ERR hash value is not a float");
    EXPECT("HSET h huge 1e4932", ":1");
    EXPECT("HINCRBYFLOAT h huge 1e4932", "-ERR increment would produce NaN or Infinity");
    EXPECT("HGET h huge", "\"1e4932\"");
    EXPECT("EXISTS nothing", ":0");
    EXPECT("HINCRBYFLOAT nothing f inf", "-ERR value is NaN or Infinity");
    EXPECT("EXISTS nothing", ":0");
}

static void test_hincrbyfloat_keeps_large_values_whole(void **state)
{
    struct fixture *fixture = *state;
    const char *text = run(fixture, "HINCRBYFLOAT h f 1e308");
    assert_int_equal(strlen(text), 2 + 308); /* quotes and 308 digits, no exponent */
    assert_memory_equal(text, "\"99999999999999999996", 21);
    text = run(fixture, "HSTRLEN h f");
    assert_string_equal(text, ":308");
}

/* ---- WRONGTYPE, expiry, limits ---- */

static void test_every_hash_command_refuses_another_type(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET s x", "+OK");
    const char *lines[] = {
        "HSET s a 1",
        "HSETNX s a 1",
        "HGET s a",
        "HMGET s a",
        "HMSET s a 1",
        "HGETALL s",
        "HDEL s a",
        "HEXISTS s a",
        "HLEN s",
        "HKEYS s",
        "HVALS s",
        "HINCRBY s a 1",
        "HSTRLEN s a",
        "HRANDFIELD s",
        "HRANDFIELD s 2",
        "HSCAN s 0",
        "HINCRBYFLOAT s a 1.5",
        "HRANDFIELD s 0",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        assert_string_equal(run(fixture, lines[i]),
                            "-WRONGTYPE Operation against a key holding the wrong kind of value");
    }
    /* Argument errors come first, as in Redis. */
    EXPECT("HINCRBY s a x", "-ERR value is not an integer or out of range");
    EXPECT("HINCRBYFLOAT s a x", "-ERR value is not a valid float");
    EXPECT("HRANDFIELD s x", "-ERR value is not an integer or out of range");
    EXPECT("HSCAN s x", "-ERR invalid cursor");
    EXPECT("GET s", "\"x\"");
}

static void test_an_expired_hash_is_absent_and_replaced(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSET h a 1 b 2", ":2");
    EXPECT("PEXPIRE h 100", ":1");
    advance(99);
    EXPECT("HGET h a", "\"1\"");
    advance(1);
    EXPECT("HGET h a", "(nil)");
    EXPECT("HLEN h", ":0");
    EXPECT("HGETALL h", "*0");
    EXPECT("HEXISTS h a", ":0");
    EXPECT("HRANDFIELD h", "(nil)");
    EXPECT("HSCAN h 0", "*2 | \"0\" | *0");
    EXPECT("HDEL h a", ":0");
    EXPECT("HSET h c 3", ":1"); /* a new hash: the old fields went with the key */
    EXPECT("HGETALL h", "*2 | \"c\" | \"3\"");
    EXPECT("TTL h", ":-1");
    EXPECT("HINCRBY h c 1", ":4");
}

static void test_hincrby_on_an_expired_hash_starts_from_zero(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSET h n 10", ":1");
    EXPECT("PEXPIRE h 5", ":1");
    advance(5);
    EXPECT("HINCRBY h n 1", ":1");
    EXPECT("HINCRBYFLOAT h x 1.5", "\"1.5\"");
    EXPECT("HLEN h", ":2");
}

/* A line "PREFIX <n times c> SUFFIX". */
static const char *long_word_line(char *line, size_t capacity, const char *prefix, size_t n, char c,
                                  const char *suffix)
{
    size_t used = (size_t)snprintf(line, capacity, "%s", prefix);
    assert_true(used + n + strlen(suffix) < capacity);
    memset(line + used, c, n);
    snprintf(line + used + n, capacity - used - n, "%s", suffix);
    return line;
}

static void test_fields_up_to_494_bytes_keys_up_to_503(void **state)
{
    struct fixture *fixture = *state;
    char line[2048];
    const char *too_long = "-ERR member exceeds the maximum length of 494 bytes";
    EXPECT(long_word_line(line, sizeof line, "HSET h ", 494, 'f', " v"), ":1");
    EXPECT(long_word_line(line, sizeof line, "HSTRLEN h ", 494, 'f', ""), ":1");
    EXPECT(long_word_line(line, sizeof line, "HSET h ", 495, 'f', " v"), too_long);
    EXPECT(long_word_line(line, sizeof line, "HMSET h a 1 ", 495, 'f', " v"), too_long);
    EXPECT(long_word_line(line, sizeof line, "HSETNX h ", 495, 'f', " v"), too_long);
    EXPECT(long_word_line(line, sizeof line, "HINCRBY h ", 495, 'f', " 1"), too_long);
    EXPECT(long_word_line(line, sizeof line, "HINCRBYFLOAT h ", 495, 'f', " 1"), too_long);
    EXPECT("HEXISTS h a", ":0"); /* HMSET's error wrote nothing */
    /* Reads of a longer field simply do not find it. */
    EXPECT(long_word_line(line, sizeof line, "HGET h ", 495, 'f', ""), "(nil)");
    EXPECT(long_word_line(line, sizeof line, "HEXISTS h ", 495, 'f', ""), ":0");
    EXPECT(long_word_line(line, sizeof line, "HDEL h ", 495, 'f', ""), ":0");
    EXPECT(long_word_line(line, sizeof line, "HMGET h ", 495, 'f', ""), "*1 | (nil)");
    EXPECT("HLEN h", ":1");
    const char *key_too_long = "-ERR key exceeds the maximum length of 503 bytes";
    EXPECT(long_word_line(line, sizeof line, "HSET ", 503, 'k', " f v"), ":1");
    EXPECT(long_word_line(line, sizeof line, "HSET ", 504, 'k', " f v"), key_too_long);
    EXPECT(long_word_line(line, sizeof line, "HINCRBY ", 504, 'k', " f 1"), key_too_long);
    EXPECT(long_word_line(line, sizeof line, "HGET ", 504, 'k', " f"), "(nil)");
    EXPECT("DBSIZE", ":2");
}

static void test_a_494_byte_field_is_replied_whole(void **state)
{
    struct fixture *fixture = *state;
    char line[2048];
    char expected[2048];
    EXPECT(long_word_line(line, sizeof line, "HSET h ", 494, 'f', " v"), ":1");
    long_word_line(expected, sizeof expected, "*1 | \"", 494, 'f', "\"");
    EXPECT("HKEYS h", expected);
    long_word_line(expected, sizeof expected, "*2 | \"0\" | *2 | \"", 494, 'f', "\" | \"v\"");
    EXPECT("HSCAN h 0", expected);
    long_word_line(expected, sizeof expected, "\"", 494, 'f', "\"");
    EXPECT("HRANDFIELD h", expected);
}

/* ---- HRANDFIELD ---- */

static void test_hrandfield_on_missing_keys_and_zero(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HRANDFIELD nokey", "(nil)");
    EXPECT("HRANDFIELD nokey 3", "*0");
    EXPECT("HRANDFIELD nokey -3 WITHVALUES", "*0");
    EXPECT("HSET h a 1", ":1");
    EXPECT("HRANDFIELD h 0", "*0");
    EXPECT("HRANDFIELD h 0 withvalues", "*0");
    EXPECT("HRANDFIELD h", "\"a\"");
    EXPECT("HRANDFIELD h 1", "*1 | \"a\"");
    EXPECT("HRANDFIELD h 5 WITHVALUES", "*2 | \"a\" | \"1\"");
    EXPECT("HRANDFIELD h -3", "*3 | \"a\" | \"a\" | \"a\"");
    EXPECT("HRANDFIELD h -2 withvalues", "*4 | \"a\" | \"1\" | \"a\" | \"1\"");
}

static void test_hrandfield_errors_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSET h a 1", ":1");
    EXPECT("HRANDFIELD h x", "-ERR value is not an integer or out of range");
    EXPECT("HRANDFIELD h x foo", "-ERR value is not an integer or out of range");
    EXPECT("HRANDFIELD nokey x", "-ERR value is not an integer or out of range");
    EXPECT("HRANDFIELD h 1 foo", "-ERR syntax error");
    EXPECT("HRANDFIELD h 1 withvalues x", "-ERR syntax error");
    EXPECT("HRANDFIELD h -9223372036854775808",
           "-ERR value is out of range, value must between -9223372036854775807 and "
           "9223372036854775807");
    EXPECT("HRANDFIELD h -4611686018427387904 withvalues", "-ERR value is out of range");
    EXPECT("HRANDFIELD h 4611686018427387904 withvalues", "-ERR value is out of range");
    EXPECT("HRANDFIELD h 4611686018427387903 withvalues", "*2 | \"a\" | \"1\"");
    EXPECT("HRANDFIELD h 9223372036854775807", "*1 | \"a\"");
    /* raftkv bounds the repeated picks (Redis would build the whole reply). */
    EXPECT("HRANDFIELD h -1048577", "-ERR count would repeat more than 1048576 members");
    EXPECT("HRANDFIELD nokey -1048577", "*0");
}

/* Checks a HRANDFIELD reply: `expected` replies, distinct fields when `distinct`, each value
 * the one of its field. */
static void check_random_fields(const char *text, size_t expected, bool distinct, bool with_values)
{
    struct items items;
    split_items(text, &items);
    size_t per = with_values ? 2 : 1;
    assert_int_equal(items.count, 1 + expected * per);
    char header[32];
    snprintf(header, sizeof header, "*%zu", expected * per);
    assert_string_equal(items.item[0], header);
    for (size_t i = 1; i < items.count; i += per) {
        assert_int_equal(items.item[i][1], 'f');
        if (with_values) {
            assert_string_equal(items.item[i] + 2, items.item[i + 1] + 2);
        }
        if (distinct) {
            assert_int_equal(find_item(&items, 1, items.item[i]), 1);
        }
    }
}

static void test_hrandfield_positive_counts_are_distinct(void **state)
{
    struct fixture *fixture = *state;
    fill_hash(fixture, "h", 100);
    /* 10 of 100: random seeks; 60 of 100: one sampling walk; 100 and more: the whole hash. */
    check_random_fields(run(fixture, "HRANDFIELD h 10"), 10, true, false);
    check_random_fields(run(fixture, "HRANDFIELD h 25 WITHVALUES"), 25, true, true);
    check_random_fields(run(fixture, "HRANDFIELD h 60"), 60, true, false);
    check_random_fields(run(fixture, "HRANDFIELD h 99 WITHVALUES"), 99, true, true);
    check_random_fields(run(fixture, "HRANDFIELD h 100"), 100, true, false);
    check_random_fields(run(fixture, "HRANDFIELD h 1000 withvalues"), 100, true, true);
}

static void test_hrandfield_negative_counts_may_repeat(void **state)
{
    struct fixture *fixture = *state;
    fill_hash(fixture, "h", 3);
    check_random_fields(run(fixture, "HRANDFIELD h -50"), 50, false, false);
    check_random_fields(run(fixture, "HRANDFIELD h -20 WITHVALUES"), 20, false, true);
}

static void test_hrandfield_reaches_every_field(void **state)
{
    struct fixture *fixture = *state;
    fill_hash(fixture, "h", 5);
    bool seen[5] = {false};
    for (int i = 0; i < 500; i++) {
        const char *text = run(fixture, "HRANDFIELD h");
        assert_int_equal(text[1], 'f');
        seen[text[2] - '0'] = true;
    }
    for (int i = 0; i < 5; i++) {
        assert_true(seen[i]);
    }
    /* Distinct picks of 1 out of 5 (the seek path) reach every field too. */
    bool picked[5] = {false};
    for (int i = 0; i < 500; i++) {
        const char *text = run(fixture, "HRANDFIELD h 1");
        picked[text[7] - '0'] = true; /* *1 | "fN" */
    }
    for (int i = 0; i < 5; i++) {
        assert_true(picked[i]);
    }
}

/* ---- HSCAN ---- */

/* Parses a scan reply: returns the cursor; items gets the whole reply. */
static uint64_t parse_scan(const char *text, struct items *items)
{
    split_items(text, items);
    assert_true(items->count >= 3);
    assert_string_equal(items->item[0], "*2");
    uint64_t cursor = strtoull(items->item[1] + 1, NULL, 10);
    size_t elements = strtoull(items->item[2] + 1, NULL, 10);
    assert_int_equal(items->count, 3 + elements);
    return cursor;
}

static void test_hscan_of_a_missing_or_small_hash(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSCAN nokey 0", "*2 | \"0\" | *0");
    EXPECT("HSCAN nokey 0 badoption", "*2 | \"0\" | *0"); /* the key is looked up first */
    EXPECT("HSCAN nokey 0 COUNT 0", "*2 | \"0\" | *0");
    EXPECT("HSET h a 1", ":1");
    EXPECT("HSCAN h 0", "*2 | \"0\" | *2 | \"a\" | \"1\"");
    EXPECT("HSCAN h 0 MATCH a", "*2 | \"0\" | *2 | \"a\" | \"1\"");
    EXPECT("HSCAN h 0 MATCH b*", "*2 | \"0\" | *0");
    EXPECT("HSCAN h 0 match * count 1000", "*2 | \"0\" | *2 | \"a\" | \"1\"");
    EXPECT("HSCAN h '' COUNT 5 COUNT 1", "*2 | \"0\" | *2 | \"a\" | \"1\"");
}

static void test_hscan_errors_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("HSET h a 1", ":1");
    EXPECT("HSCAN h x", "-ERR invalid cursor");
    EXPECT("HSCAN nokey x", "-ERR invalid cursor");
    EXPECT("HSCAN h -", "-ERR invalid cursor");
    EXPECT("HSCAN h 1x", "-ERR invalid cursor");
    EXPECT("HSCAN h 18446744073709551616", "-ERR invalid cursor");
    EXPECT("HSCAN h 0 COUNT 0", "-ERR syntax error");
    EXPECT("HSCAN h 0 COUNT -1", "-ERR syntax error");
    EXPECT("HSCAN h 0 COUNT x", "-ERR value is not an integer or out of range");
    EXPECT("HSCAN h 0 MATCH", "-ERR syntax error");
    EXPECT("HSCAN h 0 TYPE hash", "-ERR syntax error");
    EXPECT("HSCAN h 0 NOVALUES", "-ERR syntax error"); /* Redis 7.4's, not 7.0's */
}

static void test_hscan_visits_every_field_once(void **state)
{
    struct fixture *fixture = *state;
    fill_hash(fixture, "h", 200);
    static bool seen[200];
    memset(seen, 0, sizeof seen);
    uint64_t cursor = 0;
    size_t calls = 0;
    do {
        char line[64];
        snprintf(line, sizeof line, "HSCAN h %llu COUNT 7", (unsigned long long)cursor);
        struct items items;
        cursor = parse_scan(run(fixture, line), &items);
        size_t elements = items.count - 3;
        assert_int_equal(elements % 2, 0);
        assert_true(elements / 2 >= 7 || cursor == 0); /* at least COUNT, but at the end */
        for (size_t i = 3; i < items.count; i += 2) {
            size_t n = strtoull(items.item[i] + 2, NULL, 10);
            assert_true(n < 200);
            assert_false(seen[n]);
            seen[n] = true;
            assert_string_equal(items.item[i] + 2, items.item[i + 1] + 2);
        }
        calls++;
    } while (cursor != 0);
    for (size_t i = 0; i < 200; i++) {
        assert_true(seen[i]);
    }
    assert_true(calls >= 200 / 8 && calls <= 200 / 7 + 1);
}

static void test_hscan_match_filters_fields(void **state)
{
    struct fixture *fixture = *state;
    fill_hash(fixture, "h", 30);
    struct items items;
    uint64_t cursor = parse_scan(run(fixture, "HSCAN h 0 MATCH f1* COUNT 100"), &items);
    assert_int_equal(cursor, 0);
    assert_int_equal(items.count - 3, 2 * 11); /* f1, f10..f19 */
    for (size_t i = 3; i < items.count; i += 2) {
        assert_memory_equal(items.item[i], "\"f1", 3);
    }
    /* A call may match nothing and still go on. */
    size_t total = 0;
    cursor = 0;
    do {
        char line[64];
        snprintf(line, sizeof line, "HSCAN h %llu MATCH f2? COUNT 3", (unsigned long long)cursor);
        cursor = parse_scan(run(fixture, line), &items);
        total += (items.count - 3) / 2;
    } while (cursor != 0);
    assert_int_equal(total, 10);
}

static void test_hscan_cursor_reads_as_strtoul(void **state)
{
    struct fixture *fixture = *state;
    fill_hash(fixture, "h", 20);
    struct items items;
    /* The last possible cursor: at most the members whose hash is all ones. */
    parse_scan(run(fixture, "HSCAN h 18446744073709551615"), &items);
    assert_int_equal(items.count, 3);
    parse_scan(run(fixture, "HSCAN h -1"), &items); /* wraps to the same */
    assert_int_equal(items.count, 3);
    parse_scan(run(fixture, "HSCAN h +0 COUNT 100"), &items);
    assert_int_equal(items.count, 3 + 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)
        TEST(test_hset_counts_new_fields_and_overwrites),
        TEST(test_hset_pairs_are_checked_as_redis),
        TEST(test_hmset_replies_ok),
        TEST(test_hsetnx_sets_only_a_missing_field),
        TEST(test_hget_and_hmget_of_missing_fields_and_keys),
        TEST(test_hgetall_hkeys_hvals_hold_every_field),
        TEST(test_hkeys_and_hvals_pair_up_in_the_same_order),
        TEST(test_hdel_counts_and_deletes_an_emptied_hash),
        TEST(test_hexists_hlen_hstrlen),
        TEST(test_hincrby_as_redis),
        TEST(test_hincrby_overflow_both_ways),
        TEST(test_hincrbyfloat_formats_as_redis),
        TEST(test_hincrbyfloat_errors_as_redis),
        TEST(test_hincrbyfloat_keeps_large_values_whole),
        TEST(test_every_hash_command_refuses_another_type),
        TEST(test_an_expired_hash_is_absent_and_replaced),
        TEST(test_hincrby_on_an_expired_hash_starts_from_zero),
        TEST(test_fields_up_to_494_bytes_keys_up_to_503),
        TEST(test_a_494_byte_field_is_replied_whole),
        TEST(test_hrandfield_on_missing_keys_and_zero),
        TEST(test_hrandfield_errors_as_redis),
        TEST(test_hrandfield_positive_counts_are_distinct),
        TEST(test_hrandfield_negative_counts_may_repeat),
        TEST(test_hrandfield_reaches_every_field),
        TEST(test_hscan_of_a_missing_or_small_hash),
        TEST(test_hscan_errors_as_redis),
        TEST(test_hscan_visits_every_field_once),
        TEST(test_hscan_match_filters_fields),
        TEST(test_hscan_cursor_reads_as_strtoul),
#undef TEST
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
