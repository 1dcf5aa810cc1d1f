/*
 * store.c — the replicated state machine's storage: the LMDB environment, batch apply, reads,
 * sync, and snapshot export and import.
 *
 * Happy path: kv_open() opens (or creates) the environment and reads the applied index and
 * term; kv_apply_batch() runs every committed entry of a ready in one write transaction that
 * ends by storing the last entry's index and term, so the data and the applied point never
 * disagree; kv_read() reuses one read-only transaction (reset and renewed, never freed) for
 * each read. Commit order: LMDB writes data pages, then (unless MDB_NOSYNC) syncs, then writes
 * the meta page — the applied index is therefore durable exactly when its data is.
 *
 * Durability with MDB_NOSYNC (the default): a crash may lose the last commits, which is safe
 * because the WAL still holds those entries; the host replays the log from kv_applied_index()
 * and must only compact the log below the index it saw right after kv_sync().
 *
 * Failure modes: corrupt or unknown entries refuse the whole batch before anything runs; LMDB
 * failures abort the transaction and are returned with context in kv_last_error(); a snapshot
 * file that LMDB cannot open, or that is shorter than its own meta page claims, is refused
 * before the live database is touched.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "kv/kv_internal.h"

#define KV_DATA_DB_NAME      "data"
#define KV_META_DB_NAME      "meta"
#define KV_META_APPLIED_KEY  "applied"
#define KV_META_FORMAT_KEY   "format"
#define KV_META_MEMBERS_KEY  "members"
#define KV_META_CLOCK_KEY    "clock"
#define KV_META_NEXT_ID_KEY  "next_id"
#define KV_ITEMS_DB_NAME     "items"
#define KV_EXPIRES_DB_NAME   "expires"
#define KV_TRASH_DB_NAME     "trash"
#define KV_SESSIONS_DB_NAME  "sessions"
#define KV_REPLIES_DB_NAME   "session_replies"
#define KV_TIMES_DB_NAME     "session_times"
#define KV_ACL_DB_NAME       "acl"
#define KV_SCRIPTS_DB_NAME   "scripts"
#define KV_FUNCTIONS_DB_NAME "functions"
#define KV_APPLIED_BYTES     16
#define KV_META_NOTIFY_KEY   "notify"

/* ---- small helpers ------------------------------------------------------------------------- */

int kv_map_mdb_error(int rc)
{
    switch (rc) {
    case MDB_MAP_FULL:
        return KV_ERROR_MAP_FULL;
    case MDB_TXN_FULL:
        return KV_ERROR_TXN_FULL;
    case ENOMEM:
        return KV_ERROR_NO_MEMORY;
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
        return KV_ERROR_CORRUPT;
    default:
        return KV_ERROR_STORAGE;
    }
}

int kv_storage_error(struct kv *kv, int mdb_result, const char *what)
{
    assert(mdb_result != 0);
    snprintf(kv->error_message, sizeof kv->error_message, "%s: %s", what, mdb_strerror(mdb_result));
    return kv_map_mdb_error(mdb_result);
}

