/*
 * test_kv_machine.c — the replicated state machine: batch atomicity, the applied index and its
 * persistence, replay after a restart, corruption handling, determinism, the map that grows,
 * the space measure behind the quota, and snapshot export (while a write transaction is
 * open) and import.
 */
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "test_kv_support.c"
/* Some tests reach inside kv: its LMDB environment, the lock that holds the map's growth off. */
#include "kv/kv_internal.h"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

struct batch {
    struct raft_entry entries[16];
    size_t count;
};

static void batch_add(struct batch *batch, uint64_t index, uint64_t term, const char *line)
{
    assert_true(batch->count < 16);
    struct raft_entry *entry = &batch->entries[batch->count++];
    if (line == NULL) {
        *entry = (struct raft_entry){.index = index, .term = term, .type = RAFT_ENTRY_NOOP};
        return;
    }
    entry_from_line(entry, index, term, line);
}

static void batch_free(struct batch *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        free(batch->entries[i].data);
    }
    batch->count = 0;
}

static void test_batch_applies_in_order_and_replies_each(void **state)
{
    struct fixture *fixture = *state;
    struct batch batch = {0};
    batch_add(&batch, 1, 1, "SET a 1");
    batch_add(&batch, 2, 1, "INCR a");
    batch_add(&batch, 3, 1, "GET a");
    transcript_reset(&fixture->transcript);
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), 0);
    assert_string_equal(fixture->transcript.text, "+OK | :2 | \"2\"");
    assert_int_equal(kv_applied_index(fixture->kv), 3);
    assert_int_equal(kv_applied_term(fixture->kv), 1);
    batch_free(&batch);
}

static void test_noop_advances_applied_index(void **state)
{
    struct fixture *fixture = *state;
    struct batch batch = {0};
    batch_add(&batch, 1, 4, NULL);
    transcript_reset(&fixture->transcript);
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), 0);
    assert_int_equal(kv_applied_index(fixture->kv), 1);
    assert_int_equal(kv_applied_term(fixture->kv), 4);
    assert_string_equal(fixture->transcript.text, "");
}

static void test_failed_command_advances_applied_index_and_changes_nothing(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET n abc", "+OK");
    EXPECT("INCR n", "-ERR value is not an integer or out of range");
    assert_int_equal(kv_applied_index(fixture->kv), 2);
    EXPECT("GET n", "\"abc\"");
}

static void test_applied_index_persists_across_reopen(void **state)
{
    struct fixture *fixture = *state;
    struct batch batch = {0};
    batch_add(&batch, 1, 2, "SET a 1");
    batch_add(&batch, 2, 3, NULL);
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), 0);
    batch_free(&batch);
    fixture_reopen(fixture);
    assert_int_equal(kv_applied_index(fixture->kv), 2);
    assert_int_equal(kv_applied_term(fixture->kv), 3);
    EXPECT("GET a", "\"1\"");
}

static void test_replay_after_reopen_skips_applied_entries(void **state)
{
    struct fixture *fixture = *state;
    struct batch batch = {0};
    batch_add(&batch, 1, 1, "INCR n");
    batch_add(&batch, 2, 1, "INCR n");
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), 0);
    fixture_reopen(fixture);
    /* The WAL replays from index 1; entry 3 is new. */
    batch_add(&batch, 3, 1, "INCR n");
    transcript_reset(&fixture->transcript);
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), 0);
    assert_string_equal(fixture->transcript.text, ":3");
    assert_int_equal(kv_applied_index(fixture->kv), 3);
    fixture->next_index = 4;
    EXPECT("GET n", "\"3\"");
    batch_free(&batch);
}

static void test_batch_with_gap_is_refused(void **state)
{
    struct fixture *fixture = *state;
    struct batch batch = {0};
    batch_add(&batch, 2, 1, "SET a 1");
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), KV_ERROR_OUT_OF_ORDER);
    batch_free(&batch);
    batch_add(&batch, 1, 1, "SET a 1");
    batch_add(&batch, 3, 1, "SET b 1");
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), KV_ERROR_OUT_OF_ORDER);
    assert_int_equal(kv_applied_index(fixture->kv), 0);
    batch_free(&batch);
    EXPECT("EXISTS a", ":0");
}

