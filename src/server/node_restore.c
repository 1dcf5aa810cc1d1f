/*
 * node_restore.c — the two starts that change what a data directory holds before the node
 * runs: --restore FILE (a new single-node cluster from a backup) and --force-new-cluster
 * (disaster recovery: the configuration rewritten to this node alone).
 *
 * --restore. Only into a data directory that holds nothing yet (no log, no snapshot, no term):
 * the backup's data becomes this node's snapshot at the backup's applied index and term, with
 * a configuration of this node alone whose highest id is the old cluster's (so that its ids
 * are never reused), and the term is set to the backup's so that new terms follow it. The
 * state machine then loads the snapshot as after any start. The file is checked end to end
 * first: header checksum, sizes, and the data's checksum as it is copied (proto/backup.h); a
 * truncated or altered backup is refused and leaves the directory as it was. A later start
 * with --restore still given refuses too (the directory holds data then): remove the flag.
 *
 * --force-new-cluster. For a cluster that lost its majority for good: this node appends, at
 * a new term, a CONFIG entry naming itself as the only voter (learners dropped, the highest id
 * kept), so that it elects itself and commits everything its log holds. It says in the log
 * which entries were not known to be committed here (they become committed now), and that
 * writes acknowledged by the lost nodes but never received here are gone. When the
 * configuration is already this node alone, it does nothing, so the flag may stay set.
 *
 * Both run once storage is open and before the state machine and the core; each asks the
 * caller to reopen storage afterwards, so that the start continues from what is now on disk.
 */
#include "server/server.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/backup.h"
#include "server/log.h"

#define RESTORE_CHUNK_BYTES ((size_t)1 << 20)

static void self_line(const struct server *server, char *out, size_t out_bytes)
{
    char line[2 * CONFIG_HOST_BYTES + 64];
    config_format_member(config_member(&server->config, server->config.id), line, sizeof line);
    snprintf(out, out_bytes, "%s\n", line);
}

/* Reads and checks the backup's header; *stream is left just past it. */
static int read_header(const char *path, struct storage_stream **stream, uint64_t *file_bytes,
                       uint8_t *bytes, size_t capacity, struct backup_header *header, char *error,
                       size_t error_bytes)
{
    if (storage_stream_open_read(NULL, path, stream, file_bytes) != 0) {
        snprintf(error, error_bytes, "--restore: cannot open %s", path);
        return -1;
    }
    size_t have = 0;
    size_t needed = BACKUP_FIXED_BYTES;
    char message[BACKUP_MESSAGE_BYTES];
    int rc;
    while ((rc = backup_header_decode(bytes, have, header, &needed, message)) == BACKUP_NEED_MORE) {
        if (needed > capacity || needed > *file_bytes ||
            storage_stream_read(*stream, bytes + have, needed - have) != 0) {
            snprintf(error, error_bytes, "--restore: %s is too short for a backup's header", path);
            return -1;
        }
        have = needed;
    }
    if (rc != PROTO_OK) {
        snprintf(error, error_bytes, "--restore: %s: %s", path, message);
        return -1;
    }
    if (*file_bytes != needed + header->data_bytes + BACKUP_TRAILER_BYTES) {
        snprintf(error, error_bytes,
                 "--restore: %s holds %" PRIu64 " bytes where its header announces %" PRIu64
                 ": the backup is truncated or was altered",
                 path, *file_bytes, (uint64_t)(needed + header->data_bytes + BACKUP_TRAILER_BYTES));
        return -1;
    }
    return 0;
}

/* The configuration a restored node starts with: itself alone, above every id used before. */
static void restored_configuration(const struct server *server, const struct backup_header *header,
                                   struct raft_configuration *out)
{
    memset(out, 0, sizeof *out);
    out->voter_count = 1;
    out->voters[0] = server->config.id;
    out->highest_id = server->config.id;
    struct raft_configuration old;
    if (header->configuration_bytes > 0 &&
        raft_configuration_decode(header->configuration, header->configuration_bytes, &old, NULL,
                                  NULL) == 0 &&
        old.highest_id > out->highest_id) {
        out->highest_id = old.highest_id;
    }
}

