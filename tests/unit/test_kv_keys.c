/*
 * test_kv_keys.c — RENAME, RENAMENX, COPY, TOUCH, RANDOMKEY, OBJECT and TIME against Redis
 * 7.0's replies: the time to live that moves or is copied with a key, every type renamed and
 * copied (a rename moves only the record and keeps the collection's id, a copy gets a fresh id
 * with the same items), OBJECT ENCODING by Redis's default thresholds, keys past their
 * deadline, and the errors.
 *
 * Collections are seeded here through kv's own item API, in the layout of docs/storage.md,
 * so that these tests depend on no type's commands: seed_collection() writes the record and
 * items in a transaction of its own, as a type's command would.
 */
#include "test_kv_support.c"

#include "kv/kv_internal.h"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

static void advance(uint64_t ms)
{
    test_clock_ms += ms;
}

/* ---- seeding collections ------------------------------------------------------------------ */

struct seeded_item {
    const char *member; /* field, member or element */
    const char *value;  /* hash: the field's value; zset: the score's text; else unused */
};

static struct kv_exec seed_begin(struct fixture *fixture)
{
    struct kv_exec exec = {
        .kv = fixture->kv,
        .reply = &kv_discard_reply,
        .writable = true,
        .now_ms = test_clock_ms,
    };
    assert_int_equal(mdb_txn_begin(fixture->kv->env, NULL, 0, &exec.txn), 0);
    return exec;
}

static void seed_commit(struct kv_exec *exec)
{
    struct kv *kv = exec->kv;
    assert_int_equal(kv_meta_write_state(exec->txn, kv->meta_dbi, kv->clock_ms, kv->next_id), 0);
    assert_int_equal(mdb_txn_commit(exec->txn), 0);
}

static void seed_hashed_key(struct kv_item_key *key, uint64_t id, const uint8_t *tag,
                            const char *member)
{
    uint8_t hash[8];
    kv_put_be64(hash, kv_key_hash((const uint8_t *)member, strlen(member)));
    kv_item_key(key, id, tag, tag != NULL ? 1 : 0);
    kv_item_key_append(key, hash, sizeof hash);
    kv_item_key_append(key, (const uint8_t *)member, strlen(member));
}

static void seed_item(struct kv_exec *exec, struct kv_record *record,
                      const struct seeded_item *item, uint64_t position)
{
    struct kv_item_key key;
    const char *member = item->member;
    if (record->type == KV_TYPE_HASH) {
        seed_hashed_key(&key, record->id, NULL, member);
        assert_int_equal(kv_item_put(exec, &key, (const uint8_t *)item->value, strlen(item->value)),
                         0);
    } else if (record->type == KV_TYPE_SET) {
        seed_hashed_key(&key, record->id, NULL, member);
        assert_int_equal(kv_item_put(exec, &key, NULL, 0), 0);
    } else if (record->type == KV_TYPE_LIST) {
        uint8_t index[8];
        kv_put_be64(index, record->head + position);
        kv_item_key(&key, record->id, index, sizeof index);
        assert_int_equal(kv_item_put(exec, &key, (const uint8_t *)member, strlen(member)), 0);
    } else {
        double score = strtod(item->value, NULL);
        uint8_t tag = 0x00;
        seed_hashed_key(&key, record->id, &tag, member);
        assert_int_equal(kv_item_put(exec, &key, (const uint8_t *)&score, sizeof score), 0);
        uint64_t bits;
        memcpy(&bits, &score, sizeof bits);
        bits = (bits >> 63) ? ~bits : bits | (UINT64_C(1) << 63);
        uint8_t ordered[8];
        kv_put_be64(ordered, bits);
        tag = 0x01;
        kv_item_key(&key, record->id, &tag, 1);
        kv_item_key_append(&key, ordered, sizeof ordered);
        kv_item_key_append(&key, (const uint8_t *)member, strlen(member));
        assert_int_equal(kv_item_put(exec, &key, NULL, 0), 0);
    }
}

