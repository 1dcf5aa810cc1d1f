/*
 * test_kv_support.c — the fixture the kv tests share: a fresh database in a temporary
 * directory, a reply sink that writes every reply into a readable transcript, and run(),
 * which takes a command line such as "SET k v", sends a write through the real path (encode,
 * a Raft entry, kv_apply_batch) and a read through kv_read, and returns the transcript.
 *
 * Transcript notation: +OK status, -ERR ... error, :5 integer, "abc" bulk (bytes outside
 * printable ASCII as \xHH), (nil) null, (nil-array) the null array, ,1.5 a double, (blocked) a
 * blocking command that waits, *2 an array header; replies are separated by " | ".
 * In command lines, words are split on spaces and the word '' is the empty string.
 *
 * Failure modes: any unexpected kv error fails the running test through cmocka's asserts.
 *
 * Each kv test file #includes this file (it is not compiled on its own), so the helpers need
 * no header outside the test file names kv owns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv/kv.h"

#define TRANSCRIPT_BYTES 8192

struct transcript {
    struct kv_reply sink;
    char text[TRANSCRIPT_BYTES];
    size_t used;
    size_t mark; /* used when the batch began: what a rewind goes back to */
};

/* The clock the tests' leader stamps entries with and reads with (Unix ms); tests of expiry
 * move it. */
static uint64_t test_clock_ms = UINT64_C(1700000000000);

struct fixture {
    char directory[256];
    struct kv_options options;
    struct kv *kv;
    uint64_t term;
    uint64_t next_index;
    struct transcript transcript;
};

static void transcript_append(struct transcript *transcript, const char *text, size_t bytes)
{
    if (transcript->used > 0) {
        const char *separator = " | ";
        size_t length = strlen(separator);
        assert_true(transcript->used + length < TRANSCRIPT_BYTES);
        memcpy(transcript->text + transcript->used, separator, length);
        transcript->used += length;
    }
    assert_true(transcript->used + bytes < TRANSCRIPT_BYTES);
    memcpy(transcript->text + transcript->used, text, bytes);
    transcript->used += bytes;
    transcript->text[transcript->used] = '\0';
}

static void sink_status(void *context, const char *text, size_t bytes)
{
    char line[TRANSCRIPT_BYTES];
    int length = snprintf(line, sizeof line, "+%.*s", (int)bytes, text);
    transcript_append(context, line, (size_t)length);
}

static void sink_error(void *context, const char *text, size_t bytes)
{
    char line[TRANSCRIPT_BYTES];
    int length = snprintf(line, sizeof line, "-%.*s", (int)bytes, text);
    transcript_append(context, line, (size_t)length);
}

static void sink_integer(void *context, int64_t value)
{
    char line[32];
    int length = snprintf(line, sizeof line, ":%lld", (long long)value);
    transcript_append(context, line, (size_t)length);
}

static void sink_bulk(void *context, const uint8_t *data, size_t bytes)
{
    char line[TRANSCRIPT_BYTES];
    size_t used = 0;
    line[used++] = '"';
    for (size_t i = 0; i < bytes && used + 8 < sizeof line; i++) {
        if (data[i] >= 0x20 && data[i] < 0x7f) {
            line[used++] = (char)data[i];
        } else {
            used += (size_t)snprintf(line + used, sizeof line - used, "\\x%02x", data[i]);
        }
    }
    line[used++] = '"';
    transcript_append(context, line, used);
}

static void sink_null(void *context)
{
    transcript_append(context, "(nil)", 5);
}

static void sink_null_array(void *context)
{
    transcript_append(context, "(nil-array)", 11);
}

static void sink_double_text(void *context, const char *text, size_t bytes)
{
    char line[64];
    int length = snprintf(line, sizeof line, ",%.*s", (int)bytes, text);
    transcript_append(context, line, (size_t)length);
}

static void sink_blocked(void *context)
{
    transcript_append(context, "(blocked)", 9);
}

static void sink_array(void *context, size_t count);

/* The transcript shows RESP2's flat shapes (maps, sets and pairs as plain arrays). */
static void sink_map(void *context, size_t pairs)
{
    sink_array(context, 2 * pairs);
}

static void sink_pairs(void *context, size_t count)
{
    sink_array(context, 2 * count);
}

static void sink_pair(void *context)
{
    (void)context;
}

static void sink_array(void *context, size_t count)
{
    char line[32];
    int length = snprintf(line, sizeof line, "*%zu", count);
    transcript_append(context, line, (size_t)length);
}

/* kv runs the batch again (its map grew): the aborted run's replies are taken back. */
static void sink_rewind(void *context)
{
    struct transcript *transcript = context;
    transcript->used = transcript->mark;
    transcript->text[transcript->used] = '\0';
}

void transcript_init(struct transcript *transcript)
{
    memset(transcript, 0, sizeof *transcript);
    transcript->sink = (struct kv_reply){
        .status = sink_status,
        .error = sink_error,
        .integer = sink_integer,
        .bulk = sink_bulk,
        .null = sink_null,
        .null_array = sink_null_array,
        .double_text = sink_double_text,
        .blocked = sink_blocked,
        .map = sink_map,
        .set = sink_array,
        .pairs = sink_pairs,
        .pair = sink_pair,
        .array = sink_array,
        .rewind = sink_rewind,
        .context = transcript,
    };
}

