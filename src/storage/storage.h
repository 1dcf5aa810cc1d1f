/*
 * storage.h — durable state on disk: the write-ahead log, the term/vote record, snapshot files.
 *
 * The happy path, as the server drives it from its one loop thread:
 *
 *   storage_open()         at startup: creates the directory on a fresh start, else checks the
 *                          format version, loads the hard state, the latest snapshot's meta and
 *                          every log entry after it (struct storage_recovered → raft_boot_state).
 *   wal_append()           for each ready batch: buffered write() calls only, no sync. When
 *                          entries[0].index is at or below the last stored index, the entries
 *                          from there on are replaced (a conflicting suffix, Raft §5.3).
 *   wal_sync()             one fdatasync over every segment touched since the last sync; may
 *                          run on a thread-pool thread while the loop thread leaves the storage
 *                          alone. Entries are durable once it returns 0.
 *   storage_hard_state_save()  term, vote and commit, atomically replaced (temp file, fsync,
 *                          rename, fsync of the directory). Skipped when unchanged.
 *   storage_snapshot_*()   a snapshot is written under a temporary name, fsynced and renamed
 *                          into place; the older one is then deleted.
 *   wal_compact()          deletes whole segments whose every record a snapshot covers.
 *
 * Failure modes. Every function returns 0 or a negative enum storage_error and leaves a
 * sentence with the context (file, byte offset, errno text) in storage_message(). A torn
 * record at the very tail of the log (a crash during a write) is cut off at startup and
 * reported through options.log; any other damage — a checksum mismatch before the tail, an
 * index gap, a term going backwards — makes storage_open refuse with STORAGE_ERROR_CORRUPT
 * naming the file and the offset: the node must not start (docs/storage.md says what the
 * operator does). After a failed write or sync the storage refuses every further call with
 * STORAGE_ERROR_FAILED: the kernel may have dropped the dirty pages, so the only safe way on
 * is a restart that re-reads the disk.
 *
 * Threads: nothing here is thread-safe. wal_sync() (and storage_hard_state_save()) may run on
 * another thread only while no other call is in progress on the same storage.
 *
 * Ownership: storage_open allocates the storage (storage_close frees it) and fills a
 * struct storage_recovered whose entries it owns until storage_recovered_free. Every pointer
 * passed in is borrowed for the duration of the call. A snapshot writer is allocated by
 * storage_snapshot_begin and freed by storage_snapshot_commit or storage_snapshot_abort.
 */
#ifndef RAFTKV_STORAGE_H
#define RAFTKV_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/limits.h"
#include "raft/raft.h"

/* Limits. */
#define STORAGE_MESSAGE_BYTES 512 /* storage_message() text, with its NUL */
#define STORAGE_MAX_ENTRY_BYTES                                                                    \
    ((uint32_t)LIMITS_MAX_ENTRY_BYTES)         /* largest payload of a record                      \
                                                */
#define STORAGE_MIN_SEGMENT_BYTES 4096u        /* smallest segment_max_bytes accepted */
#define STORAGE_MAX_SEGMENT_BYTES (1ull << 32) /* largest; a segment is read whole */
#define STORAGE_MAX_PATH_BYTES    1024         /* any path the storage builds */
#define STORAGE_FORMAT_VERSION    1            /* written in <dir>/VERSION */

/* X(name, value, text) per code: enum storage_error and storage_error_string() are both
 * expanded from this list, so a code cannot lack its text. */
#define STORAGE_ERRORS(X)                                                                          \
    X(STORAGE_OK, 0, "ok")                                                                         \
    /* a system call failed; the message carries errno's text */                                   \
    X(STORAGE_ERROR_IO, -1, "input/output error")                                                  \
    X(STORAGE_ERROR_NO_MEMORY, -2, "out of memory")                                                \
    /* a bad argument from the caller */                                                           \
    X(STORAGE_ERROR_INVALID, -3, "invalid argument")                                               \
    /* damaged durable data; the message names file and offset */                                  \
    X(STORAGE_ERROR_CORRUPT, -4, "corrupt data")                                                   \
    /* the directory is not a raftkv data directory */                                             \
    X(STORAGE_ERROR_FOREIGN, -5, "not a raftkv data directory")                                    \
    /* written by a newer format version than this build reads */                                  \
    X(STORAGE_ERROR_VERSION, -6, "unsupported format version")                                     \
    /* an entry above options.max_entry_bytes */                                                   \
    X(STORAGE_ERROR_TOO_BIG, -7, "entry too big")                                                  \
    /* no snapshot */                                                                              \
    X(STORAGE_ERROR_NOT_FOUND, -8, "not found")                                                    \
    /* an earlier write or sync failed; restart the node */                                        \
    X(STORAGE_ERROR_FAILED, -9, "storage failed earlier; restart the node")                        \
    /* the directory was made by another replication mode (replication_mode.c) */                  \
    X(STORAGE_ERROR_MODE, -10, "data directory of another replication mode")

