/*
 * internal.h — what the storage's source files share: the storage struct, the in-memory view
 * of the WAL's segments, helpers for messages, paths and whole-file I/O, and the snapshot
 * files' names and meta format (shared by snapshot.c, snapshot_meta.c and snapshot_open.c).
 *
 * Invariants (checked by assertions in wal.c):
 *   - segments[] is sorted by sequence; the last one is the segment being written.
 *   - every segment's live_last_index <= last_index_in_file, and entries above it were
 *     replaced by a later segment (a truncated suffix).
 *   - storage->last_index is the live log's last index (or the snapshot's, when the log is
 *     empty after it).
 * Ownership: the storage owns every path string, the segment array and open descriptors.
 */
#ifndef RAFTKV_STORAGE_INTERNAL_H
#define RAFTKV_STORAGE_INTERNAL_H

#include <stdarg.h>

#include "storage/storage.h"

#define STORAGE_WRITE_BUFFER_BYTES (1024 * 1024) /* records batched into one pwrite */
#define STORAGE_COPY_CHUNK_BYTES   (64 * 1024)   /* reads when checksumming a data file */

struct wal_segment {
    uint64_t sequence;
    uint64_t first_index;
    uint64_t last_index;      /* of the last record in the file; first_index - 1 when empty */
    uint64_t live_last_index; /* records above this were replaced by a later segment */
    uint64_t size_bytes;      /* end of the valid records: where the next one goes */
    int fd;                   /* -1 when closed */
    bool dirty;               /* written since the last wal_sync */
};

struct storage {
    struct storage_options options;
    const struct storage_io *io;
    char dir[STORAGE_MAX_PATH_BYTES];
    char wal_dir[STORAGE_MAX_PATH_BYTES];
    char snapshot_dir[STORAGE_MAX_PATH_BYTES];
    char trash_dir[STORAGE_MAX_PATH_BYTES]; /* with options.defer_deletes (trash.c) */
    uint64_t trash_sequence;
    bool trash_pending;

    struct wal_segment *segments;
    size_t segment_count;
    size_t segment_capacity;
    uint64_t next_sequence;
    uint64_t last_index;
    uint64_t last_term;
    bool wal_dir_dirty;                      /* a segment was created since the last wal_sync */
    char spare_path[STORAGE_MAX_PATH_BYTES]; /* <wal_dir>/segment.spare, once asked (spare.c) */
    bool spare_ready;                        /* the host prepared it: the next segment is it */
    uint8_t *write_buffer;                   /* records of one wal_append, grown on demand */
    uint64_t write_buffer_bytes;

    bool has_snapshot;
    struct raft_snapshot_meta snapshot;

    bool has_hard_state;
    struct raft_hard_state hard_state;

    bool failed; /* a write or sync failed: refuse everything (see storage.h) */
    char message[STORAGE_MESSAGE_BYTES];
};

