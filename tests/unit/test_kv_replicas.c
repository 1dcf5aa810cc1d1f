/*
 * test_kv_replicas.c — the state machine is a function of its entries: replicas fed the same
 * seeded workload (every type, expiry with stamps that sometimes run backwards as a new
 * leader's may, active-expiry entries, random pops, blocking pops, renames, flushes, scripts and
 * functions that read the clock and draw random numbers) end with
 * byte-identical databases and send identical replies, however the entries are cut into
 * batches, whether a replica closes and reopens in between, and whether it starts from
 * another replica's snapshot half-way. This is the state-machine half of the simulator's
 * safety check: the simulator proves that every node applies the same entries at the same
 * indexes; this proves that the same entries give the same keys, deadlines and expiries.
 *
 * A failing seed prints itself; KV_REPLICAS_SEED=<n> replays it, KV_REPLICAS_SEEDS=<n> runs seeds
 * 1..n (make soak).
 */
#include "test_kv_support.c"

#include <lmdb.h>
#include <xxhash.h>

#include "kv/kv_internal.h"

#define ENTRIES     1500
#define KEYS        12
#define MAX_BATCH   9
#define SEEDS       30
#define ENTRY_CHARS 200

struct generator {
    uint64_t state;
};

static uint64_t next_random(struct generator *generator)
{
    uint64_t z = (generator->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static unsigned pick(struct generator *generator, unsigned bound)
{
    return (unsigned)(next_random(generator) % bound);
}

/* One command line of the workload; the clock it is stamped with moves too. */
static void workload_line(struct generator *g, char *line, size_t bytes, uint64_t *clock_ms)
{
    unsigned k = pick(g, KEYS);
    unsigned j = pick(g, KEYS);
    unsigned v = pick(g, 1000);
    /* Mostly forward, sometimes a little back (a new leader lagging), never below zero. */
    unsigned step = pick(g, 10);
    if (step == 0 && *clock_ms > 2000) {
        *clock_ms -= pick(g, 1500);
    } else {
        *clock_ms += pick(g, 400);
    }
    switch (pick(g, 33)) {
    case 0:
        snprintf(line, bytes, "SET k%u v%u", k, v);
        break;
    case 1:
        snprintf(line, bytes, "SET k%u v%u PX %u", k, v, 1 + pick(g, 3000));
        break;
    case 2:
        snprintf(line, bytes, "EXPIRE k%u %u", k, pick(g, 4));
        break;
    case 3:
        snprintf(line, bytes, "PEXPIRE h%u %u GT", k, 1 + pick(g, 5000));
        break;
    case 4:
        snprintf(line, bytes, "PERSIST k%u", k);
        break;
    case 5:
        snprintf(line, bytes, "INCR k%u", k);
        break;
    case 6:
        snprintf(line, bytes, "DEL k%u h%u", k, j);
        break;
    case 7:
        snprintf(line, bytes, "HSET h%u f%u v%u f%u v%u", k, v % 7, v, j, v);
        break;
    case 8:
        snprintf(line, bytes, "HDEL h%u f%u", k, v % 7);
        break;
    case 9:
        snprintf(line, bytes, "SADD s%u m%u m%u", k, v % 9, j);
        break;
    case 10:
        snprintf(line, bytes, "SPOP s%u %u", k, pick(g, 3));
        break;
    case 11:
        snprintf(line, bytes, "SREM s%u m%u", k, v % 9);
        break;
    case 12:
        snprintf(line, bytes, "RPUSH l%u e%u e%u", k, v, j);
        break;
    case 13:
        snprintf(line, bytes, "LPOP l%u", k);
        break;
    case 14:
        snprintf(line, bytes, "BLPOP l%u l%u 0", k, j);
        break;
    case 15:
        snprintf(line, bytes, "ZADD z%u %u m%u", k, v % 50, v % 11);
        break;
    case 16:
        snprintf(line, bytes, "ZPOPMIN z%u", k);
        break;
    case 17:
        snprintf(line, bytes, "ZINCRBY z%u 1.5 m%u", k, v % 11);
        break;
    case 18:
        snprintf(line, bytes, "RENAME s%u s%u", k, j);
        break;
    case 19:
        snprintf(line, bytes, "COPY h%u h%u REPLACE", k, j);
        break;
    case 20:
        snprintf(line, bytes, "SINTERSTORE s%u s%u s%u", k, j, (k + 1) % KEYS);
        break;
    case 21:
        snprintf(line, bytes, "LMOVE l%u l%u LEFT RIGHT", k, j);
        break;
    case 22:
        snprintf(line, bytes, "raft.expire %llu k%u %llu h%u",
                 (unsigned long long)(*clock_ms > 500 ? *clock_ms - pick(g, 500) : 1), k,
                 (unsigned long long)*clock_ms, j);
        break;
    case 23:
        snprintf(line, bytes, "GETEX k%u PX %u", k, 1 + pick(g, 2000));
        break;
    case 24:
        snprintf(line, bytes, "SET k%u v%u EX 1 GET", k, v);
        break;
    case 25:
        snprintf(line, bytes, "ZADD z%u GT CH %u m%u", k, v % 50, v % 11);
        break;
    case 26:
        snprintf(line, bytes, "HINCRBY h%u n %d", k, (int)v - 500);
        break;
    case 27:
        snprintf(line, bytes, "SETBIT k%u %u 1", k, v % 64);
        break;
    case 28:
        snprintf(line, bytes, "LTRIM l%u 1 -2", k);
        break;
    case 29: /* a script's clock and random draws are the entry's (words without spaces) */
        snprintf(line, bytes,
                 "EVAL redis.call('set',KEYS[1],math.random(1000)..'@'..redis.call('time')[2]);"
                 "return(redis.call('srandmember',KEYS[2],-2)) 2 k%u s%u",
                 k, j);
        break;
    case 30:
        snprintf(line, bytes,
                 "FUNCTION LOAD REPLACE #!lua\tname=w\nredis.register_function('w',function(k,a)"
                 "return(redis.call('incrby',k[1],a[1]))end)");
        break;
    case 31:
        if (v % 2 == 0) {
            snprintf(line, bytes, "FCALL w 1 k%u %u", k, v);
        } else {
            snprintf(line, bytes, "EVAL return(redis.call('spop',KEYS[1])) 1 s%u", k);
        }
        break;
    default:
        if (pick(g, 20) == 0) {
            snprintf(line, bytes, "FLUSHALL");
        } else if (pick(g, 8) == 0) {
            static const char *const rules[] = {"on",     "+@read", "-get",    "~k*",  "resetkeys",
                                                "nopass", "bad",    "+nosuch", "reset"};
            snprintf(line, bytes, "raft.acl.setuser u%u %s %s", k % 3, rules[pick(g, 9)],
                     rules[pick(g, 9)]);
        } else if (pick(g, 4) == 0) {
            /* a session's write, new or retried, sometimes after the session went idle */
            snprintf(line, bytes, "raft.session s%u %u %u INCR k%u", k % 3, 1 + pick(g, 40),
                     pick(g, 20), j);
            if (pick(g, 50) == 0) {
                *clock_ms += KV_SESSION_IDLE_MS;
            }
        } else if (pick(g, 4) == 0) {
            /* WATCH's check, with tokens that may or may not still hold */
            unsigned state = pick(g, 3);
            char token[24];
            snprintf(token, sizeof token, "%c%u", "ale"[state], pick(g, ENTRIES));
            snprintf(line, bytes, "raft.exec watch 2 k%u %s h%u a 2 INCR k%u 4 HSET h%u f v", k,
                     state == 0 ? "a" : token, j, j, k);
        } else {
            snprintf(line, bytes, "PEXPIRE z%u %u", k, 1 + pick(g, 3000));
        }
        break;
    }
}

struct workload {
    struct raft_entry entries[ENTRIES];
};

static void workload_build(struct workload *workload, uint64_t seed)
{
    struct generator generator = {.state = seed};
    uint64_t clock_ms = UINT64_C(1700000000000);
    for (size_t i = 0; i < ENTRIES; i++) {
        char line[ENTRY_CHARS];
        workload_line(&generator, line, sizeof line, &clock_ms);
        test_clock_ms = clock_ms; /* the stamp entry_from_line gives the entry */
        entry_from_line(&workload->entries[i], i + 1, 1 + i / 400, line);
    }
}

static void workload_free(struct workload *workload)
{
    for (size_t i = 0; i < ENTRIES; i++) {
        free(workload->entries[i].data);
    }
}

/* XXH3 of every key and value of every database, in order: equal digests, equal states. */
static uint64_t digest(struct kv *kv)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &txn), 0);
    XXH3_state_t *state = XXH3_createState();
    assert_non_null(state);
    XXH3_64bits_reset(state);
    MDB_dbi databases[] = {
        kv->data_dbi, kv->items_dbi,    kv->expires_dbi,         kv->trash_dbi,
        kv->meta_dbi, kv->sessions_dbi, kv->session_replies_dbi, kv->session_times_dbi,
        kv->acl_dbi,  kv->scripts_dbi,  kv->functions_dbi};
    for (size_t d = 0; d < sizeof databases / sizeof databases[0]; d++) {
        MDB_cursor *cursor;
        assert_int_equal(mdb_cursor_open(txn, databases[d], &cursor), 0);
        MDB_val key, value;
        int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
        while (rc == 0) {
            uint64_t sizes[2] = {key.mv_size, value.mv_size};
            XXH3_64bits_update(state, sizes, sizeof sizes);
            XXH3_64bits_update(state, key.mv_data, key.mv_size);
            XXH3_64bits_update(state, value.mv_data, value.mv_size);
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
        }
        assert_int_equal(rc, MDB_NOTFOUND);
        mdb_cursor_close(cursor);
        XXH3_64bits_update(state, "|", 1);
    }
    uint64_t result = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    mdb_txn_abort(txn);
    return result;
}