static void test_corrupt_entry_refuses_whole_batch(void **state)
{
    struct fixture *fixture = *state;
    struct batch batch = {0};
    batch_add(&batch, 1, 1, "SET a 1");
    batch_add(&batch, 2, 1, "SET b 2");
    batch.entries[1].data_bytes -= 1; /* truncated */
    transcript_reset(&fixture->transcript);
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), KV_ERROR_CORRUPT);
    assert_string_equal(fixture->transcript.text, "");
    assert_int_equal(kv_applied_index(fixture->kv), 0);
    assert_non_null(strstr(kv_last_error(fixture->kv), "entry 2"));
    EXPECT("EXISTS a b", ":0");
    batch_free(&batch);
}

static void test_unknown_command_or_entry_type_is_unsupported(void **state)
{
    struct fixture *fixture = *state;
    struct batch batch = {0};
    batch_add(&batch, 1, 1, "NOSUCHCOMMAND");
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), KV_ERROR_UNSUPPORTED);
    batch_free(&batch);
    batch_add(&batch, 1, 1, "SET a 1");
    batch.entries[0].type = 7;
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), KV_ERROR_UNSUPPORTED);
    batch_free(&batch);
    assert_int_equal(kv_applied_index(fixture->kv), 0);
}

static void test_wrong_arity_in_log_replies_error_and_advances(void **state)
{
    struct fixture *fixture = *state;
    struct batch batch = {0};
    batch_add(&batch, 1, 1, "SET a");
    transcript_reset(&fixture->transcript);
    assert_int_equal(fixture_apply(fixture, batch.entries, batch.count), 0);
    assert_string_equal(fixture->transcript.text,
                        "-ERR wrong number of arguments for 'set' command");
    assert_int_equal(kv_applied_index(fixture->kv), 1);
    batch_free(&batch);
}

/* The same entries on two fresh databases must leave identical states and replies. */
static void apply_workload(struct fixture *fixture, struct transcript *replies)
{
    const char *lines[] = {"SET a 1",      "INCRBY a 41", "APPEND s hello",  "SETRANGE s 8 x",
                           "MSET b 2 c 3", "DEL b",       "SET a x IFEQ 42", "MSETNX c 9 d 9",
                           "GETDEL c",     "INCR s",      "SET e v NX GET"};
    uint64_t index = 1;
    transcript_reset(&fixture->transcript);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct raft_entry entry;
        entry_from_line(&entry, index++, 1, lines[i]);
        assert_int_equal(fixture_apply(fixture, &entry, 1), 0);
        free(entry.data);
    }
    fixture->next_index = index;
    *replies = fixture->transcript;
}

static void dump_state(struct fixture *fixture, char *out, size_t out_bytes)
{
    const char *keys = run(fixture, "SCAN 0 COUNT 1000");
    snprintf(out, out_bytes, "%s", keys);
    const char *values = run(fixture, "MGET a b c d e s");
    size_t used = strlen(out);
    snprintf(out + used, out_bytes - used, " / %s", values);
}

static void test_two_replicas_fed_the_same_entries_end_identical(void **state)
{
    struct fixture *fixture = *state;
    struct fixture *other = malloc(sizeof *other);
    assert_non_null(other);
    fixture_open(other, NULL);
    struct transcript first;
    struct transcript second;
    apply_workload(fixture, &first);
    apply_workload(other, &second);
    char first_state[TRANSCRIPT_BYTES];
    char second_state[TRANSCRIPT_BYTES];
    dump_state(fixture, first_state, sizeof first_state);
    dump_state(other, second_state, sizeof second_state);
    assert_string_equal(first_state, second_state);
    assert_string_equal(first.text, second.text);
    assert_non_null(strstr(first_state, "\"x\" | (nil) | (nil) | (nil) | \"v\" | "
                                        "\"hello\\x00\\x00\\x00x\""));
    assert_int_equal(kv_applied_index(fixture->kv), kv_applied_index(other->kv));
    fixture_close(other);
    free(other);
}

