/*
 * snapshot.c — the state machine as one file: export a consistent hot copy, read the applied
 * point a copy holds, and replace the live database with a copy.
 *
 * Export: mdb_env_copyfd2(MDB_CP_COMPACT) copies the database as of one read transaction —
 * LMDB's MVCC lets writers keep committing meanwhile, and the copy reads through a mapping of
 * its own, so the live map may grow meanwhile (kv_copy_env_open) — into path.tmp, which is fsynced
 * and renamed to path (then the directory is fsynced), so a reader of `path` never sees half a
 * copy. The copy's applied index and term are read back from the copy itself: they are the
 * ones that match its data, whatever was committed while it was being written.
 *
 * Import: the file is opened read-only and checked first (LMDB recognises it, it is not
 * shorter than its meta page says, it has kv's databases and format); only then is the live
 * environment closed, the file renamed over data.mdb (same file system as the database
 * directory), the directory fsynced, and the environment reopened.
 *
 * Failure modes: a file that is not a snapshot returns KV_ERROR_CORRUPT (or UNSUPPORTED for
 * another format version) and the live database is untouched. If the rename fails the old
 * database is reopened. If reopening fails the struct kv is left closed (KV_ERROR_CLOSED from
 * every call) until a later kv_snapshot_import succeeds. Content integrity beyond LMDB's own
 * structure (a flipped bit inside a value) is the transport's job: it checksums the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/writeback.h"
#include "kv/kv_internal.h"

/* fsyncs the directory that holds `path`, so that a rename into it is durable. */
static int kv_fsync_parent(const char *path)
{
    char directory[KV_PATH_BYTES];
    int length = snprintf(directory, sizeof directory, "%s", path);
    if (length < 0 || (size_t)length >= sizeof directory) {
        return KV_ERROR_INVALID;
    }
    char *slash = strrchr(directory, '/');
    if (slash == NULL) {
        snprintf(directory, sizeof directory, ".");
    } else if (slash == directory) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return KV_ERROR_STORAGE;
    }
    int result = fsync(fd) == 0 ? 0 : KV_ERROR_STORAGE;
    close(fd);
    return result;
}

/* Checks the opened snapshot's structure and reads its applied point. */
static int kv_snapshot_inspect(MDB_env *env, off_t file_bytes, uint64_t *index, uint64_t *term)
{
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &stat) != 0) {
        return KV_ERROR_CORRUPT;
    }
    /* Pages past the file's end would fault when touched through the map. */
    if (((uint64_t)info.me_last_pgno + 1) * stat.ms_psize > (uint64_t)file_bytes) {
        return KV_ERROR_CORRUPT;
    }
    MDB_txn *txn;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return kv_map_mdb_error(rc);
    }
    MDB_dbi data_dbi;
    MDB_dbi meta_dbi;
    int result = KV_ERROR_CORRUPT;
    if (mdb_dbi_open(txn, "data", 0, &data_dbi) != 0 ||
        mdb_dbi_open(txn, "meta", 0, &meta_dbi) != 0) {
        goto abort_txn;
    }
    uint32_t version;
    rc = kv_meta_check_format(txn, meta_dbi, false, &version);
    if (rc != 0) {
        result = rc == -1 ? KV_ERROR_UNSUPPORTED : KV_ERROR_CORRUPT;
        goto abort_txn;
    }
    rc = kv_meta_read_applied(txn, meta_dbi, index, term);
    result = rc == 0 ? 0 : KV_ERROR_CORRUPT;
abort_txn:
    mdb_txn_abort(txn);
    return result;
}

/* Opens the LMDB file at `path` read-only and without a lock file, with a map of `map_bytes`
 * (0: the file's own); returns LMDB's code, and *env only on success. */
static int kv_file_env_open(const char *path, size_t map_bytes, MDB_env **env)
{
    int rc = mdb_env_create(env);
    if (rc != 0) {
        return rc;
    }
    rc = mdb_env_set_maxdbs(*env, KV_MAX_DBS);
    if (rc == 0 && map_bytes > 0) {
        rc = mdb_env_set_mapsize(*env, map_bytes);
    }
    if (rc == 0) {
        rc = mdb_env_open(*env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0);
    }
    if (rc != 0) {
        mdb_env_close(*env);
        *env = NULL;
    }
    return rc;
}

int kv_snapshot_read_meta(const char *path, uint64_t *index, uint64_t *term)
{
    struct stat file;
    if (path == NULL || stat(path, &file) != 0) {
        return KV_ERROR_STORAGE;
    }
    if (!S_ISREG(file.st_mode)) {
        return KV_ERROR_CORRUPT;
    }
    MDB_env *env;
    int rc = kv_file_env_open(path, 0, &env);
    if (rc != 0) {
        /* The file exists and is regular (stat said so): an error that is not about access
         * or resources means LMDB does not recognise it (ENOENT or EINVAL when it is empty,
         * MDB_INVALID when it is something else). */
        bool environmental = rc == EACCES || rc == EIO || rc == ENOMEM || rc == EMFILE;
        return environmental ? kv_map_mdb_error(rc) : KV_ERROR_CORRUPT;
    }
    int result = kv_snapshot_inspect(env, file.st_size, index, term);
    mdb_env_close(env);
    return result;
}