enum storage_error {
#define STORAGE_ERROR_ENUMERATOR(name, value, text) name = value,
    STORAGE_ERRORS(STORAGE_ERROR_ENUMERATOR)
#undef STORAGE_ERROR_ENUMERATOR
};

/* The code's text from STORAGE_ERRORS; "unknown storage error" for any other value. */
const char *storage_error_string(int error);

enum storage_log_level {
    STORAGE_LOG_INFO = 0,
    STORAGE_LOG_WARNING = 1,
};

/*
 * Every file operation goes through this table, so that tests can substitute a layer that
 * loses unsynced data at a chosen operation (memfs.h). Functions return 0 (or a byte count,
 * or a file descriptor) on success and -errno on failure. Offsets and sizes are in bytes.
 */
typedef int (*storage_io_each_name_fn)(void *arg, const char *name, bool is_directory);

struct storage_io {
    void *context;
    int (*open)(void *context, const char *path, int flags, mode_t mode);
    int (*close)(void *context, int fd);
    ssize_t (*pread)(void *context, int fd, void *buffer, size_t bytes, uint64_t offset);
    ssize_t (*pwrite)(void *context, int fd, const void *buffer, size_t bytes, uint64_t offset);
    int (*fsync)(void *context, int fd);
    int (*fdatasync)(void *context, int fd);
    int (*ftruncate)(void *context, int fd, uint64_t size_bytes);
    int (*fallocate)(void *context, int fd, uint64_t offset, uint64_t length_bytes);
    int (*file_size)(void *context, int fd, uint64_t *size_bytes);
    int (*stat)(void *context, const char *path, bool *is_directory);
    int (*rename)(void *context, const char *from, const char *to);
    int (*unlink)(void *context, const char *path);
    int (*mkdir)(void *context, const char *path);
    int (*rmdir)(void *context, const char *path);
    int (*fsync_dir)(void *context, const char *path);
    /* Calls each(arg, name, is_directory) per entry except "." and ".."; stops at nonzero. */
    int (*list_dir)(void *context, const char *path, storage_io_each_name_fn each, void *arg);
    /* Optional (NULL: skipped): start the write-back of a range, and with wait, wait for it
     * (sync_file_range); no durability point. Large streamed files use it (stream.c). */
    int (*writeback)(void *context, int fd, uint64_t offset, uint64_t bytes, bool wait);
};

/* The real file system (POSIX calls). */
const struct storage_io *storage_io_posix(void);

struct storage_options {
    uint64_t segment_max_bytes; /* roll to a new segment beyond this (default 64 MiB) */
    bool preallocate;           /* fallocate each new segment to segment_max_bytes (default on) */
    uint32_t max_entry_bytes;   /* largest payload accepted (default STORAGE_MAX_ENTRY_BYTES) */
    bool verify_snapshot_data;  /* checksum the snapshot's data file at open (default on) */
    /* Compacted segments and replaced snapshots go to <dir>/trash instead of being deleted
     * at once, for the host to empty off its loop (storage_trash_take). Default off. */
    bool defer_deletes;
    const struct storage_io *io; /* NULL: storage_io_posix() */
    /* Told about repairs that lose nothing acknowledged (a torn tail cut off). May be NULL. */
    void (*log)(void *log_arg, enum storage_log_level level, const char *message);
    void *log_arg;
};

void storage_options_default(struct storage_options *options);

/* What storage_open found: everything raft_boot_state needs except the applied index. */
struct storage_recovered {
    bool fresh; /* the directory was missing or empty and has been initialized */
    bool has_hard_state;
    struct raft_hard_state hard_state; /* zero when !has_hard_state */
    bool has_snapshot;
    struct raft_snapshot_meta snapshot;
    struct raft_entry *entries; /* snapshot.index + 1 (or 1) onward, contiguous; owned here */
    size_t entry_count;
};