/* Replies to every entry, concatenated: what the clients of the entries would have seen. */
struct replies {
    char *text;
    size_t used;
    size_t capacity;
};

static void replies_take(struct replies *replies, struct fixture *fixture)
{
    size_t length = strlen(fixture->transcript.text);
    if (replies->used + length + 4 > replies->capacity) {
        replies->capacity = (replies->used + length + 4) * 2;
        replies->text = realloc(replies->text, replies->capacity);
        assert_non_null(replies->text);
    }
    /* " | " between batches too, as the transcript puts it between replies within one. */
    memcpy(replies->text + replies->used, fixture->transcript.text, length);
    replies->used += length;
    if (length > 0) {
        memcpy(replies->text + replies->used, " | ", 3);
        replies->used += 3;
    }
    replies->text[replies->used] = '\0';
    transcript_reset(&fixture->transcript);
}

/* Applies entries [from, to) in batches of 1..max_batch; digests[i] is taken after entry i
 * whenever a batch ends there (0 elsewhere). With reopen, closes and reopens the database
 * now and then. */
static void feed(struct fixture *fixture, const struct workload *workload, size_t from, size_t to,
                 size_t max_batch, struct generator *cuts, bool reopen, uint64_t *digests,
                 struct replies *replies)
{
    size_t i = from;
    while (i < to) {
        size_t count = max_batch == 1 ? 1 : 1 + pick(cuts, (unsigned)max_batch);
        if (count > to - i) {
            count = to - i;
        }
        transcript_reset(&fixture->transcript);
        assert_int_equal(fixture_apply(fixture, &workload->entries[i], count), 0);
        if (replies != NULL) {
            replies_take(replies, fixture);
        }
        i += count;
        digests[i - 1] = digest(fixture->kv);
        if (reopen && pick(cuts, 25) == 0) {
            fixture_reopen(fixture);
            assert_int_equal(digest(fixture->kv), digests[i - 1]);
        }
    }
}