/* SETs of k<index> for the next `count` indexes, in one batch: its result. */
static int fixture_apply_big_sets(struct fixture *fixture, int count, uint32_t value_bytes)
{
    uint64_t first_index = fixture->next_index;
    static uint8_t value[256 * 1024];
    assert_true(value_bytes <= sizeof value);
    memset(value, 'v', value_bytes);
    struct raft_entry entries[16];
    assert_true(count <= 16);
    for (int i = 0; i < count; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", (int)first_index + i);
        struct kv_arg argv[] = {
            {(const uint8_t *)"SET", 3}, {(const uint8_t *)key, strlen(key)}, {value, value_bytes}};
        entry_from_argv(&entries[i], first_index + (uint64_t)i, 1, 3, argv);
    }
    int result = fixture_apply(fixture, entries, (size_t)count);
    for (int i = 0; i < count; i++) {
        free(entries[i].data);
    }
    if (result == 0) {
        fixture->next_index += (uint64_t)count;
    }
    return result;
}

static void apply_big_sets(struct fixture *fixture, int count, uint32_t value_bytes, int expected)
{
    assert_int_equal(fixture_apply_big_sets(fixture, count, value_bytes), expected);
}

/* A replica's map never decides what applies: it grows before a batch that needs room. */
static void test_small_map_grows_with_the_data(void **state)
{
    struct fixture *fixture = *state;
    fixture_open_small_map(fixture);
    for (int batch = 0; batch < 4; batch++) {
        apply_big_sets(fixture, 8, 64 * 1024, 0);
    }
    assert_int_equal(kv_applied_index(fixture->kv), 32);
    assert_true(kv_map_bytes(fixture->kv) > 2 * 1024 * 1024);
    assert_true(kv_used_bytes(fixture->kv) >= 2 * 1024 * 1024);
    EXPECT("DBSIZE", ":32");
}

/* The map is allocated disk, so it grows ahead of a batch only by what the batch carries:
 * copies of a large value need more, meet the map's end, and the batch runs again in a
 * larger map, every reply sent once. */
static void test_batch_that_outgrows_the_map_runs_again_and_replies_once(void **state)
{
    struct fixture *fixture = *state;
    static uint8_t value[4 * 1024 * 1024];
    memset(value, 'v', sizeof value);
    struct kv_arg set[] = {
        {(const uint8_t *)"SET", 3}, {(const uint8_t *)"big", 3}, {value, sizeof value}};
    assert_string_equal(run_argv(fixture, 3, set), "+OK");
    uint64_t map_before = kv_map_bytes(fixture->kv);
    enum { COPIES = 12 }; /* 48 MiB of new pages, beyond the map's step ahead */
    assert_true(map_before < COPIES * sizeof value);
    struct raft_entry entries[COPIES];
    for (int i = 0; i < COPIES; i++) {
        char line[32];
        snprintf(line, sizeof line, "COPY big c%d", i);
        entry_from_line(&entries[i], fixture->next_index + (uint64_t)i, 1, line);
    }
    transcript_reset(&fixture->transcript);
    assert_int_equal(fixture_apply(fixture, entries, COPIES), 0);
    fixture->next_index += COPIES;
    for (int i = 0; i < COPIES; i++) {
        free(entries[i].data);
    }
    assert_string_equal(fixture->transcript.text,
                        ":1 | :1 | :1 | :1 | :1 | :1 | :1 | :1 | :1 | :1 | :1 | :1");
    assert_true(kv_map_bytes(fixture->kv) > map_before);
    EXPECT("DBSIZE", ":13");
    EXPECT("STRLEN c11", ":4194304");
    fixture_reopen(fixture);
    EXPECT("STRLEN c0", ":4194304");
}

static uint64_t data_file_bytes(struct fixture *fixture)
{
    char path[300];
    snprintf(path, sizeof path, "%s/data.mdb", fixture->directory);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    return (uint64_t)info.st_size;
}

/* The next step of the file is allocated on the allocator's thread, and the map follows it
 * when a batch needs the room: the applying thread only remaps. (Without the allocator the
 * file stays at the map's size until the batch, which then allocates its own need plus a
 * step: the wait below runs out.) */