int kv_buffer_reserve(struct kv_buffer *buffer, size_t bytes)
{
    if (buffer->capacity_bytes >= bytes) {
        return 0;
    }
    size_t capacity = buffer->capacity_bytes * 2;
    capacity = capacity > bytes ? capacity : bytes;
    uint8_t *data = realloc(buffer->data, capacity);
    if (data == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    buffer->data = data;
    buffer->capacity_bytes = capacity;
    return 0;
}

static void kv_put_u64(uint8_t *out, uint64_t value)
{
    for (size_t i = 0; i < 8; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static uint64_t kv_get_u64(const uint8_t *in)
{
    uint64_t value = 0;
    for (size_t i = 0; i < 8; i++) {
        value |= (uint64_t)in[i] << (8 * i);
    }
    return value;
}

uint64_t kv_key_hash(const uint8_t *key, size_t key_bytes)
{
    /* XXH3's output is frozen since xxHash 0.8.0, so every replica and every later build
     * orders keys the same way. */
    return XXH3_64bits(key_bytes > 0 ? (const void *)key : "", key_bytes);
}

bool kv_key_encode(const struct kv_arg *key, struct kv_stored_key *stored)
{
    if (key->data_bytes > KV_MAX_KEY_BYTES) {
        return false;
    }
    uint64_t hash = kv_key_hash(key->data, key->data_bytes);
    for (size_t i = 0; i < KV_KEY_HASH_BYTES; i++) {
        stored->bytes[i] = (uint8_t)(hash >> (8 * (KV_KEY_HASH_BYTES - 1 - i)));
    }
    if (key->data_bytes > 0) {
        memcpy(stored->bytes + KV_KEY_HASH_BYTES, key->data, key->data_bytes);
    }
    stored->bytes_used = KV_KEY_HASH_BYTES + key->data_bytes;
    return true;
}

/* ---- the replies nobody waits for ------------------------------------------------------------ */

static void kv_discard_text(void *context, const char *text, size_t text_bytes)
{
    (void)context, (void)text, (void)text_bytes;
}

static void kv_discard_integer(void *context, int64_t value)
{
    (void)context, (void)value;
}

static void kv_discard_bulk(void *context, const uint8_t *data, size_t data_bytes)
{
    (void)context, (void)data, (void)data_bytes;
}

static void kv_discard_null(void *context)
{
    (void)context;
}

static void kv_discard_array(void *context, size_t count)
{
    (void)context, (void)count;
}

static void kv_discard_event(void *context)
{
    (void)context;
}

const struct kv_reply kv_discard_reply = {
    .status = kv_discard_text,
    .error = kv_discard_text,
    .integer = kv_discard_integer,
    .bulk = kv_discard_bulk,
    .null = kv_discard_null,
    .null_array = kv_discard_event,
    .array = kv_discard_array,
    .double_text = kv_discard_text,
    .blocked = kv_discard_event,
    .map = kv_discard_array,
    .set = kv_discard_array,
    .pairs = kv_discard_array,
    .pair = kv_discard_event,
    .context = NULL,
};

/* ---- the meta database ------------------------------------------------------------------------
 */

int kv_meta_read_applied(MDB_txn *txn, MDB_dbi meta_dbi, uint64_t *index, uint64_t *term)
{
    MDB_val key = {.mv_size = strlen(KV_META_APPLIED_KEY), .mv_data = KV_META_APPLIED_KEY};
    MDB_val value;
    int rc = mdb_get(txn, meta_dbi, &key, &value);
    if (rc == MDB_NOTFOUND) {
        *index = 0;
        *term = 0;
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    if (value.mv_size != KV_APPLIED_BYTES) {
        return MDB_CORRUPTED;
    }
    *index = kv_get_u64(value.mv_data);
    *term = kv_get_u64((const uint8_t *)value.mv_data + 8);
    return 0;
}

int kv_meta_write_applied(MDB_txn *txn, MDB_dbi meta_dbi, uint64_t index, uint64_t term)
{
    uint8_t bytes[KV_APPLIED_BYTES];
    kv_put_u64(bytes, index);
    kv_put_u64(bytes + 8, term);
    MDB_val key = {.mv_size = strlen(KV_META_APPLIED_KEY), .mv_data = KV_META_APPLIED_KEY};
    MDB_val value = {.mv_size = sizeof bytes, .mv_data = bytes};
    return mdb_put(txn, meta_dbi, &key, &value, 0);
}

/* A u64 under a meta key; *value is `absent` when the key is not there. */
static int kv_meta_read_u64(MDB_txn *txn, MDB_dbi meta_dbi, const char *name, uint64_t absent,
                            uint64_t *value)
{
    MDB_val key = {.mv_size = strlen(name), .mv_data = (void *)name};
    MDB_val stored;
    int rc = mdb_get(txn, meta_dbi, &key, &stored);
    if (rc == MDB_NOTFOUND) {
        *value = absent;
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    if (stored.mv_size != 8) {
        return MDB_CORRUPTED;
    }
    *value = kv_get_u64(stored.mv_data);
    return 0;
}

static int kv_meta_write_u64(MDB_txn *txn, MDB_dbi meta_dbi, const char *name, uint64_t value)
{
    uint8_t bytes[8];
    kv_put_u64(bytes, value);
    MDB_val key = {.mv_size = strlen(name), .mv_data = (void *)name};
    MDB_val stored = {.mv_size = sizeof bytes, .mv_data = bytes};
    return mdb_put(txn, meta_dbi, &key, &stored, 0);
}

int kv_meta_write_state(MDB_txn *txn, MDB_dbi meta_dbi, uint64_t clock_ms, uint64_t next_id)
{
    int rc = kv_meta_write_u64(txn, meta_dbi, KV_META_CLOCK_KEY, clock_ms);
    return rc != 0 ? rc : kv_meta_write_u64(txn, meta_dbi, KV_META_NEXT_ID_KEY, next_id);
}

int kv_meta_read_state(MDB_txn *txn, MDB_dbi meta_dbi, uint64_t *clock_ms, uint64_t *next_id)
{
    int rc = kv_meta_read_u64(txn, meta_dbi, KV_META_CLOCK_KEY, 0, clock_ms);
    return rc != 0 ? rc : kv_meta_read_u64(txn, meta_dbi, KV_META_NEXT_ID_KEY, 1, next_id);
}

int kv_meta_write_notify(MDB_txn *txn, MDB_dbi meta_dbi, unsigned flags)
{
    return kv_meta_write_u64(txn, meta_dbi, KV_META_NOTIFY_KEY, flags);
}

int kv_meta_read_notify(MDB_txn *txn, MDB_dbi meta_dbi, unsigned *flags)
{
    uint64_t stored = 0;
    int rc = kv_meta_read_u64(txn, meta_dbi, KV_META_NOTIFY_KEY, 0, &stored);
    if (rc == 0 && stored > UINT32_MAX) {
        return MDB_CORRUPTED;
    }
    *flags = (unsigned)stored;
    return rc;
}

int kv_meta_write_members(MDB_txn *txn, MDB_dbi meta_dbi, const uint8_t *data, size_t data_bytes)
{
    MDB_val key = {.mv_size = strlen(KV_META_MEMBERS_KEY), .mv_data = KV_META_MEMBERS_KEY};
    MDB_val value = {.mv_size = data_bytes, .mv_data = (void *)data};
    return mdb_put(txn, meta_dbi, &key, &value, 0);
}

int kv_members(struct kv *kv, uint8_t **data, size_t *data_bytes)
{
    *data = NULL;
    *data_bytes = 0;
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_begin");
    }
    MDB_val key = {.mv_size = strlen(KV_META_MEMBERS_KEY), .mv_data = KV_META_MEMBERS_KEY};
    MDB_val value;
    rc = mdb_get(txn, kv->meta_dbi, &key, &value);
    int result = 0;
    if (rc == 0 && value.mv_size > 0) {
        *data = malloc(value.mv_size);
        if (*data == NULL) {
            result = KV_ERROR_NO_MEMORY;
        } else {
            memcpy(*data, value.mv_data, value.mv_size);
            *data_bytes = value.mv_size;
        }
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        result = kv_storage_error(kv, rc, "reading the configuration");
    }
    mdb_txn_abort(txn);
    return result;
}

/* Checks the storage format version, writing the current one into a database that has none
 * yet; *version receives what the database holds (1 to KV_STORAGE_FORMAT_VERSION). Returns
 * an LMDB code, or -1 for a version this build does not know. */
int kv_meta_check_format(MDB_txn *txn, MDB_dbi meta_dbi, bool writable, uint32_t *version)
{
    MDB_val key = {.mv_size = strlen(KV_META_FORMAT_KEY), .mv_data = KV_META_FORMAT_KEY};
    MDB_val value;
    int rc = mdb_get(txn, meta_dbi, &key, &value);
    if (rc == MDB_NOTFOUND && writable) {
        *version = KV_STORAGE_FORMAT_VERSION;
        return kv_meta_write_format(txn, meta_dbi);
    }
    if (rc != 0) {
        return rc;
    }
    const uint8_t *bytes = value.mv_data;
    if (value.mv_size != 4 || bytes[0] < 1 || bytes[0] > KV_STORAGE_FORMAT_VERSION ||
        bytes[1] != 0 || bytes[2] != 0 || bytes[3] != 0) {
        return -1;
    }
    *version = bytes[0];
    return 0;
}

int kv_meta_write_format(MDB_txn *txn, MDB_dbi meta_dbi)
{
    MDB_val key = {.mv_size = strlen(KV_META_FORMAT_KEY), .mv_data = KV_META_FORMAT_KEY};
    uint8_t version[4] = {KV_STORAGE_FORMAT_VERSION, 0, 0, 0};
    MDB_val stored = {.mv_size = sizeof version, .mv_data = version};
    return mdb_put(txn, meta_dbi, &key, &stored, 0);
}

/*
 * Format 1 (before types and expiry) stored a string's bytes as the whole value. Format 2
 * puts a record header in front (record.c); an old database, or an old snapshot once
 * imported, is rewritten in place once, in the transaction that opens it. Format 3 adds the
 * record's optional version, which format 2's records simply lack (version 0): opening one
 * only writes the new number, so that a build that cannot read versions refuses the file.
 */
static int kv_migrate_from_format_1(struct kv *kv, MDB_txn *txn)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(txn, kv->data_dbi, &cursor);
    if (rc != 0) {
        return rc;
    }
    MDB_val key, value;
    rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
    while (rc == 0) {
        int result = kv_buffer_reserve(&kv->scratch, value.mv_size + 2);
        if (result != 0) {
            rc = ENOMEM;
            break;
        }
        kv->scratch.data[0] = KV_TYPE_STRING;
        kv->scratch.data[1] = 0;
        memcpy(kv->scratch.data + 2, value.mv_data, value.mv_size);
        MDB_val record = {.mv_size = value.mv_size + 2, .mv_data = kv->scratch.data};
        rc = mdb_cursor_put(cursor, &key, &record, MDB_CURRENT);
        if (rc == 0) {
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
        }
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_NOTFOUND) {
        return rc;
    }
    return kv_meta_write_format(txn, kv->meta_dbi);
}

/* ---- open and close ---------------------------------------------------------------------------
 */

void kv_options_default(struct kv_options *options)
{
    options->map_size_bytes = KV_DEFAULT_MAP_SIZE_BYTES;
    options->max_value_bytes = KV_DEFAULT_MAX_VALUE_BYTES;
    options->sync_each_commit = false;
    options->lww_stamps = false;
}

int kv_dbis_open(MDB_txn *txn, struct kv *kv, unsigned flags)
{
    int rc = mdb_dbi_open(txn, KV_DATA_DB_NAME, flags, &kv->data_dbi);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_META_DB_NAME, flags, &kv->meta_dbi);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_ITEMS_DB_NAME, flags, &kv->items_dbi);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_EXPIRES_DB_NAME, flags | MDB_DUPSORT, &kv->expires_dbi);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_TRASH_DB_NAME, flags, &kv->trash_dbi);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_SESSIONS_DB_NAME, flags, &kv->sessions_dbi);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_REPLIES_DB_NAME, flags, &kv->session_replies_dbi);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_TIMES_DB_NAME, flags, &kv->session_times_dbi);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_ACL_DB_NAME, flags, &kv->acl_dbi);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_SCRIPTS_DB_NAME, flags, &kv->scripts_dbi);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, KV_FUNCTIONS_DB_NAME, flags, &kv->functions_dbi);
    }
    if (rc == 0) {
        rc = kv_lww_open(txn, kv, flags);
    }
    kv->acl_generation++; /* a new environment (open, snapshot import): users may differ */
    return rc;
}