/* LMDB's copy writes into a pipe on its own thread; the exporting thread moves the bytes to
 * the file with base/writeback.h, so that a large export never floods the page cache. */
struct kv_copy_job {
    MDB_env *env;
    int pipe_fd;
    int result;
};

static void *kv_copy_thread(void *argument)
{
    struct kv_copy_job *job = argument;
    job->result = mdb_env_copyfd2(job->env, job->pipe_fd, MDB_CP_COMPACT);
    close(job->pipe_fd); /* end of file for the reader */
    return NULL;
}

/* Reads `from` (a pipe, or a file) to its end into fd, writing back as it goes. On a failure
 * it keeps draining, so that a copy writing into the pipe finishes. */
static int kv_copy_drain(int from, int fd)
{
    static const size_t buffer_bytes = 1 << 20;
    uint8_t *buffer = malloc(buffer_bytes);
    struct writeback writeback = {0};
    int result = buffer == NULL ? KV_ERROR_NO_MEMORY : 0;
    uint8_t spill[4096];
    for (;;) {
        ssize_t got =
            buffer != NULL ? read(from, buffer, buffer_bytes) : read(from, spill, sizeof spill);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            result = got < 0 && result == 0 ? KV_ERROR_STORAGE : result;
            break;
        }
        if (result == 0 && writeback_write(fd, &writeback, buffer, (size_t)got) != 0) {
            result = KV_ERROR_STORAGE;
        }
    }
    free(buffer);
    return result;
}

/*
 * The copy reads through an environment of its own: a second, read-only mapping of data.mdb
 * without LMDB's lock file, which the live map's growth (a remap, map.c) never touches, so
 * writes can grow the map while a copy of any length runs. Without a lock file that copy has
 * no reader slot to keep the pages it reads from reuse; the read transaction `hold` on the
 * live environment, begun first, keeps them: LMDB reuses a page only once every reader is at
 * or past the transaction that freed it, and the copy's snapshot is `hold`'s or a later one.
 * A later one may use pages the file gained since: the mapping reaches KV_COPY_MAP_ROOM_BYTES
 * past the file's end (address space only; a page there is read only once the file holds it,
 * for the file grows before the live map does), else LMDB refuses it with MDB_MAP_RESIZED.
 */
#define KV_COPY_MAP_ROOM_BYTES (64ull << 30)

static int kv_copy_env_open(struct kv *kv, MDB_env **env)
{
    char path[KV_PATH_BYTES];
    int length = snprintf(path, sizeof path, "%s/%s", kv->directory, KV_DATA_FILE_NAME);
    struct stat file;
    if (length < 0 || (size_t)length >= sizeof path || stat(path, &file) != 0) {
        return KV_ERROR_STORAGE;
    }
    int rc = kv_file_env_open(path, (size_t)file.st_size + KV_COPY_MAP_ROOM_BYTES, env);
    return rc != 0 ? kv_map_mdb_error(rc) : 0;
}

/* Copies the live database into the open file fd and makes the copy durable. */
static int kv_snapshot_write(struct kv *kv, int fd)
{
    MDB_txn *hold;
    pthread_mutex_lock(&kv->map_lock); /* begins on the map as it is */
    int rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &hold);
    pthread_mutex_unlock(&kv->map_lock);
    if (rc != 0) {
        return kv_map_mdb_error(rc);
    }
    MDB_env *copy_env = NULL;
    int result = kv_copy_env_open(kv, &copy_env);
    int pipe_fds[2] = {-1, -1};
    if (result == 0 && pipe2(pipe_fds, O_CLOEXEC) != 0) {
        result = KV_ERROR_STORAGE;
    }
    pthread_t thread;
    struct kv_copy_job job = {.env = copy_env, .pipe_fd = pipe_fds[1]};
    if (result == 0 && pthread_create(&thread, NULL, kv_copy_thread, &job) != 0) {
        close(pipe_fds[1]);
        result = KV_ERROR_NO_MEMORY;
    } else if (result == 0) {
        result = kv_copy_drain(pipe_fds[0], fd);
        pthread_join(thread, NULL);
        if (result == 0 && job.result != 0) {
            result = kv_map_mdb_error(job.result);
        }
    }
    if (pipe_fds[0] >= 0) {
        close(pipe_fds[0]);
    }
    if (copy_env != NULL) {
        mdb_env_close(copy_env);
    }
    mdb_txn_abort(hold);
    if (result == 0 && fsync(fd) != 0) {
        result = KV_ERROR_STORAGE;
    }
    return result;
}