static void test_allocator_allocates_ahead_and_the_map_follows(void **state)
{
    struct fixture *fixture = *state;
    fixture_open_small_map(fixture);
    EXPECT("SET a 1", "+OK"); /* needs little; starts the allocator on a step */
    uint64_t map = kv_map_bytes(fixture->kv);
    assert_int_equal(map, 256 * 1024);
    uint64_t allocated = data_file_bytes(fixture);
    uint64_t before = 0; /* until the size is a step on and stays */
    for (int waited_ms = 0;
         (allocated < 16 * 1024 * 1024 || allocated != before) && waited_ms < 10000;
         waited_ms += 20) {
        usleep(20 * 1000);
        before = allocated;
        allocated = data_file_bytes(fixture);
    }
    assert_true(allocated >= 16 * 1024 * 1024);       /* a step */
    assert_int_equal(kv_map_bytes(fixture->kv), map); /* the map waits for a batch */
    apply_big_sets(fixture, 8, 64 * 1024, 0);         /* more than 256 KiB */
    assert_int_equal(kv_map_bytes(fixture->kv), allocated);
    fixture_reopen(fixture);
    EXPECT("DBSIZE", ":9");
}

/* While map_lock holds the growth off, a batch that does not fit is refused whole (nothing
 * of it applied) and applies once the lock is let go. */
static void test_full_map_while_growth_is_held_applies_nothing_then_everything(void **state)
{
    struct fixture *fixture = *state;
    fixture_open_small_map(fixture);
    assert_int_equal(pthread_mutex_lock(&fixture->kv->map_lock), 0);
    apply_big_sets(fixture, 8, 64 * 1024, KV_ERROR_MAP_FULL);
    assert_non_null(strstr(kv_last_error(fixture->kv), "MDB_MAP_FULL"));
    assert_int_equal(kv_applied_index(fixture->kv), 0);
    EXPECT("EXISTS k1 k2", ":0");
    assert_int_equal(pthread_mutex_unlock(&fixture->kv->map_lock), 0);
    apply_big_sets(fixture, 8, 64 * 1024, 0);
    assert_int_equal(kv_applied_index(fixture->kv), 8);
    fixture_reopen(fixture);
    assert_int_equal(kv_applied_index(fixture->kv), 8);
    EXPECT("DBSIZE", ":8");
}

/* The quota measures the pages that hold data: deleting gives the room back, although the
 * file keeps its size (LMDB reuses its free pages). */
static void test_used_bytes_follow_the_data_not_the_file(void **state)
{
    struct fixture *fixture = *state;
    uint64_t empty = kv_used_bytes(fixture->kv);
    apply_big_sets(fixture, 8, 128 * 1024, 0);
    uint64_t full = kv_used_bytes(fixture->kv);
    assert_true(full >= empty + 8 * 128 * 1024);
    uint64_t file = kv_file_bytes(fixture->kv);
    assert_true(file >= full);
    EXPECT("DEL k1 k2 k3 k4 k5 k6 k7 k8", ":8");
    assert_true(kv_used_bytes(fixture->kv) < empty + 64 * 1024);
    assert_true(kv_file_bytes(fixture->kv) >= file);
}

static bool may_grow(struct fixture *fixture, const char *line)
{
    struct kv_arg argv[8];
    char copy[128];
    snprintf(copy, sizeof copy, "%s", line);
    size_t argc = 0;
    for (char *word = strtok(copy, " "); word != NULL && argc < 8; word = strtok(NULL, " ")) {
        argv[argc++] = (struct kv_arg){(const uint8_t *)word, strlen(word)};
    }
    const struct kv_command *command = kv_command_lookup(argv[0].data, argv[0].data_bytes);
    assert_non_null(command);
    return kv_write_may_grow(fixture->kv, command, argc, argv);
}

/* Above the quota only writes that cannot grow the data pass: deletes, and overwrites of a
 * string with one no longer. */