/* Opens the named databases, checks the format and loads the applied point. */
static int kv_env_prepare(struct kv *kv)
{
    enum { PREPARE_BYTES = 16 * 4096 }; /* the named databases and the meta keys, created */
    kv_reserve_map(kv, PREPARE_BYTES);
    MDB_txn *txn;
    int rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_begin");
    }
    const char *what = "mdb_dbi_open";
    rc = kv_dbis_open(txn, kv, MDB_CREATE);
    uint32_t version = 0;
    if (rc == 0) {
        what = "storage format";
        rc = kv_meta_check_format(txn, kv->meta_dbi, true, &version);
    }
    if (rc == 0 && version == 1) {
        what = "rewriting a format 1 database";
        kv_reserve_map(kv, kv_file_bytes(kv)); /* every record into new pages, once */
        rc = kv_migrate_from_format_1(kv, txn);
    } else if (rc == 0 && version < KV_STORAGE_FORMAT_VERSION) {
        what = "storage format";
        rc = kv_meta_write_format(txn, kv->meta_dbi);
    }
    if (rc == 0) {
        what = "applied index";
        rc = kv_meta_read_applied(txn, kv->meta_dbi, &kv->applied_index, &kv->applied_term);
    }
    if (rc == 0) {
        what = "replicated clock";
        rc = kv_meta_read_state(txn, kv->meta_dbi, &kv->clock_ms, &kv->next_id);
    }
    if (rc == 0) {
        what = "notify-keyspace-events";
        rc = kv_meta_read_notify(txn, kv->meta_dbi, &kv->notify_flags);
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        if (rc == -1) {
            snprintf(kv->error_message, sizeof kv->error_message, "unknown storage format");
            return KV_ERROR_UNSUPPORTED;
        }
        return kv_storage_error(kv, rc, what);
    }
    rc = kv_measure_used(kv, txn);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_commit");
    }
    return 0;
}