/* Runs beside apply and read on another thread: it touches only kv->env (thread-safe in
 * LMDB) and its own copy environment, and never kv->error_message. */
int kv_snapshot_export(struct kv *kv, const char *path, uint64_t *index, uint64_t *term)
{
    char temporary[KV_PATH_BYTES];
    int length = snprintf(temporary, sizeof temporary, "%s.tmp", path);
    if (length < 0 || (size_t)length >= sizeof temporary) {
        return KV_ERROR_INVALID;
    }
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return KV_ERROR_STORAGE;
    }
    pthread_rwlock_rdlock(&kv->env_lock); /* no import closes the environment meanwhile */
    int result = kv->env != NULL ? kv_snapshot_write(kv, fd) : KV_ERROR_CLOSED;
    pthread_rwlock_unlock(&kv->env_lock);
    if (close(fd) != 0 && result == 0) {
        result = KV_ERROR_STORAGE;
    }
    if (result != 0) {
        goto remove_temporary;
    }
    if (rename(temporary, path) != 0) {
        result = KV_ERROR_STORAGE;
        goto remove_temporary;
    }
    result = kv_fsync_parent(path);
    if (result != 0) {
        return result;
    }
    return kv_snapshot_read_meta(path, index, term);

remove_temporary:
    unlink(temporary);
    return result;
}

static int kv_snapshot_swap(struct kv *kv, const char *path, const char *data_path);

/* Copies `from` into the database's directory (writing back as it goes) and fsyncs it. */
static int kv_copy_into(const char *from, const char *to)
{
    int input = open(from, O_RDONLY | O_CLOEXEC);
    if (input < 0) {
        return KV_ERROR_STORAGE;
    }
    int output = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (output < 0) {
        close(input);
        return KV_ERROR_STORAGE;
    }
    int result = kv_copy_drain(input, output);
    if (result == 0 && fsync(output) != 0) {
        result = KV_ERROR_STORAGE;
    }
    close(input);
    close(output);
    if (result != 0) {
        unlink(to);
    }
    return result;
}

int kv_snapshot_import_copy(struct kv *kv, const char *path, uint64_t *index, uint64_t *term)
{
    char copy[KV_PATH_BYTES];
    int length = snprintf(copy, sizeof copy, "%s/import.tmp", kv->directory);
    if (length < 0 || (size_t)length >= sizeof copy) {
        return KV_ERROR_INVALID;
    }
    int result = kv_copy_into(path, copy);
    if (result != 0) {
        snprintf(kv->error_message, sizeof kv->error_message, "cannot copy %.200s: %.40s", path,
                 strerror(errno));
        return result;
    }
    return kv_snapshot_import(kv, copy, index, term);
}

int kv_snapshot_import(struct kv *kv, const char *path, uint64_t *index, uint64_t *term)
{
    uint64_t snapshot_index;
    uint64_t snapshot_term;
    int result = kv_snapshot_read_meta(path, &snapshot_index, &snapshot_term);
    if (result != 0) {
        snprintf(kv->error_message, sizeof kv->error_message, "%s is not a snapshot: %s", path,
                 kv_error_string(result));
        return result;
    }
    char data_path[KV_PATH_BYTES];
    int length = snprintf(data_path, sizeof data_path, "%s/%s", kv->directory, KV_DATA_FILE_NAME);
    if (length < 0 || (size_t)length >= sizeof data_path) {
        return KV_ERROR_INVALID;
    }
    /* A flush or an export on another thread uses the environment: wait for it. */
    pthread_rwlock_wrlock(&kv->env_lock);
    result = kv_snapshot_swap(kv, path, data_path);
    pthread_rwlock_unlock(&kv->env_lock);
    if (result != 0) {
        return result;
    }
    if (kv->applied_index != snapshot_index || kv->applied_term != snapshot_term) {
        snprintf(kv->error_message, sizeof kv->error_message, "%s changed while importing", path);
        return KV_ERROR_CORRUPT;
    }
    *index = kv->applied_index;
    *term = kv->applied_term;
    return 0;
}

/* Closes the environment, moves the snapshot file into its place and opens it again. */
static int kv_snapshot_swap(struct kv *kv, const char *path, const char *data_path)
{
    int result;
    kv_env_close(kv);
    if (rename(path, data_path) != 0) {
        int error = errno;
        result = kv_env_open(kv); /* back to the database we had */
        snprintf(kv->error_message, sizeof kv->error_message, "rename %.100s to %.100s: %.40s",
                 path, data_path, strerror(error));
        return result != 0 ? result : KV_ERROR_STORAGE;
    }
    result = kv_fsync_parent(data_path);
    if (result != 0) {
        snprintf(kv->error_message, sizeof kv->error_message, "fsync %s", kv->directory);
        return result; /* closed: the caller retries the import or restarts */
    }
    return kv_env_open(kv);
}