static void test_write_may_grow_only_when_it_adds_bytes(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("MSET long 0123456789 short ab", "+OK");
    assert_false(may_grow(fixture, "SET long 01234"));
    assert_false(may_grow(fixture, "SET long 0123456789 XX"));
    assert_true(may_grow(fixture, "SET long 0123456789a"));
    assert_true(may_grow(fixture, "SET absent x"));
    assert_false(may_grow(fixture, "GETSET long x"));
    assert_false(may_grow(fixture, "MSET long x short y"));
    assert_true(may_grow(fixture, "MSET long x short yyy"));
    assert_true(may_grow(fixture, "INCR counter"));
    assert_true(may_grow(fixture, "APPEND long x"));
    assert_false(may_grow(fixture, "DEL long"));
    assert_false(may_grow(fixture, "GETDEL long"));
}

struct export_job {
    struct kv *kv;
    char path[300];
    uint64_t index;
    uint64_t term;
    int result;
};

static void *export_thread(void *argument)
{
    struct export_job *job = argument;
    job->result = kv_snapshot_export(job->kv, job->path, &job->index, &job->term);
    return NULL;
}

/* Reaches inside kv to hold a write transaction open, as a batch apply would, while another
 * thread exports: the snapshot must hold the last committed state only. */
static void test_snapshot_export_while_writing_then_import(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("MSET a 1 b 2", "+OK");
    EXPECT("INCR a", ":2");
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(fixture->kv->env, NULL, 0, &txn), 0);
    struct kv_arg key = {(const uint8_t *)"uncommitted", 11};
    struct kv_exec exec = {.kv = fixture->kv, .txn = txn, .writable = true};
    assert_int_equal(kv_string_store(&exec, &key, (const uint8_t *)"x", 1, 0), 0);

    struct export_job job = {.kv = fixture->kv};
    snprintf(job.path, sizeof job.path, "%s.snapshot", fixture->directory);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, export_thread, &job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(job.result, 0);
    assert_int_equal(job.index, 2);
    assert_int_equal(job.term, 1);

    struct fixture *other = malloc(sizeof *other);
    assert_non_null(other);
    fixture_open(other, NULL);
    assert_string_equal(run(other, "SET stale 1"), "+OK");
    uint64_t index;
    uint64_t term;
    assert_int_equal(kv_snapshot_import(other->kv, job.path, &index, &term), 0);
    assert_int_equal(index, 2);
    assert_int_equal(term, 1);
    assert_int_equal(kv_applied_index(other->kv), 2);
    assert_string_equal(run(other, "MGET a b uncommitted stale"),
                        "*4 | \"2\" | \"2\" | (nil) | (nil)");
    assert_string_equal(run(other, "DBSIZE"), ":2");
    struct stat info;
    assert_int_not_equal(stat(job.path, &info), 0); /* consumed */
    fixture_close(other);
    free(other);
}

/* An export in the middle of its copy (stuck writing into a FIFO that is read only once the
 * test lets it) does not hold the map back: batches that need it to grow apply meanwhile, and
 * the copy is the state as of the export's start; a flush does not wait for it either. (When the
 * export held the map for its whole copy, these batches were refused with KV_ERROR_MAP_FULL: a
 * leader stopped during `make bench`.)
 */