void transcript_reset(struct transcript *transcript)
{
    transcript->used = 0;
    transcript->text[0] = '\0';
}

void fixture_close(struct fixture *fixture);

void fixture_open(struct fixture *fixture, const struct kv_options *options)
{
    memset(fixture, 0, sizeof *fixture);
    snprintf(fixture->directory, sizeof fixture->directory, "/tmp/test_kv.XXXXXX");
    assert_non_null(mkdtemp(fixture->directory));
    if (options != NULL) {
        fixture->options = *options;
    } else {
        kv_options_default(&fixture->options);
    }
    assert_int_equal(kv_open(fixture->directory, &fixture->options, &fixture->kv), 0);
    fixture->term = 1;
    fixture->next_index = 1;
    transcript_init(&fixture->transcript);
}

void fixture_reopen(struct fixture *fixture)
{
    kv_close(fixture->kv);
    fixture->kv = NULL;
    assert_int_equal(kv_open(fixture->directory, &fixture->options, &fixture->kv), 0);
}

/* A fresh database whose map starts at 256 KiB, so that a few batches make it grow. */
void fixture_open_small_map(struct fixture *fixture)
{
    struct kv_options options;
    kv_options_default(&options);
    options.map_size_bytes = 256 * 1024;
    fixture_close(fixture);
    fixture_open(fixture, &options);
}

void remove_tree(const char *directory)
{
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", directory);
    assert_int_equal(system(command), 0);
}

void fixture_close(struct fixture *fixture)
{
    kv_close(fixture->kv);
    remove_tree(fixture->directory);
}

size_t split_words(const char *line, char *storage, size_t storage_bytes, struct kv_arg *argv,
                   size_t capacity)
{
    size_t length = strlen(line);
    assert_true(length < storage_bytes);
    memcpy(storage, line, length + 1);
    size_t argc = 0;
    char *save = NULL;
    for (char *word = strtok_r(storage, " ", &save); word != NULL;
         word = strtok_r(NULL, " ", &save)) {
        assert_true(argc < capacity);
        bool empty = strcmp(word, "''") == 0;
        argv[argc].data = (const uint8_t *)word;
        argv[argc].data_bytes = empty ? 0 : strlen(word);
        argc++;
    }
    return argc;
}

static const struct kv_reply *provide_transcript(void *context, uint64_t index, uint64_t term)
{
    (void)index, (void)term;
    struct fixture *fixture = context;
    return &fixture->transcript.sink;
}

void entry_from_argv(struct raft_entry *entry, uint64_t index, uint64_t term, size_t argc,
                     const struct kv_arg *argv)
{
    size_t bytes = kv_command_encoded_bytes(argc, argv);
    assert_true(bytes > 0);
    entry->data = malloc(bytes);
    assert_non_null(entry->data);
    size_t written;
    assert_int_equal(kv_command_encode(argc, argv, test_clock_ms, entry->data, bytes, &written), 0);
    assert_int_equal(written, bytes);
    entry->data_bytes = (uint32_t)bytes;
    entry->index = index;
    entry->term = term;
    entry->type = RAFT_ENTRY_COMMAND;
}

void entry_from_line(struct raft_entry *entry, uint64_t index, uint64_t term, const char *line)
{
    char storage[TRANSCRIPT_BYTES];
    struct kv_arg argv[64];
    size_t argc = split_words(line, storage, sizeof storage, argv, 64);
    entry_from_argv(entry, index, term, argc, argv);
}

int fixture_apply(struct fixture *fixture, const struct raft_entry *entries, size_t count)
{
    fixture->transcript.mark = fixture->transcript.used;
    return kv_apply_batch(fixture->kv, entries, count, provide_transcript, fixture);
}

const char *run_argv(struct fixture *fixture, size_t argc, const struct kv_arg *argv)
{
    transcript_reset(&fixture->transcript);
    const struct kv_command *command = kv_command_resolve(argc, argv, &fixture->transcript.sink);
    if (command == NULL) {
        return fixture->transcript.text;
    }
    if (command->flags & KV_COMMAND_READ) {
        assert_int_equal(kv_read(fixture->kv, argc, argv, test_clock_ms, &fixture->transcript.sink),
                         0);
        return fixture->transcript.text;
    }
    struct raft_entry entry;
    entry_from_argv(&entry, fixture->next_index++, fixture->term, argc, argv);
    int result = fixture_apply(fixture, &entry, 1);
    free(entry.data);
    assert_int_equal(result, 0);
    assert_int_equal(kv_applied_index(fixture->kv), entry.index);
    return fixture->transcript.text;
}

const char *run(struct fixture *fixture, const char *line)
{
    char storage[TRANSCRIPT_BYTES];
    struct kv_arg argv[64];
    size_t argc = split_words(line, storage, sizeof storage, argv, 64);
    return run_argv(fixture, argc, argv);
}

int setup_fixture(void **state)
{
    struct fixture *fixture = malloc(sizeof *fixture);
    assert_non_null(fixture);
    fixture_open(fixture, NULL);
    *state = fixture;
    return 0;
}

int teardown_fixture(void **state)
{
    struct fixture *fixture = *state;
    fixture_close(fixture);
    free(fixture);
    return 0;
}