void storage_recovered_free(struct storage_recovered *recovered);

struct storage;

/*
 * Opens (or initializes) the data directory. On failure *out is NULL, recovered holds
 * nothing, and message (when not NULL) says why in a sentence.
 */
int storage_open(const char *dir, const struct storage_options *options, struct storage **out,
                 struct storage_recovered *recovered, char *message, size_t message_bytes);
/* Closes the files without syncing: what was not synced may be lost, as in a crash. */
void storage_close(struct storage *storage);
/* The context of the last error, valid until the next call on this storage. */
const char *storage_message(const struct storage *storage);

/*
 * Appends entries (contiguous indexes, terms not decreasing). entries[0].index may be:
 * last + 1 (append); at or below last (entries from there on are replaced; never at or below
 * the latest snapshot); or latest snapshot index + 1 when the log ends before it.
 * Not durable until wal_sync. The entries stay the caller's.
 */
int wal_append(struct storage *storage, const struct raft_entry *entries, size_t count);
/* Makes every append so far durable: one fsync of the WAL directory when segments were
 * created, then one fdatasync per segment written since the last sync, oldest first. */
int wal_sync(struct storage *storage);
/* True when wal_sync has something to do. */
bool wal_sync_pending(const struct storage *storage);
/*
 * The log is now empty and continues after (index, term): the leader's snapshot, which our
 * log conflicts with (Raft §7). Durable at the next wal_sync. Order: wal_reset, wal_sync,
 * then storage_snapshot_commit — so a crash never leaves the snapshot followed by entries of
 * the other history (which storage_open refuses).
 */
int wal_reset(struct storage *storage, uint64_t index, uint64_t term);
/* Deletes segments whose every record is at or below upto_index, which must be at or below
 * the latest committed snapshot. The segment being written is never deleted. */
int wal_compact(struct storage *storage, uint64_t upto_index);
uint64_t wal_last_index(const struct storage *storage);
uint64_t wal_last_term(const struct storage *storage);
size_t wal_segment_count(const struct storage *storage);

/* Durable when it returns 0: the old record or the new one survives a crash, never a mix. */
int storage_hard_state_save(struct storage *storage, const struct raft_hard_state *hard_state);

/*
 * Snapshots live in <dir>/snapshots/<index>-<term>/ as two files: "meta" (index, term,
 * configuration, the data file's size and checksum) and "data" (the state machine's bytes,
 * opaque here: kv writes it with LMDB's mdb_env_copyfd, or the server streams in the leader's
 * chunks). Begin makes a temporary directory; write the data through storage_snapshot_write
 * or directly into storage_snapshot_data_path; commit fsyncs, checksums, renames into place,
 * and deletes the older snapshot.
 */
struct storage_snapshot_writer;

int storage_snapshot_begin(struct storage *storage, const struct raft_snapshot_meta *meta,
                           struct storage_snapshot_writer **out);
/* Where the data file goes; valid until commit or abort. */
const char *storage_snapshot_data_path(const struct storage_snapshot_writer *writer);
/* Makes the finished file at `path` (on the same file system) the writer's data file, moving
 * it into place; on failure the writer is aborted (freed). */
int storage_snapshot_adopt(struct storage *storage, struct storage_snapshot_writer *writer,
                           const char *path);
/* Appends bytes to the data file. */
int storage_snapshot_write(struct storage *storage, struct storage_snapshot_writer *writer,
                           const void *data, size_t bytes);
/* Frees the writer, whatever the outcome. meta.index must be above the latest snapshot.
 * Fsyncs and reads the whole data file to checksum it, on the calling thread. */
int storage_snapshot_commit(struct storage *storage, struct storage_snapshot_writer *writer);
/*
 * The same commit in two steps, so that the expensive one stays off an event loop:
 * storage_snapshot_measure() fsyncs and checksums a finished data file and touches no struct
 * storage (any thread may run it while the storage is in use elsewhere; io NULL means
 * storage_io_posix(); errors are written to message). storage_snapshot_commit_measured()
 * then commits a writer whose data file is that file, unchanged since: it writes the meta
 * and renames the snapshot into place, without reading the data again.
 */
/*
 * A snapshot's data file streamed to or from a peer (stream.c). None of these touch a struct
 * storage, so the transport may use them while the WAL syncs on another thread. Reading:
 * open the latest snapshot's data file (storage_snapshot_latest names it) and read it in
 * order; writing: create the file a leader's chunks go into, write them, close; then
 * storage_stream_claim() moves a complete file to where the host keeps it until it is
 * installed (storage_snapshot_adopt). io NULL means storage_io_posix(). Every call returns 0
 * or a negative errno; close frees.
 */