int kv_measure_used(struct kv *kv, MDB_txn *txn)
{
    MDB_dbi databases[] = {kv->data_dbi,  kv->meta_dbi,    kv->items_dbi,    kv->expires_dbi,
                           kv->trash_dbi, kv->scripts_dbi, kv->functions_dbi};
    uint64_t pages = 2; /* LMDB's two meta pages */
    uint64_t page_bytes = 0;
    for (size_t i = 0; i < sizeof databases / sizeof databases[0]; i++) {
        MDB_stat stat;
        int rc = mdb_stat(txn, databases[i], &stat);
        if (rc != 0) {
            return kv_storage_error(kv, rc, "mdb_stat");
        }
        pages += stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages;
        page_bytes = stat.ms_psize;
    }
    assert(page_bytes > 0);
    kv->used_bytes = pages * page_bytes;
    return 0;
}

int kv_env_open(struct kv *kv)
{
    assert(kv->env == NULL);
    uint64_t map_bytes = 0;
    int prepared = kv_map_prepare(kv, &map_bytes);
    if (prepared != 0) {
        return prepared;
    }
    int rc = mdb_env_create(&kv->env);
    if (rc != 0) {
        kv->env = NULL;
        return kv_storage_error(kv, rc, "mdb_env_create");
    }
    int result = 0;
    /* MDB_WRITEMAP: commits store into the map; map.c keeps the map within allocated blocks. */
    unsigned flags = MDB_NOTLS | MDB_WRITEMAP | (kv->options.sync_each_commit ? 0 : MDB_NOSYNC);
    const char *what = "mdb_env_set_mapsize";
    rc = mdb_env_set_mapsize(kv->env, (size_t)map_bytes);
    if (rc == 0) {
        what = "mdb_env_set_maxdbs";
        rc = mdb_env_set_maxdbs(kv->env, KV_MAX_DBS);
    }
    if (rc == 0) {
        what = "mdb_env_open";
        rc = mdb_env_open(kv->env, kv->directory, flags, KV_FILE_MODE);
    }
    if (rc != 0) {
        result = kv_storage_error(kv, rc, what);
        goto close_env;
    }
    MDB_envinfo info;
    if (mdb_env_info(kv->env, &info) == 0) {
        kv->map_bytes = info.me_mapsize;
    }
    result = kv_map_allocate(kv); /* before any write goes through the map */
    if (result != 0) {
        goto close_env;
    }
    /* Stored keys are hash + key; LMDB must take the longest one. */
    assert(mdb_env_get_maxkeysize(kv->env) >= KV_STORED_KEY_MAX_BYTES);
    result = kv_env_prepare(kv);
    if (result != 0) {
        goto close_env;
    }
    rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &kv->read_txn);
    if (rc != 0) {
        result = kv_storage_error(kv, rc, "mdb_txn_begin (read)");
        goto close_env;
    }
    mdb_txn_reset(kv->read_txn);
    return 0;