static void test_map_grows_while_an_export_copies(void **state)
{
    struct fixture *fixture = *state;
    fixture_open_small_map(fixture);
    apply_big_sets(fixture, 4, 64 * 1024, 0); /* more than the pipes between copy and test hold */

    struct export_job job = {.kv = fixture->kv};
    snprintf(job.path, sizeof job.path, "%s.snapshot", fixture->directory);
    char temporary[320];
    snprintf(temporary, sizeof temporary, "%s.tmp", job.path);
    assert_int_equal(mkfifo(temporary, 0600), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, export_thread, &job), 0);
    int reader = open(temporary, O_RDONLY | O_CLOEXEC); /* once the export opened it */
    assert_true(reader >= 0);
    static uint8_t copy[1 << 20];
    size_t copy_bytes = 0;
    ssize_t got = read(reader, copy, 4096); /* the copy's transaction has begun */
    assert_true(got > 0);
    copy_bytes += (size_t)got;

    uint64_t map_before = kv_map_bytes(fixture->kv); /* a step (16 MiB) ahead of the data */
    int batches = 0;
    while (kv_map_bytes(fixture->kv) == map_before && batches < 8) {
        apply_big_sets(fixture, 16, 256 * 1024, 0);
        batches++;
    }
    assert_true(kv_map_bytes(fixture->kv) > map_before);
    assert_int_equal(kv_sync(fixture->kv), 0); /* a flush does not wait for the export */

    while ((got = read(reader, copy + copy_bytes, sizeof copy - copy_bytes)) > 0) {
        copy_bytes += (size_t)got;
    }
    assert_int_equal(got, 0);
    assert_int_equal(close(reader), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(job.result, KV_ERROR_STORAGE); /* a FIFO cannot be fsynced */

    FILE *file = fopen(job.path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(copy, 1, copy_bytes, file), copy_bytes);
    assert_int_equal(fclose(file), 0);
    struct fixture *other = malloc(sizeof *other);
    assert_non_null(other);
    fixture_open(other, NULL);
    uint64_t index;
    uint64_t term;
    assert_int_equal(kv_snapshot_import(other->kv, job.path, &index, &term), 0);
    assert_int_equal(index, 4);
    assert_string_equal(run(other, "DBSIZE"), ":4");
    assert_string_equal(run(other, "STRLEN k4"), ":65536");
    fixture_close(other);
    free(other);
    char keys[16];
    snprintf(keys, sizeof keys, ":%d", 4 + 16 * batches);
    EXPECT("DBSIZE", keys);
}

static void test_snapshot_import_survives_reopen(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1", "+OK");
    char path[300];
    snprintf(path, sizeof path, "%s.snapshot", fixture->directory);
    uint64_t index;
    uint64_t term;
    assert_int_equal(kv_snapshot_export(fixture->kv, path, &index, &term), 0);
    EXPECT("SET a 2", "+OK");
    assert_int_equal(kv_snapshot_import(fixture->kv, path, &index, &term), 0);
    assert_int_equal(index, 1);
    EXPECT("GET a", "\"1\"");
    fixture_reopen(fixture);
    assert_int_equal(kv_applied_index(fixture->kv), 1);
    EXPECT("GET a", "\"1\"");
}

static void write_file(const char *path, const void *data, size_t bytes)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, bytes, file), bytes);
    assert_int_equal(fclose(file), 0);
}

static void test_snapshot_import_refuses_garbage_and_keeps_data(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1", "+OK");
    char path[300];
    snprintf(path, sizeof path, "%s.garbage", fixture->directory);
    static uint8_t garbage[16384];
    for (size_t i = 0; i < sizeof garbage; i++) {
        garbage[i] = (uint8_t)(i * 131 + 7);
    }
    uint64_t index;
    uint64_t term;
    write_file(path, garbage, sizeof garbage);
    assert_int_equal(kv_snapshot_import(fixture->kv, path, &index, &term), KV_ERROR_CORRUPT);
    write_file(path, "", 0);
    assert_int_equal(kv_snapshot_import(fixture->kv, path, &index, &term), KV_ERROR_CORRUPT);
    unlink(path);
    assert_int_equal(kv_snapshot_import(fixture->kv, path, &index, &term), KV_ERROR_STORAGE);
    EXPECT("GET a", "\"1\"");
    assert_int_equal(kv_applied_index(fixture->kv), 1);
}

static void test_truncated_snapshot_is_refused(void **state)
{
    struct fixture *fixture = *state;
    for (int i = 0; i < 200; i++) {
        char line[64];
        snprintf(line, sizeof line, "SET key%d value-%d-padding-padding-padding", i, i);
        EXPECT(line, "+OK");
    }
    char path[300];
    snprintf(path, sizeof path, "%s.snapshot", fixture->directory);
    uint64_t index;
    uint64_t term;
    assert_int_equal(kv_snapshot_export(fixture->kv, path, &index, &term), 0);
    assert_int_equal(index, 200);
    assert_int_equal(truncate(path, 8192), 0);
    assert_int_equal(kv_snapshot_read_meta(path, &index, &term), KV_ERROR_CORRUPT);
    assert_int_equal(kv_snapshot_import(fixture->kv, path, &index, &term), KV_ERROR_CORRUPT);
    EXPECT("DBSIZE", ":200");
    unlink(path);
}