/* Formats storage->message and returns error. */
int storage_fail(struct storage *storage, int error, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* Like storage_fail for a failed system call returning -errno: appends strerror. */
int storage_fail_io(struct storage *storage, int negative_errno, const char *what,
                    const char *path);
/* Marks the storage unusable after a write or sync failure; returns the error. */
int storage_poison(struct storage *storage, int error);
void storage_log(struct storage *storage, enum storage_log_level level, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Joins dir and name into out (STORAGE_MAX_PATH_BYTES); STORAGE_ERROR_INVALID when too long. */
int storage_join_path(struct storage *storage, char *out, const char *dir, const char *name);

/* wal.c's segment helpers, shared with wal_recover.c. */
int wal_segment_path(struct storage *storage, char *out, const struct wal_segment *segment);
bool wal_parse_segment_name(const char *name, uint64_t *sequence, uint64_t *first_index);
int wal_reserve_segment(struct storage *storage);
struct wal_segment *wal_current_segment(struct storage *storage);
void wal_close_segment(struct storage *storage, struct wal_segment *segment);

/* spare.c: the spare segment's file name (recovery skips it), and the spare renamed to
 * segment_path and opened (its fd), or a negative errno when there is none. */
bool storage_spare_name(const char *name);
int storage_spare_take(struct storage *storage, const char *segment_path);

/* trash.c: with options.defer_deletes, files to delete are renamed into <dir>/trash. */
int storage_trash_open(struct storage *storage);
int storage_trash_move(struct storage *storage, const char *path);
/* The trash exists (opened after recovery): until then, deletions happen at once, since a
 * path under an empty trash_dir would land at the file system's root. */
bool storage_trash_ready(const struct storage *storage);

/* Writes all bytes at offset, retrying short writes. */
int storage_write_all(struct storage *storage, int fd, const void *bytes, size_t size,
                      uint64_t offset, const char *path);
/* Reads a whole file (at most max_bytes) into a malloc'd buffer the caller frees. */
int storage_read_file(struct storage *storage, const char *path, uint64_t max_bytes, uint8_t **out,
                      size_t *size);
/* Writes path.tmp, fsyncs it, renames it over path, fsyncs dir. */
int storage_replace_file(struct storage *storage, const char *dir, const char *name,
                         const void *bytes, size_t size);

/* Little-endian helpers for the small fixed-layout files. */
void storage_put_u32(uint8_t *out, uint32_t value);
void storage_put_u64(uint8_t *out, uint64_t value);
uint32_t storage_get_u32(const uint8_t *in);
uint64_t storage_get_u64(const uint8_t *in);

/* wal.c */
int wal_recover(struct storage *storage, struct storage_recovered *recovered);
void wal_close_all(struct storage *storage);

/* hard_state.c */
int storage_hard_state_load(struct storage *storage);
int storage_version_check_or_create(struct storage *storage, bool *fresh);

/* The snapshot's files (layout in snapshot_meta.c). */
#define STORAGE_SNAPSHOT_META_FILE        "meta"
#define STORAGE_SNAPSHOT_DATA_FILE        "data"
#define STORAGE_SNAPSHOT_TEMPORARY_PREFIX "tmp-" /* a directory whose commit is unfinished */
#define STORAGE_SNAPSHOT_META_BYTES       (8 + 16 + 8 + 16 * RAFT_MAX_NODES + 8 + 16 + 8)
#define STORAGE_SNAPSHOT_NAME_BYTES       48

/* snapshot_meta.c: names and the meta file's encoding; pure. */
/* Writes prefix<index>-<term> (20 digits each) into out (STORAGE_SNAPSHOT_NAME_BYTES). */
void storage_snapshot_name(char *out, const char *prefix, uint64_t index, uint64_t term);
/* Whether name is a committed snapshot's directory, <index>-<term>; sets both when it is. */
bool storage_snapshot_parse_name(const char *name, uint64_t *index, uint64_t *term);
/* Whether the meta can be written: an index above 0 and member counts the layout holds. */
bool storage_snapshot_meta_valid(const struct raft_snapshot_meta *meta);
/* Encodes the current layout into out (STORAGE_SNAPSHOT_META_BYTES); meta must be valid. */
void storage_snapshot_meta_encode(uint8_t *out, const struct raft_snapshot_meta *meta,
                                  uint64_t data_bytes, uint64_t data_checksum);
/* Decodes either layout; false for bad magic, layout, size, checksum or member counts. */
bool storage_snapshot_meta_decode(const uint8_t *in, size_t size, struct raft_snapshot_meta *meta,
                                  uint64_t *data_bytes, uint64_t *data_checksum);

/* snapshot.c's helpers, shared with snapshot_open.c. */
/* Deletes a snapshot directory and the files in it (a missing one is no error). */
int storage_snapshot_remove_tree(struct storage *storage, const char *directory);
/* Deletes (or moves to the trash) every directory under snapshots/ but the one named keep. */
int storage_snapshot_remove_others(struct storage *storage, const char *keep);
/* Size and XXH3-64 of a data file, fsynced first when sync is set; STORAGE_ERROR_IO with a
 * message naming the failed step and the path. */
int storage_snapshot_checksum_data(struct storage *storage, const char *path, bool sync,
                                   uint64_t *data_bytes, uint64_t *checksum);

/* snapshot_open.c: finds and verifies the newest snapshot, deletes the others. */
int storage_snapshot_recover(struct storage *storage);

#endif