struct storage_stream;
int storage_stream_open_read(const struct storage_io *io, const char *path,
                             struct storage_stream **out, uint64_t *total_bytes);
int storage_stream_read(struct storage_stream *stream, void *out, size_t bytes);
int storage_stream_create(const struct storage_io *io, const char *path,
                          struct storage_stream **out);
int storage_stream_write(struct storage_stream *stream, const void *data, size_t bytes);
void storage_stream_close(struct storage_stream *stream);
int storage_stream_claim(const struct storage_io *io, const char *from, const char *to);

/* The state machine's clean stop (clean_stop.c): take says whether the database may be
 * trusted — it was closed cleanly (that marker is removed, durably), or the last start was on
 * this same boot of the machine (`boot`, the kernel's boot id; "" when unknown), so only the
 * process died and the page cache kept what LMDB wrote — and records this boot for the next
 * start. mark leaves the clean-stop marker; forget makes the next start rebuild unless it
 * finds that marker (after a failed write-back of the database). */
int storage_clean_stop_take(struct storage *storage, const char *boot, bool *trusted);
int storage_clean_stop_forget(struct storage *storage);
int storage_clean_stop_mark(struct storage *storage);

/* The replication mode that made the directory (replication_mode.c): "raft" accepts a
 * directory without a record (Raft writes none); another mode writes its record when the
 * directory is fresh (storage_recovered.fresh) and refuses one made by any other mode
 * (STORAGE_ERROR_MODE, with a sentence in storage_message). */
#define STORAGE_MODE_NAME_BYTES 16
int storage_replication_mode_claim(struct storage *storage, const char *mode, bool fresh);

/* With options.defer_deletes: whether files went to the trash since the last call, and the
 * trash's path (valid as long as the storage). storage_trash_empty() deletes what is in it;
 * it touches no struct storage, so any thread may run it (io NULL: storage_io_posix()).
 * Returns 0 or a negative errno. */
bool storage_trash_take(struct storage *storage, const char **trash_path);
/* Deletes a file of the data directory the host no longer needs (a snapshot export that was
 * not committed): into the trash with defer_deletes, else at once. */
int storage_discard(struct storage *storage, const char *path);
int storage_trash_empty(const struct storage_io *io, const char *trash_path);

/*
 * A spare segment, allocated ahead of need off the caller's thread (spare.c). When the
 * storage wants one (preallocate on, none ready), storage_spare_wanted gives the path and
 * size (the path valid as long as the storage); storage_spare_prepare creates and allocates
 * it, touches no struct storage, and any thread may run it (io NULL: storage_io_posix());
 * returns 0 or a negative errno. After it returned 0, storage_spare_ready (on the storage's
 * thread) makes the next new segment that file. Without a spare, segments are created and
 * allocated in wal_append, as before.
 */
bool storage_spare_wanted(struct storage *storage, const char **path, uint64_t *bytes);
int storage_spare_prepare(const struct storage_io *io, const char *path, uint64_t bytes);
void storage_spare_ready(struct storage *storage);

int storage_snapshot_measure(const struct storage_io *io, const char *path, uint64_t *data_bytes,
                             uint64_t *checksum, char *message, size_t message_bytes);
int storage_snapshot_commit_measured(struct storage *storage,
                                     struct storage_snapshot_writer *writer, uint64_t data_bytes,
                                     uint64_t data_checksum);
/*
 * For a snapshot received from the leader, when the core discards its log (Raft §7): in one
 * call, in the only crash-safe order, wal_reset(meta.index, meta.term), wal_sync, then
 * storage_snapshot_commit. Syncs on the calling thread. Frees the writer.
 */
int storage_snapshot_install_from_leader(struct storage *storage,
                                         struct storage_snapshot_writer *writer);
/* Deletes the temporary directory and frees the writer. */
void storage_snapshot_abort(struct storage *storage, struct storage_snapshot_writer *writer);
/* The latest committed snapshot and its data file's path; STORAGE_ERROR_NOT_FOUND if none. */
int storage_snapshot_latest(const struct storage *storage, struct raft_snapshot_meta *meta,
                            char *data_path, size_t data_path_bytes);

#endif