/* Stores a collection of `type` under key with these items (replacing the key). */
static void seed_collection(struct fixture *fixture, enum kv_type type, const char *key,
                            const struct seeded_item *items, size_t count)
{
    struct kv_exec exec = seed_begin(fixture);
    struct kv_record record;
    kv_collection_new(&exec, type, &record);
    for (size_t i = 0; i < count; i++) {
        seed_item(&exec, &record, &items[i], i);
    }
    record.count = count;
    struct kv_arg name = {.data = (const uint8_t *)key, .data_bytes = strlen(key)};
    assert_int_equal(kv_collection_store(&exec, &name, &record), 0);
    seed_commit(&exec);
}

/* A hash of n fields "f<i>" whose values are value_bytes long. */
static void seed_big_hash(struct fixture *fixture, const char *key, size_t n, size_t value_bytes)
{
    static char names[600][24];
    static struct seeded_item items[600];
    static char value[128];
    assert_true(n <= 600 && value_bytes < sizeof value);
    memset(value, 'v', value_bytes);
    value[value_bytes] = '\0';
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "f%zu", i);
        items[i] = (struct seeded_item){names[i], value};
    }
    seed_collection(fixture, KV_TYPE_HASH, key, items, n);
}

/* ---- looking inside ------------------------------------------------------------------------ */

static struct kv_exec inspect_begin(struct fixture *fixture)
{
    struct kv_exec exec = {
        .kv = fixture->kv, .reply = &kv_discard_reply, .writable = false, .now_ms = test_clock_ms};
    assert_int_equal(mdb_txn_begin(fixture->kv->env, NULL, MDB_RDONLY, &exec.txn), 0);
    return exec;
}

/* The record under key (which must be live). */
static struct kv_record record_of(struct fixture *fixture, const char *key)
{
    struct kv_exec exec = inspect_begin(fixture);
    struct kv_arg name = {.data = (const uint8_t *)key, .data_bytes = strlen(key)};
    struct kv_record record;
    assert_int_equal(kv_lookup(&exec, &name, -1, &record), KV_LOOKUP_FOUND);
    mdb_txn_abort(exec.txn);
    record.value = NULL;
    return record;
}

/* Every item under the key's id, as "suffix-hex=value-hex;" — equal for two collections with
 * the same contents, whatever their ids. */