close_env:
    mdb_env_close(kv->env);
    kv->env = NULL;
    return result;
}

void kv_env_close(struct kv *kv)
{
    kv_map_allocator_join(kv); /* it allocates through the environment's file */
    if (kv->read_txn != NULL) {
        mdb_txn_abort(kv->read_txn);
        kv->read_txn = NULL;
    }
    if (kv->env != NULL) {
        mdb_env_close(kv->env);
        kv->env = NULL;
    }
}

int kv_discard(const char *directory, bool *removed)
{
    *removed = false;
    char path[KV_PATH_BYTES];
    const char *names[] = {KV_DATA_FILE_NAME, KV_LOCK_FILE_NAME};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int length = snprintf(path, sizeof path, "%s/%s", directory, names[i]);
        if (length < 0 || (size_t)length >= sizeof path) {
            return KV_ERROR_INVALID;
        }
        if (unlink(path) == 0) {
            *removed = *removed || i == 0;
        } else if (errno != ENOENT) {
            return KV_ERROR_STORAGE;
        }
    }
    return 0;
}

int kv_open(const char *directory, const struct kv_options *options, struct kv **out)
{
    if (directory == NULL || out == NULL) {
        return KV_ERROR_INVALID;
    }
    if (mkdir(directory, 0700) != 0 && errno != EEXIST) {
        return KV_ERROR_STORAGE;
    }
    struct kv *kv = calloc(1, sizeof *kv);
    if (kv == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    if (options != NULL) {
        kv->options = *options;
    } else {
        kv_options_default(&kv->options);
    }
    int result = KV_ERROR_NO_MEMORY;
    kv->directory = strdup(directory);
    if (kv->directory == NULL) {
        goto free_kv;
    }
    if (pthread_mutex_init(&kv->map_lock, NULL) != 0) {
        goto free_directory;
    }
    if (pthread_rwlock_init(&kv->env_lock, NULL) != 0) {
        goto destroy_map_lock;
    }
    result = kv_env_open(kv);
    if (result != 0) {
        goto destroy_env_lock;
    }
    *out = kv;
    return 0;

destroy_env_lock:
    pthread_rwlock_destroy(&kv->env_lock);
destroy_map_lock:
    pthread_mutex_destroy(&kv->map_lock);
free_directory:
    free(kv->directory);
free_kv:
    free(kv);
    return result;
}

void kv_close(struct kv *kv)
{
    if (kv == NULL) {
        return;
    }
    kv_env_close(kv);
    pthread_rwlock_destroy(&kv->env_lock);
    pthread_mutex_destroy(&kv->map_lock);
    free(kv->argv);
    free(kv->scratch.data);
    free(kv->signals.data);
    free(kv->messages.data);
    free(kv->map_copy.data);
    free(kv->session_reply.data);
    free(kv->directory);
    free(kv);
}

const char *kv_last_error(const struct kv *kv)
{
    return kv->error_message;
}

uint64_t kv_applied_index(const struct kv *kv)
{
    return kv->applied_index;
}

uint64_t kv_applied_term(const struct kv *kv)
{
    return kv->applied_term;
}

uint64_t kv_clock_ms(const struct kv *kv)
{
    return kv->clock_ms;
}

uint64_t kv_used_bytes(const struct kv *kv)
{
    return kv->used_bytes;
}

uint64_t kv_map_bytes(const struct kv *kv)
{
    return kv->map_bytes;
}

uint64_t kv_file_bytes(const struct kv *kv)
{
    MDB_envinfo info;
    MDB_stat stat;
    if (kv->env == NULL || mdb_env_info(kv->env, &info) != 0 || mdb_env_stat(kv->env, &stat) != 0) {
        return 0;
    }
    return ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
}

int kv_sync(struct kv *kv)
{
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    /* fdatasync of the file, not mdb_env_sync's msync of the map: it writes back the pages
     * stored through the map just the same, and needs no map that a growth could remap. */
    pthread_rwlock_rdlock(&kv->env_lock);
    mdb_filehandle_t fd;
    int rc = mdb_env_get_fd(kv->env, &fd);
    if (rc == 0 && fdatasync(fd) != 0) {
        rc = errno;
    }
    pthread_rwlock_unlock(&kv->env_lock);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "fdatasync of the database");
    }
    return 0;
}