static int copy_data(struct server *server, struct storage_stream *stream,
                     struct storage_snapshot_writer *writer, uint64_t data_bytes,
                     uint64_t *checksum)
{
    struct storage *storage = server->node.storage;
    uint8_t *chunk = malloc(RESTORE_CHUNK_BYTES);
    struct backup_hash *hash = backup_hash_new();
    int rc = chunk != NULL && hash != NULL ? 0 : -1;
    for (uint64_t copied = 0; rc == 0 && copied < data_bytes;) {
        uint64_t left = data_bytes - copied;
        size_t bytes = left < RESTORE_CHUNK_BYTES ? (size_t)left : RESTORE_CHUNK_BYTES;
        rc = storage_stream_read(stream, chunk, bytes);
        if (rc == 0) {
            backup_hash_update(hash, chunk, bytes);
            rc = storage_snapshot_write(storage, writer, chunk, bytes);
        }
        copied += bytes;
    }
    if (rc == 0) {
        *checksum = backup_hash_digest(hash);
    }
    backup_hash_free(hash);
    free(chunk);
    return rc;
}

static int restore_backup(struct server *server, const struct storage_recovered *recovered,
                          char *error, size_t error_bytes)
{
    const char *path = server->config.restore;
    struct storage *storage = server->node.storage;
    if (recovered->has_snapshot || recovered->entry_count > 0 || recovered->hard_state.term > 0) {
        snprintf(error, error_bytes,
                 "--restore: the data directory %s already holds data (a log, a snapshot or a "
                 "term); restore only into an empty one, or start without --restore",
                 server->config.data_directory);
        return -1;
    }
    uint8_t *header_bytes = malloc(BACKUP_FIXED_BYTES + BACKUP_MAX_CONFIGURATION);
    struct storage_stream *stream = NULL;
    struct storage_snapshot_writer *writer = NULL;
    struct backup_header header;
    uint64_t file_bytes = 0;
    int rc = header_bytes == NULL ? -1 : 0;
    if (rc == 0) {
        rc =
            read_header(path, &stream, &file_bytes, header_bytes,
                        BACKUP_FIXED_BYTES + BACKUP_MAX_CONFIGURATION, &header, error, error_bytes);
    }
    struct raft_snapshot_meta meta = {0};
    if (rc == 0) {
        meta.index = header.index;
        meta.term = header.term;
        restored_configuration(server, &header, &meta.configuration);
        rc = storage_snapshot_begin(storage, &meta, &writer);
        if (rc != 0) {
            snprintf(error, error_bytes, "--restore: %s", storage_message(storage));
        }
    }
    uint64_t checksum = 0;
    if (rc == 0) {
        rc = copy_data(server, stream, writer, header.data_bytes, &checksum);
        uint8_t trailer[BACKUP_TRAILER_BYTES];
        if (rc != 0) {
            snprintf(error, error_bytes, "--restore: cannot copy the data of %s: %s", path,
                     storage_message(storage));
        } else if (storage_stream_read(stream, trailer, sizeof trailer) != 0 ||
                   backup_get_u64(trailer) != checksum) {
            snprintf(error, error_bytes,
                     "--restore: the data of %s does not match its checksum: the backup is "
                     "damaged; nothing was restored",
                     path);
            rc = -1;
        }
        if (rc != 0) {
            storage_snapshot_abort(storage, writer);
            writer = NULL;
        }
    }
    if (rc == 0) {
        /* The log starts after the snapshot, in the crash-safe order of an installed one. */
        rc = storage_snapshot_install_from_leader(storage, writer);
        struct raft_hard_state hard_state = {.term = header.term, .commit = header.index};
        if (rc == 0) {
            rc = storage_hard_state_save(storage, &hard_state);
        }
        if (rc != 0) {
            snprintf(error, error_bytes, "--restore: %s", storage_message(storage));
        }
    }
    storage_stream_close(stream);
    free(header_bytes);
    if (rc != 0) {
        return -1;
    }
    log_warning("restored %s: applied index %" PRIu64 ", term %" PRIu64 ", %" PRIu64
                " bytes of data, as a new cluster of node %" PRIu64
                " alone; grow it with RAFT.NODE ADD (and start the next nodes with --join)",
                path, header.index, header.term, header.data_bytes, server->config.id);
    return 0;
}

/* The configuration in force on disk: the log's last CONFIG entry, the snapshot's, or the
 * flags'. */
static void configuration_on_disk(const struct server *server,
                                  const struct storage_recovered *recovered,
                                  struct raft_configuration *out)
{
    for (size_t i = recovered->entry_count; i > 0; i--) {
        const struct raft_entry *entry = &recovered->entries[i - 1];
        if (entry->type == RAFT_ENTRY_CONFIG &&
            raft_configuration_decode(entry->data, entry->data_bytes, out, NULL, NULL) == 0) {
            return;
        }
    }
    if (recovered->has_snapshot) {
        *out = recovered->snapshot.configuration;
        return;
    }
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < server->config.member_count; i++) {
        out->voters[out->voter_count++] = server->config.members[i].id;
        if (server->config.members[i].id > out->highest_id) {
            out->highest_id = server->config.members[i].id;
        }
    }
}