static void test_sync_succeeds(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET a 1", "+OK");
    assert_int_equal(kv_sync(fixture->kv), 0);
}

static uint64_t database_entries(struct kv *kv, MDB_dbi dbi)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &txn), 0);
    MDB_stat stat;
    assert_int_equal(mdb_stat(txn, dbi, &stat), 0);
    mdb_txn_abort(txn);
    return stat.ms_entries;
}

/* A big collection's DEL is one small entry: its items go to the trash and are freed a few
 * hundred per later entry, and nothing of them is visible meanwhile. */
static void test_a_big_key_is_deleted_at_once_and_freed_bit_by_bit(void **state)
{
    struct fixture *fixture = *state;
    char line[4096];
    for (int batch = 0; batch < 80; batch++) { /* run() takes up to 64 words */
        int used = snprintf(line, sizeof line, "HSET big");
        for (int i = 0; i < 25; i++) {
            used += snprintf(line + used, sizeof line - (size_t)used, " f%d v", batch * 25 + i);
        }
        EXPECT(line, ":25");
    }
    EXPECT("HLEN big", ":2000");
    assert_int_equal(database_entries(fixture->kv, fixture->kv->items_dbi), 2000);
    EXPECT("DEL big", ":1");
    EXPECT("EXISTS big", ":0");
    EXPECT("HSET big f0 new", ":1"); /* a new hash under a new id: none of the old fields */
    EXPECT("HLEN big", ":1");
    uint64_t left = database_entries(fixture->kv, fixture->kv->items_dbi);
    assert_true(left > 1 && left < 2000); /* the two entries freed some */
    int entries = 0;
    while (database_entries(fixture->kv, fixture->kv->trash_dbi) > 0 && entries < 50) {
        EXPECT("SET tick 1", "+OK");
        entries++;
    }
    assert_int_equal(database_entries(fixture->kv, fixture->kv->trash_dbi), 0);
    assert_int_equal(database_entries(fixture->kv, fixture->kv->items_dbi), 1);
    assert_true(entries >= 5 && entries <= 10); /* 256 items per entry */
}

/* Mounts a tmpfs of `size` on a new directory named after `disk` (a mkdtemp template), in a
 * private mount namespace; skips the test unless it runs as root. */
static void mount_small_disk(char *disk, const char *size)
{
    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
        mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        skip();
    }
    assert_non_null(mkdtemp(disk));
    assert_int_equal(mount("tmpfs", disk, "tmpfs", 0, size), 0);
}

/* Writes a ballast file (its path into `ballast`) of up to `bytes`, or until `disk` is full. */
static void fill_disk(const char *disk, char *ballast, size_t ballast_bytes, size_t bytes)
{
    snprintf(ballast, ballast_bytes, "%s/ballast", disk);
    FILE *file = fopen(ballast, "w");
    assert_non_null(file);
    static const char chunk[64 * 1024];
    for (size_t written = 0;
         written < bytes && fwrite(chunk, 1, sizeof chunk, file) == sizeof chunk;
         written += sizeof chunk) {
        fflush(file);
    }
    fclose(file);
}

/* LMDB writes its lock file through a shared mapping; on a full tmpfs that raised SIGBUS
 * until kv allocated the file first. Needs root for a private mount namespace. */
static void test_open_on_a_full_file_system_is_an_error_not_a_signal(void **state)
{
    (void)state;
    char disk[] = "/tmp/kv-full-XXXXXX";
    mount_small_disk(disk, "size=1m");
    char directory[64];
    snprintf(directory, sizeof directory, "%s/kv", disk);
    char ballast[64];
    fill_disk(disk, ballast, sizeof ballast, 4u << 20);
    struct kv *kv = NULL;
    assert_int_equal(kv_open(directory, NULL, &kv), KV_ERROR_STORAGE);
    unlink(ballast); /* space is back: the same open succeeds */
    assert_int_equal(kv_open(directory, NULL, &kv), 0);
    kv_close(kv);
    assert_int_equal(umount2(disk, MNT_DETACH), 0);
    rmdir(disk);
}