static void items_dump(struct fixture *fixture, const char *key, char *out, size_t capacity)
{
    struct kv_record record = record_of(fixture, key);
    struct kv_exec exec = inspect_begin(fixture);
    MDB_cursor *cursor;
    assert_int_equal(kv_item_cursor(&exec, &cursor), 0);
    struct kv_item_key start;
    kv_item_key(&start, record.id, NULL, 0);
    MDB_val item = {.mv_size = start.bytes_used, .mv_data = start.bytes};
    MDB_val value;
    size_t used = 0;
    out[0] = '\0';
    int rc = mdb_cursor_get(cursor, &item, &value, MDB_SET_RANGE);
    while (rc == 0 && kv_item_id(&item) == record.id) {
        for (size_t i = KV_ID_BYTES; i < item.mv_size; i++) {
            used += (size_t)snprintf(out + used, capacity - used, "%02x",
                                     ((const uint8_t *)item.mv_data)[i]);
        }
        used += (size_t)snprintf(out + used, capacity - used, "=");
        for (size_t i = 0; i < value.mv_size; i++) {
            used += (size_t)snprintf(out + used, capacity - used, "%02x",
                                     ((const uint8_t *)value.mv_data)[i]);
        }
        used += (size_t)snprintf(out + used, capacity - used, ";");
        assert_true(used < capacity);
        rc = mdb_cursor_get(cursor, &item, &value, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    mdb_txn_abort(exec.txn);
}

static size_t database_entries(struct fixture *fixture, MDB_dbi dbi)
{
    struct kv_exec exec = inspect_begin(fixture);
    MDB_stat stat;
    assert_int_equal(mdb_stat(exec.txn, dbi, &stat), 0);
    mdb_txn_abort(exec.txn);
    return stat.ms_entries;
}

static const struct seeded_item hash_items[] = {{"a", "1"}, {"b", "2"}, {"c", "three"}};
static const struct seeded_item set_items[] = {{"x", NULL}, {"y", NULL}};
static const struct seeded_item list_items[] = {{"e1", NULL}, {"e2", NULL}, {"e3", NULL}};
static const struct seeded_item zset_items[] = {{"m1", "1.5"}, {"m2", "-2"}};

static void seed_every_type(struct fixture *fixture)
{
    EXPECT("SET s hello", "+OK");
    seed_collection(fixture, KV_TYPE_HASH, "h", hash_items, 3);
    seed_collection(fixture, KV_TYPE_SET, "st", set_items, 2);
    seed_collection(fixture, KV_TYPE_LIST, "l", list_items, 3);
    seed_collection(fixture, KV_TYPE_ZSET, "z", zset_items, 2);
}

/* ---- RENAME, RENAMENX ------------------------------------------------------------------------ */

static void test_rename_moves_a_string_and_its_ttl(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1", "+OK");
    EXPECT("PEXPIRE a 5000", ":1");
    EXPECT("RENAME a b", "+OK");
    EXPECT("EXISTS a", ":0");
    EXPECT("GET b", "\"1\"");
    EXPECT("PTTL b", ":5000");
    EXPECT("PTTL a", ":-2");
    uint64_t keys, expires;
    assert_int_equal(kv_key_counts(fixture->kv, &keys, &expires), 0);
    assert_int_equal(keys, 1);
    assert_int_equal(expires, 1); /* the deadline's index moved with the key */
    advance(5000);
    EXPECT("GET b", "(nil)");
}

static void test_rename_replaces_the_target_and_its_ttl(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1", "+OK");
    EXPECT("SET b 2", "+OK");
    EXPECT("EXPIRE b 100", ":1");
    EXPECT("RENAME a b", "+OK");
    EXPECT("GET b", "\"1\"");
    EXPECT("TTL b", ":-1"); /* the source had none: the target's is gone */
    uint64_t keys, expires;
    assert_int_equal(kv_key_counts(fixture->kv, &keys, &expires), 0);
    assert_int_equal(keys, 1);
    assert_int_equal(expires, 0);
    /* Same deadline on both sides: one index entry, under the new name. */
    EXPECT("SET c 3 PX 700", "+OK");
    EXPECT("SET d 4 PX 700", "+OK");
    EXPECT("RENAME c d", "+OK");
    EXPECT("PTTL d", ":700");
    assert_int_equal(kv_key_counts(fixture->kv, &keys, &expires), 0);
    assert_int_equal(expires, 1);
}

static void test_rename_errors_and_same_key(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RENAME nokey x", "-ERR no such key");
    EXPECT("RENAME nokey nokey", "-ERR no such key");
    EXPECT("RENAMENX nokey x", "-ERR no such key");
    EXPECT("SET k v", "+OK");
    EXPECT("EXPIRE k 100", ":1");
    EXPECT("RENAME k k", "+OK");
    EXPECT("RENAMENX k k", ":0");
    EXPECT("TTL k", ":100");
    EXPECT("RENAME k", "-ERR wrong number of arguments for 'rename' command");
    EXPECT("RENAMENX k a b", "-ERR wrong number of arguments for 'renamenx' command");
    char line[700];
    snprintf(line, sizeof line, "RENAME k %0504d", 0);
    EXPECT(line, "-ERR key exceeds the maximum length of 503 bytes");
    EXPECT("GET k", "\"v\"");
}

static void test_renamenx_only_onto_a_free_name(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1", "+OK");
    EXPECT("SET b 2", "+OK");
    EXPECT("RENAMENX a b", ":0");
    EXPECT("GET a", "\"1\"");
    EXPECT("GET b", "\"2\"");
    EXPECT("EXPIRE a 50", ":1");
    EXPECT("RENAMENX a c", ":1");
    EXPECT("TTL c", ":50");
    EXPECT("EXISTS a", ":0");
    /* A target past its deadline is free. */
    EXPECT("SET d 1 PX 10", "+OK");
    advance(10);
    EXPECT("RENAMENX c d", ":1");
    EXPECT("GET d", "\"1\"");
    EXPECT("TTL d", ":50");
}

static void test_rename_of_an_expired_key_is_no_such_key(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1 PX 100", "+OK");
    advance(100);
    EXPECT("RENAME a b", "-ERR no such key");
    EXPECT("EXISTS b", ":0");
    uint64_t keys, expires;
    assert_int_equal(kv_key_counts(fixture->kv, &keys, &expires), 0);
    assert_int_equal(keys, 0); /* the write met it past its deadline and deleted it */
}

static void test_rename_moves_every_type_and_keeps_the_id(void **state)
{
    struct fixture *fixture = *state;
    seed_every_type(fixture);
    const char *names[] = {"h", "st", "l", "z"};
    const char *types[] = {"+hash", "+set", "+list", "+zset"};
    EXPECT("EXPIRE l 100", ":1");
    for (size_t i = 0; i < 4; i++) {
        char before[4096], after[4096], line[64], target[16];
        struct kv_record old = record_of(fixture, names[i]);
        items_dump(fixture, names[i], before, sizeof before);
        snprintf(target, sizeof target, "%s2", names[i]);
        snprintf(line, sizeof line, "RENAME %s %s", names[i], target);
        EXPECT(line, "+OK");
        snprintf(line, sizeof line, "TYPE %s", target);
        EXPECT(line, types[i]);
        snprintf(line, sizeof line, "EXISTS %s", names[i]);
        EXPECT(line, ":0");
        struct kv_record moved = record_of(fixture, target);
        assert_int_equal(moved.id, old.id);
        assert_int_equal(moved.count, old.count);
        assert_int_equal(moved.head, old.head);
        assert_int_equal(moved.deadline_ms, old.deadline_ms);
        items_dump(fixture, target, after, sizeof after);
        assert_string_equal(after, before);
    }
    EXPECT("TTL l2", ":100");
    assert_int_equal(database_entries(fixture, fixture->kv->trash_dbi), 0);
    /* Renaming onto a collection frees the target's items later, not the source's. */
    EXPECT("RENAME h2 z2", "+OK");
    EXPECT("TYPE z2", "+hash");
    assert_int_equal(database_entries(fixture, fixture->kv->trash_dbi), 0); /* freed already */
    assert_int_equal(database_entries(fixture, fixture->kv->items_dbi), 3 + 2 + 3);
    EXPECT("RENAME s l2", "+OK");
    EXPECT("TYPE l2", "+string");
    EXPECT("TTL l2", ":-1");
    assert_int_equal(database_entries(fixture, fixture->kv->items_dbi), 3 + 2);
}

/* ---- COPY ---------------------------------------------------------------------------------- */

static void test_copy_a_string_with_its_ttl(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a hello", "+OK");
    EXPECT("PEXPIRE a 3000", ":1");
    EXPECT("COPY a b", ":1");
    EXPECT("GET b", "\"hello\"");
    EXPECT("PTTL b", ":3000");
    EXPECT("GET a", "\"hello\"");
    EXPECT("SET c other", "+OK");
    EXPECT("COPY a c", ":0");
    EXPECT("GET c", "\"other\"");
    EXPECT("COPY a c REPLACE", ":1");
    EXPECT("GET c", "\"hello\"");
    EXPECT("PTTL c", ":3000");
    EXPECT("COPY nokey c REPLACE", ":0");
    EXPECT("GET c", "\"hello\"");
    advance(3000);
    EXPECT("COPY a d", ":0");
    EXPECT("EXISTS b c d", ":0");
}

static void test_copy_options_and_errors(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1", "+OK");
    EXPECT("COPY a a", "-ERR source and destination objects are the same");
    EXPECT("COPY nokey nokey", "-ERR source and destination objects are the same");
    EXPECT("COPY a b DB 0", ":1");
    EXPECT("COPY a b db 0 replace REPLACE", ":1");
    EXPECT("COPY a b DB 1", "-ERR DB index is out of range");
    EXPECT("COPY a b DB -1", "-ERR DB index is out of range");
    EXPECT("COPY a b DB x", "-ERR value is not an integer or out of range");
    EXPECT("COPY a b DB 2147483648",
           "-ERR value is out of range, value must between -2147483648 and 2147483647");
    EXPECT("COPY a b DB 9223372036854775808", "-ERR value is not an integer or out of range");
    EXPECT("COPY a b DB", "-ERR syntax error");
    EXPECT("COPY a b FOO", "-ERR syntax error");
    EXPECT("COPY a a FOO", "-ERR syntax error"); /* options first, as in Redis */
    EXPECT("COPY a", "-ERR wrong number of arguments for 'copy' command");
    char line[700];
    snprintf(line, sizeof line, "COPY a %0504d", 0);
    EXPECT(line, "-ERR key exceeds the maximum length of 503 bytes");
    snprintf(line, sizeof line, "COPY nokey %0504d", 0);
    EXPECT(line, ":0");
}

static void test_copy_every_type_gets_a_fresh_id_and_the_same_items(void **state)
{
    struct fixture *fixture = *state;
    seed_every_type(fixture);
    EXPECT("PEXPIRE z 9000", ":1");
    const char *names[] = {"h", "st", "l", "z"};
    const char *types[] = {"+hash", "+set", "+list", "+zset"};
    size_t items_before = database_entries(fixture, fixture->kv->items_dbi);
    for (size_t i = 0; i < 4; i++) {
        char source[4096], copy[4096], line[64], target[16];
        snprintf(target, sizeof target, "%s.copy", names[i]);
        snprintf(line, sizeof line, "COPY %s %s", names[i], target);
        EXPECT(line, ":1");
        snprintf(line, sizeof line, "TYPE %s", target);
        EXPECT(line, types[i]);
        struct kv_record old = record_of(fixture, names[i]);
        struct kv_record fresh = record_of(fixture, target);
        assert_true(fresh.id != old.id);
        assert_int_equal(fresh.count, old.count);
        assert_int_equal(fresh.head, old.head);
        assert_int_equal(fresh.deadline_ms, old.deadline_ms);
        items_dump(fixture, names[i], source, sizeof source);
        items_dump(fixture, target, copy, sizeof copy);
        assert_string_equal(copy, source);
    }
    EXPECT("PTTL z.copy", ":9000");
    assert_int_equal(database_entries(fixture, fixture->kv->items_dbi), 2 * items_before);
    /* REPLACE over a collection frees the old target's items, keeps the copy's. */
    EXPECT("COPY st h.copy", ":0");
    EXPECT("COPY st h.copy REPLACE", ":1");
    EXPECT("TYPE h.copy", "+set");
    EXPECT("SET filler 1", "+OK"); /* another entry: the trash is collected after each */
    assert_int_equal(database_entries(fixture, fixture->kv->items_dbi), 2 * items_before - 3 + 2);
    /* Deleting the source leaves the copy whole. */
    EXPECT("DEL l", ":1");
    EXPECT("SET filler 2", "+OK");
    char copy[4096];
    items_dump(fixture, "l.copy", copy, sizeof copy);
    assert_true(strstr(copy, "6531") != NULL); /* "e1" */
    assert_int_equal(record_of(fixture, "l.copy").count, 3);
}

static void test_copy_a_large_hash(void **state)
{
    struct fixture *fixture = *state;
    seed_big_hash(fixture, "big", 600, 10);
    EXPECT("COPY big big2", ":1");
    static char source[600 * 64], copy[600 * 64];
    items_dump(fixture, "big", source, sizeof source);
    items_dump(fixture, "big2", copy, sizeof copy);
    assert_string_equal(copy, source);
    assert_int_equal(record_of(fixture, "big2").count, 600);
}

/* ---- TOUCH, RANDOMKEY, TIME ----------------------------------------------------------------- */

static void test_touch_counts_live_keys(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("TOUCH a", ":0");
    seed_every_type(fixture);
    EXPECT("SET gone 1 PX 5", "+OK");
    EXPECT("TOUCH s h st l z gone nokey s", ":7"); /* s twice, as Redis counts */
    advance(5);
    EXPECT("TOUCH gone", ":0");
    EXPECT("TOUCH", "-ERR wrong number of arguments for 'touch' command");
}

static void test_randomkey_answers_live_keys_only(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RANDOMKEY", "(nil)");
    EXPECT("SET only 1", "+OK");
    for (int i = 0; i < 10; i++) {
        EXPECT("RANDOMKEY", "\"only\"");
    }
    EXPECT("SET soon1 1 PX 10", "+OK");
    EXPECT("SET soon2 1 PX 10", "+OK");
    EXPECT("SET soon3 1 PX 10", "+OK");
    advance(10);
    for (int i = 0; i < 20; i++) {
        EXPECT("RANDOMKEY", "\"only\""); /* expired keys skipped, with wrap-around */
    }
    EXPECT("DEL only", ":1");
    EXPECT("RANDOMKEY", "(nil)"); /* only expired keys remain */
    EXPECT("RANDOMKEY x", "-ERR wrong number of arguments for 'randomkey' command");
}

static void test_randomkey_reaches_every_key(void **state)
{
    struct fixture *fixture = *state;
    const char *keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};
    bool seen[8] = {false};
    for (size_t i = 0; i < 8; i++) {
        char line[32];
        snprintf(line, sizeof line, "SET %s v", keys[i]);
        EXPECT(line, "+OK");
    }
    for (int draw = 0; draw < 400; draw++) {
        const char *reply = run(fixture, "RANDOMKEY");
        for (size_t i = 0; i < 8; i++) {
            char quoted[16];
            snprintf(quoted, sizeof quoted, "\"%s\"", keys[i]);
            seen[i] = seen[i] || strcmp(reply, quoted) == 0;
        }
    }
    for (size_t i = 0; i < 8; i++) {
        assert_true(seen[i]);
    }
}

static void test_time_answers_the_clock(void **state)
{
    struct fixture *fixture = *state;
    uint64_t saved = test_clock_ms;
    test_clock_ms = UINT64_C(1700000123456);
    EXPECT("SET a 1", "+OK"); /* the replicated clock moves to this stamp */
    EXPECT("TIME", "*2 | \"1700000123\" | \"456000\"");
    test_clock_ms = UINT64_C(1700000124007);
    EXPECT("TIME", "*2 | \"1700000124\" | \"7000\""); /* a reader's later clock */
    test_clock_ms = UINT64_C(1700000000000);
    EXPECT("TIME", "*2 | \"1700000123\" | \"456000\""); /* never below the replicated one */
    EXPECT("TIME x", "-ERR wrong number of arguments for 'time' command");
    test_clock_ms = saved > UINT64_C(1700000123456) ? saved : UINT64_C(1700000123456);
}

/* ---- OBJECT -------------------------------------------------------------------------------- */

static void test_object_encoding_of_strings(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET i 12345", "+OK");
    EXPECT("SET n -9223372036854775808", "+OK");
    EXPECT("SET big 12345678901234567890", "+OK");
    EXPECT("SET z 0123", "+OK");
    EXPECT("SET m -0", "+OK");
    EXPECT("SET e ''", "+OK");
    EXPECT("SET s44 abcdefghijabcdefghijabcdefghijabcdefghij1234", "+OK");
    EXPECT("SET s45 abcdefghijabcdefghijabcdefghijabcdefghij12345", "+OK");
    EXPECT("OBJECT ENCODING i", "\"int\"");
    EXPECT("OBJECT encoding n", "\"int\"");
    EXPECT("OBJECT ENCODING big", "\"embstr\"");
    EXPECT("OBJECT ENCODING z", "\"embstr\"");
    EXPECT("OBJECT ENCODING m", "\"embstr\"");
    EXPECT("OBJECT ENCODING e", "\"embstr\"");
    EXPECT("OBJECT ENCODING s44", "\"embstr\"");
    EXPECT("OBJECT ENCODING s45", "\"raw\"");
    EXPECT("OBJECT ENCODING nokey", "(nil)");
}

static void test_object_encoding_of_collections(void **state)
{
    struct fixture *fixture = *state;
    seed_every_type(fixture);
    EXPECT("OBJECT ENCODING h", "\"listpack\"");
    EXPECT("OBJECT ENCODING st", "\"hashtable\"");
    EXPECT("OBJECT ENCODING l", "\"quicklist\"");
    EXPECT("OBJECT ENCODING z", "\"listpack\"");
    static const struct seeded_item integers[] = {
        {"1", NULL}, {"-3", NULL}, {"9223372036854775807", NULL}};
    seed_collection(fixture, KV_TYPE_SET, "ints", integers, 3);
    EXPECT("OBJECT ENCODING ints", "\"intset\"");
    static const struct seeded_item mixed[] = {{"1", NULL}, {"01", NULL}};
    seed_collection(fixture, KV_TYPE_SET, "mixed", mixed, 2);
    EXPECT("OBJECT ENCODING mixed", "\"hashtable\"");
    /* Redis 7.0's thresholds: 512 fields of at most 64 bytes for a hash. */
    seed_big_hash(fixture, "h512", 512, 64);
    EXPECT("OBJECT ENCODING h512", "\"listpack\"");
    seed_big_hash(fixture, "h513", 513, 1);
    EXPECT("OBJECT ENCODING h513", "\"hashtable\"");
    seed_big_hash(fixture, "h65", 3, 65);
    EXPECT("OBJECT ENCODING h65", "\"hashtable\"");
    char long_field[80];
    memset(long_field, 'f', 65);
    long_field[65] = '\0';
    const struct seeded_item wide[] = {{long_field, "v"}};
    seed_collection(fixture, KV_TYPE_HASH, "hwide", wide, 1);
    EXPECT("OBJECT ENCODING hwide", "\"hashtable\"");
    const struct seeded_item wide_member[] = {{long_field, "1"}};
    seed_collection(fixture, KV_TYPE_ZSET, "zwide", wide_member, 1);
    EXPECT("OBJECT ENCODING zwide", "\"skiplist\"");
    long_field[64] = '\0';
    seed_collection(fixture, KV_TYPE_ZSET, "z64", wide_member, 1);
    EXPECT("OBJECT ENCODING z64", "\"listpack\"");
}

static void test_object_encoding_thresholds_of_sets_and_zsets(void **state)
{
    struct fixture *fixture = *state;
    static char names[600][16];
    static struct seeded_item items[600];
    for (size_t i = 0; i < 600; i++) {
        snprintf(names[i], sizeof names[i], "%zu", i);
        items[i] = (struct seeded_item){names[i], "1"};
    }
    seed_collection(fixture, KV_TYPE_SET, "s512", items, 512);
    EXPECT("OBJECT ENCODING s512", "\"intset\"");
    seed_collection(fixture, KV_TYPE_SET, "s513", items, 513);
    EXPECT("OBJECT ENCODING s513", "\"hashtable\"");
    seed_collection(fixture, KV_TYPE_ZSET, "z128", items, 128);
    EXPECT("OBJECT ENCODING z128", "\"listpack\"");
    seed_collection(fixture, KV_TYPE_ZSET, "z129", items, 129);
    EXPECT("OBJECT ENCODING z129", "\"skiplist\"");
}

static void test_object_refcount_idletime_freq(void **state)
{
    struct fixture *fixture = *state;
    seed_every_type(fixture);
    EXPECT("SET small 5", "+OK");
    EXPECT("SET edge 9999", "+OK");
    EXPECT("SET past 10000", "+OK");
    EXPECT("SET negative -1", "+OK");
    EXPECT("OBJECT REFCOUNT small", ":2147483647");
    EXPECT("OBJECT REFCOUNT edge", ":2147483647");
    EXPECT("OBJECT REFCOUNT past", ":1");
    EXPECT("OBJECT REFCOUNT negative", ":1");
    EXPECT("OBJECT REFCOUNT s", ":1");
    EXPECT("OBJECT REFCOUNT h", ":1");
    EXPECT("OBJECT refcount nokey", "(nil)");
    EXPECT("OBJECT IDLETIME z", ":0");
    EXPECT("OBJECT IDLETIME nokey", "(nil)");
    EXPECT("OBJECT FREQ s",
           "-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
           "note that when switching between policies at runtime LRU and LFU data will take some "
           "time to adjust.");
    EXPECT("OBJECT FREQ nokey", "(nil)");
    EXPECT("SET gone 1 PX 1", "+OK");
    advance(1);
    EXPECT("OBJECT ENCODING gone", "(nil)");
    EXPECT("OBJECT REFCOUNT gone", "(nil)");
}

static void test_object_help_and_errors(void **state)
{
    struct fixture *fixture = *state;
    const char *help = run(fixture, "OBJECT HELP");
    const char *start = "*15 | +OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are: | "
                        "+ENCODING <key> | ";
    assert_true(strncmp(help, start, strlen(start)) == 0);
    assert_non_null(strstr(help, " | +HELP | +    Prints this help."));
    EXPECT("OBJECT help x", "-ERR wrong number of arguments for 'object|help' command");
    EXPECT("OBJECT ENCODING", "-ERR wrong number of arguments for 'object|encoding' command");
    EXPECT("OBJECT Encoding a b", "-ERR wrong number of arguments for 'object|encoding' command");
    EXPECT("OBJECT REFCOUNT", "-ERR wrong number of arguments for 'object|refcount' command");
    EXPECT("OBJECT IDLETIME a b", "-ERR wrong number of arguments for 'object|idletime' command");
    EXPECT("OBJECT FREQ", "-ERR wrong number of arguments for 'object|freq' command");
    EXPECT("OBJECT foo", "-ERR unknown subcommand 'foo'. Try OBJECT HELP.");
    EXPECT("object foo bar", "-ERR unknown subcommand 'foo'. Try OBJECT HELP.");
    EXPECT("OBJECT", "-ERR wrong number of arguments for 'object' command");
    char line[400], expected[400];
    snprintf(line, sizeof line, "OBJECT %0200d", 7);
    snprintf(expected, sizeof expected, "-ERR unknown subcommand '%0128d'. Try OBJECT HELP.", 0);
    EXPECT(line, expected); /* at most 128 bytes echoed */
    struct kv_arg argv[2] = {{(const uint8_t *)"OBJECT", 6}, {(const uint8_t *)"a\r\nb", 4}};
    assert_string_equal(run_argv(fixture, 2, argv),
                        "-ERR unknown subcommand 'a  b'. Try OBJECT HELP.");
}

static void test_command_table_entries(void **state)
{
    (void)state;
    struct {
        const char *name;
        int arity, first, last, step;
        unsigned flags;
    } expected[] = {
        {"rename", 3, 1, 2, 1, KV_COMMAND_WRITE},
        {"renamenx", 3, 1, 2, 1, KV_COMMAND_WRITE},
        {"copy", -3, 1, 2, 1, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM | KV_COMMAND_COPIES},
        {"touch", -2, 1, -1, 1, KV_COMMAND_READ},
        {"randomkey", 1, 0, 0, 0, KV_COMMAND_READ},
        {"object", -2, 0, 0, 0, KV_COMMAND_READ},
        {"time", 1, 0, 0, 0, KV_COMMAND_READ},
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
        FIXTURE_TEST(test_rename_moves_a_string_and_its_ttl),
        FIXTURE_TEST(test_rename_replaces_the_target_and_its_ttl),
        FIXTURE_TEST(test_rename_errors_and_same_key),
        FIXTURE_TEST(test_renamenx_only_onto_a_free_name),
        FIXTURE_TEST(test_rename_of_an_expired_key_is_no_such_key),
        FIXTURE_TEST(test_rename_moves_every_type_and_keeps_the_id),
        FIXTURE_TEST(test_copy_a_string_with_its_ttl),
        FIXTURE_TEST(test_copy_options_and_errors),
        FIXTURE_TEST(test_copy_every_type_gets_a_fresh_id_and_the_same_items),
        FIXTURE_TEST(test_copy_a_large_hash),
        FIXTURE_TEST(test_touch_counts_live_keys),
        FIXTURE_TEST(test_randomkey_answers_live_keys_only),
        FIXTURE_TEST(test_randomkey_reaches_every_key),
        FIXTURE_TEST(test_time_answers_the_clock),
        FIXTURE_TEST(test_object_encoding_of_strings),
        FIXTURE_TEST(test_object_encoding_of_collections),
        FIXTURE_TEST(test_object_encoding_thresholds_of_sets_and_zsets),
        FIXTURE_TEST(test_object_refcount_idletime_freq),
        FIXTURE_TEST(test_object_help_and_errors),
        cmocka_unit_test(test_command_table_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