static int force_new_cluster(struct server *server, const struct storage_recovered *recovered,
                             bool *changed, char *error, size_t error_bytes)
{
    struct storage *storage = server->node.storage;
    struct raft_configuration current;
    configuration_on_disk(server, recovered, &current);
    if (current.voter_count == 1 && current.voters[0] == server->config.id &&
        current.learner_count == 0) {
        log_info("--force-new-cluster: the configuration is this node alone already; nothing "
                 "to do (the flag may be removed)");
        return 0;
    }
    uint64_t last_index = recovered->has_snapshot ? recovered->snapshot.index : 0;
    uint64_t last_term = recovered->has_snapshot ? recovered->snapshot.term : 0;
    if (recovered->entry_count > 0) {
        last_index = recovered->entries[recovered->entry_count - 1].index;
        last_term = recovered->entries[recovered->entry_count - 1].term;
    }
    /* Known committed: the saved commit index, the snapshot, and what the state machine
     * applied (it applies only committed entries, whether or not its last stop was clean). */
    uint64_t known = recovered->hard_state.commit;
    if (recovered->has_snapshot && recovered->snapshot.index > known) {
        known = recovered->snapshot.index;
    }
    char kv_data[CONFIG_PATH_BYTES + 32];
    node_path_join(kv_data, sizeof kv_data, server->config.data_directory, "kv/data.mdb");
    uint64_t applied = 0;
    uint64_t applied_term = 0;
    if (kv_snapshot_read_meta(kv_data, &applied, &applied_term) == 0 && applied > known) {
        known = applied;
    }
    struct raft_configuration alone = {.voter_count = 1, .highest_id = current.highest_id};
    alone.voters[0] = server->config.id;
    if (server->config.id > alone.highest_id) {
        alone.highest_id = server->config.id;
    }
    char context[2 * CONFIG_HOST_BYTES + 80];
    self_line(server, context, sizeof context);
    uint8_t data[4096];
    uint32_t data_bytes = raft_configuration_encode(&alone, (const uint8_t *)context,
                                                    (uint32_t)strlen(context), data, sizeof data);
    uint64_t term =
        (recovered->hard_state.term > last_term ? recovered->hard_state.term : last_term) + 1;
    struct raft_entry entry = {
        .term = term,
        .index = last_index + 1,
        .type = RAFT_ENTRY_CONFIG,
        .data_bytes = data_bytes,
        .data = data,
    };
    struct raft_hard_state hard_state = {.term = term, .commit = recovered->hard_state.commit};
    if (data_bytes == 0 || data_bytes > sizeof data || wal_append(storage, &entry, 1) != 0 ||
        wal_sync(storage) != 0 || storage_hard_state_save(storage, &hard_state) != 0) {
        snprintf(error, error_bytes, "--force-new-cluster: cannot write the new configuration: %s",
                 storage_message(storage));
        return -1;
    }
    log_warning("--force-new-cluster: the configuration is now node %" PRIu64
                " alone (entry %" PRIu64 ", term %" PRIu64 "); the other members are dropped",
                server->config.id, entry.index, term);
    if (last_index > known) {
        log_warning("--force-new-cluster: entries %" PRIu64 "..%" PRIu64
                    " were not known to be committed on this node; they are kept and become "
                    "committed now (writes whose clients got UNCERTAIN, TRYAGAIN or no answer "
                    "may be among them)",
                    known + 1, last_index);
    }
    log_warning("--force-new-cluster: writes that the lost nodes acknowledged but this node never "
                "received (beyond its log's end, index %" PRIu64 ") are lost; of several "
                "survivors, the one with the highest raft_last_index loses least",
                last_index);
    *changed = true;
    return 0;
}

int node_prepare_data(struct server *server, const struct storage_recovered *recovered,
                      bool *reopen, char *error, size_t error_bytes)
{
    *reopen = false;
    if (server->config.restore[0] != '\0') {
        if (restore_backup(server, recovered, error, error_bytes) != 0) {
            return -1;
        }
        *reopen = true;
    }
    if (server->config.force_new_cluster && !*reopen) {
        return force_new_cluster(server, recovered, reopen, error, error_bytes);
    }
    return 0;
}