/* Writes through the map never meet a hole: when the disk has no room to grow the file, the
 * batch is refused with ENOSPC (no SIGBUS, nothing applied), and once space is back the same
 * batch applies. */
static void test_batch_on_a_full_disk_is_refused_then_applies(void **state)
{
    (void)state;
    char disk[] = "/tmp/kv-full-XXXXXX";
    mount_small_disk(disk, "size=48m");
    struct fixture fixture;
    memset(&fixture, 0, sizeof fixture);
    snprintf(fixture.directory, sizeof fixture.directory, "%s/kv", disk);
    kv_options_default(&fixture.options);
    assert_int_equal(kv_open(fixture.directory, &fixture.options, &fixture.kv), 0);
    fixture.term = 1;
    fixture.next_index = 1;
    transcript_init(&fixture.transcript);
    char ballast[64];
    fill_disk(disk, ballast, sizeof ballast, 64u << 20);
    int refused = 0;
    for (int batch = 0; batch < 64 && refused == 0; batch++) {
        uint64_t before = kv_applied_index(fixture.kv);
        refused = fixture_apply_big_sets(&fixture, 16, 256 * 1024);
        if (refused != 0) {
            assert_int_equal(kv_applied_index(fixture.kv), before);
        }
    }
    assert_int_equal(refused, KV_ERROR_STORAGE);
    assert_non_null(strstr(kv_last_error(fixture.kv), "No space left on device"));
    unlink(ballast); /* space is back: the same batch applies */
    assert_int_equal(fixture_apply_big_sets(&fixture, 16, 256 * 1024), 0);
    kv_close(fixture.kv);
    assert_int_equal(umount2(disk, MNT_DETACH), 0);
    rmdir(disk);
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_batch_applies_in_order_and_replies_each),
        FIXTURE_TEST(test_noop_advances_applied_index),
        FIXTURE_TEST(test_failed_command_advances_applied_index_and_changes_nothing),
        FIXTURE_TEST(test_applied_index_persists_across_reopen),
        FIXTURE_TEST(test_replay_after_reopen_skips_applied_entries),
        FIXTURE_TEST(test_batch_with_gap_is_refused),
        FIXTURE_TEST(test_corrupt_entry_refuses_whole_batch),
        FIXTURE_TEST(test_unknown_command_or_entry_type_is_unsupported),
        FIXTURE_TEST(test_wrong_arity_in_log_replies_error_and_advances),
        FIXTURE_TEST(test_two_replicas_fed_the_same_entries_end_identical),
        FIXTURE_TEST(test_small_map_grows_with_the_data),
        FIXTURE_TEST(test_batch_that_outgrows_the_map_runs_again_and_replies_once),
        FIXTURE_TEST(test_allocator_allocates_ahead_and_the_map_follows),
        FIXTURE_TEST(test_full_map_while_growth_is_held_applies_nothing_then_everything),
        FIXTURE_TEST(test_map_grows_while_an_export_copies),
        FIXTURE_TEST(test_used_bytes_follow_the_data_not_the_file),
        FIXTURE_TEST(test_write_may_grow_only_when_it_adds_bytes),
        FIXTURE_TEST(test_snapshot_export_while_writing_then_import),
        FIXTURE_TEST(test_snapshot_import_survives_reopen),
        FIXTURE_TEST(test_snapshot_import_refuses_garbage_and_keeps_data),
        FIXTURE_TEST(test_truncated_snapshot_is_refused),
        FIXTURE_TEST(test_sync_succeeds),
        FIXTURE_TEST(test_a_big_key_is_deleted_at_once_and_freed_bit_by_bit),
        cmocka_unit_test(test_open_on_a_full_file_system_is_an_error_not_a_signal),
        cmocka_unit_test(test_batch_on_a_full_disk_is_refused_then_applies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