static void check_seed(uint64_t seed)
{
    struct workload *workload = malloc(sizeof *workload);
    assert_non_null(workload);
    workload_build(workload, seed);
    struct fixture *one = malloc(sizeof *one);
    struct fixture *batched = malloc(sizeof *batched);
    struct fixture *restored = malloc(sizeof *restored);
    assert_true(one != NULL && batched != NULL && restored != NULL);
    fixture_open(one, NULL);
    fixture_open(batched, NULL);
    fixture_open(restored, NULL);
    uint64_t *by_one = calloc(ENTRIES, sizeof *by_one);
    uint64_t *by_batches = calloc(ENTRIES, sizeof *by_batches);
    uint64_t *by_restored = calloc(ENTRIES, sizeof *by_restored);
    assert_true(by_one != NULL && by_batches != NULL && by_restored != NULL);
    struct generator cuts = {.state = seed ^ 0xC0FFEE};
    struct replies one_replies = {0};
    struct replies batched_replies = {0};

    /* Entry by entry; in batches with reopens; and from a snapshot of the first half. */
    feed(one, workload, 0, ENTRIES, 1, &cuts, false, by_one, &one_replies);
    feed(batched, workload, 0, ENTRIES, MAX_BATCH, &cuts, true, by_batches, &batched_replies);
    feed(restored, workload, 0, ENTRIES / 2, MAX_BATCH, &cuts, false, by_restored, NULL);
    char path[320];
    snprintf(path, sizeof path, "%s.snapshot", restored->directory);
    uint64_t index, term;
    assert_int_equal(kv_snapshot_export(restored->kv, path, &index, &term), 0);
    assert_int_equal(index, ENTRIES / 2);
    struct fixture *late = malloc(sizeof *late);
    assert_non_null(late);
    fixture_open(late, NULL);
    assert_int_equal(kv_snapshot_import(late->kv, path, &index, &term), 0);
    assert_int_equal(digest(late->kv), by_one[ENTRIES / 2 - 1]);
    uint64_t *by_late = calloc(ENTRIES, sizeof *by_late);
    assert_non_null(by_late);
    feed(late, workload, ENTRIES / 2, ENTRIES, MAX_BATCH, &cuts, true, by_late, NULL);

    for (size_t i = 0; i < ENTRIES; i++) {
        uint64_t expected = by_one[i];
        if ((by_batches[i] != 0 && by_batches[i] != expected) ||
            (by_late[i] != 0 && by_late[i] != expected) ||
            (by_restored[i] != 0 && by_restored[i] != expected)) {
            fprintf(stderr, "seed %llu: replicas differ after entry %zu (KV_REPLICAS_SEED=%llu)\n",
                    (unsigned long long)seed, i + 1, (unsigned long long)seed);
            fail();
        }
    }
    assert_int_equal(by_batches[ENTRIES - 1], by_one[ENTRIES - 1]);
    assert_int_equal(by_late[ENTRIES - 1], by_one[ENTRIES - 1]);
    assert_string_equal(batched_replies.text, one_replies.text);
    /* The workload reached every kind of reply it should: not an empty or broken run. */
    assert_non_null(strstr(one_replies.text, "+OK"));
    assert_int_equal(kv_clock_ms(one->kv), kv_clock_ms(late->kv));
    /* And the digest does tell states apart: one more write on one replica only. */
    late->next_index = ENTRIES + 1;
    assert_string_equal(run(late, "SET one-more-key 1"), "+OK");
    assert_true(digest(late->kv) != digest(one->kv));

    free(one_replies.text);
    free(batched_replies.text);
    free(by_one);
    free(by_batches);
    free(by_restored);
    free(by_late);
    fixture_close(one);
    fixture_close(batched);
    fixture_close(restored);
    fixture_close(late);
    unlink(path);
    free(one);
    free(batched);
    free(restored);
    free(late);
    workload_free(workload);
    free(workload);
}

static void test_replicas_agree_whatever_the_batching_restarts_and_snapshots(void **state)
{
    (void)state;
    const char *replay = getenv("KV_REPLICAS_SEED");
    if (replay != NULL) {
        check_seed(strtoull(replay, NULL, 10));
        return;
    }
    /* make soak runs many more: KV_REPLICAS_SEEDS=<n>. */
    const char *seeds = getenv("KV_REPLICAS_SEEDS");
    uint64_t last = seeds != NULL ? strtoull(seeds, NULL, 10) : SEEDS;
    for (uint64_t seed = 1; seed <= last; seed++) {
        check_seed(seed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replicas_agree_whatever_the_batching_restarts_and_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
