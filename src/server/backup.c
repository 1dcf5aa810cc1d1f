/*
 * backup.c — RAFT.BACKUP: a consistent copy of this node's state machine, streamed to the
 * client that asks (raftkv-backup) in the format of proto/backup.h, while the node keeps
 * serving.
 *
 * Happy path. The command turns its connection into a stream: nothing after it on the
 * connection is executed, and the connection closes once the stream ends. On the thread pool,
 * kv exports a copy of the database (an LMDB read transaction: writes go on meanwhile, the
 * copy holds exactly the state at its applied index) into the data directory and storage
 * measures and checksums it. Then, once the replies before RAFT.BACKUP have left, the reply —
 * one bulk string: header, data, trailer — is read from the file a piece at a time as the
 * socket drains (backup_pump, from client.c's flush), so a large database never sits in
 * memory. The header carries the applied index and term and the configuration there.
 *
 * Failure modes. One backup at a time per node (-ERR ... already running); an export that
 * fails (disk full) answers -ERR with the reason before any byte of the stream; a read that
 * fails mid-stream closes the connection (the tool sees a short file and refuses it). A client
 * that goes away cancels the stream; the export file is deleted in every case.
 */
#include "server/server.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/backup.h"
#include "server/log.h"

#define BACKUP_CHUNK_BYTES   ((size_t)1 << 20)
#define BACKUP_OUTPUT_TARGET ((size_t)4 << 20) /* keep this much queued for the socket */

struct backup {
    struct server *server;
    struct client *client; /* NULL once the client went away */
    uv_work_t work;
    bool exported; /* the export work finished (successfully or not) */
    int result;
    char message[STORAGE_MESSAGE_BYTES + 128];
    char path[CONFIG_PATH_BYTES + 64];
    uint64_t index;
    uint64_t term;
    uint64_t data_bytes;
    uint64_t checksum;
    struct storage_stream *file;
    bool started;  /* the bulk's length and the header are out */
    uint64_t sent; /* data bytes queued */
    uint8_t *chunk;
};

static void backup_free(struct backup *backup)
{
    struct server *server = backup->server;
    storage_stream_close(backup->file);
    if (server->node.storage != NULL) {
        storage_discard(server->node.storage, backup->path);
    }
    free(backup->chunk);
    if (server->backup == backup) {
        server->backup = NULL;
    }
    free(backup);
}

static void export_work(uv_work_t *work)
{
    struct backup *backup = work->data;
    struct node *node = &backup->server->node;
    int rc = kv_snapshot_export(node->kv, backup->path, &backup->index, &backup->term);
    if (rc != 0) {
        snprintf(backup->message, sizeof backup->message, "cannot copy the database: %s (%s)",
                 kv_error_string(rc), kv_last_error(node->kv));
        backup->result = -1;
        return;
    }
    char message[STORAGE_MESSAGE_BYTES];
    rc = storage_snapshot_measure(NULL, backup->path, &backup->data_bytes, &backup->checksum,
                                  message, sizeof message);
    if (rc != 0) {
        snprintf(backup->message, sizeof backup->message, "cannot read the copy back: %s", message);
        backup->result = -1;
    }
}

static void after_export(uv_work_t *work, int status)
{
    struct backup *backup = work->data;
    backup->exported = true;
    if (status != 0 && backup->result == 0) {
        snprintf(backup->message, sizeof backup->message, "the export was cancelled");
        backup->result = -1;
    }
    if (backup->client == NULL) {
        backup_free(backup); /* its client went away meanwhile */
        return;
    }
    if (backup->result == 0) {
        uint64_t total = 0;
        if (storage_stream_open_read(NULL, backup->path, &backup->file, &total) != 0 ||
            total != backup->data_bytes) {
            snprintf(backup->message, sizeof backup->message, "cannot open the copy");
            backup->result = -1;
        } else {
            log_info("backup of applied index %" PRIu64 " (%" PRIu64 " bytes) for client %" PRIu64,
                     backup->index, backup->data_bytes, backup->client->id);
        }
    }
    client_schedule_flush(backup->client);
}

/* The configuration at the copy's index, with every member's address line. */
static uint32_t encode_configuration(struct backup *backup, uint8_t *out, uint32_t out_bytes)
{
    struct server *server = backup->server;
    struct raft_configuration configuration;
    if (raft_configuration_at(server->node.raft, backup->index, &configuration) != 0) {
        configuration = *raft_configuration(server->node.raft); /* compacted meanwhile */
    }
    char context[MEMBERS_CONTEXT_MAX_BYTES];
    size_t used = members_build_context(server, NULL, RAFT_NODE_NONE, context, sizeof context);
    return raft_configuration_encode(&configuration, (const uint8_t *)context, (uint32_t)used, out,
                                     out_bytes);
}

static bool start_stream(struct backup *backup, struct proto_buffer *output)
{
    uint8_t configuration[BACKUP_MAX_CONFIGURATION];
    uint32_t configuration_bytes =
        encode_configuration(backup, configuration, sizeof configuration);
    if (configuration_bytes > sizeof configuration) {
        configuration_bytes = 0;
    }
    struct backup_header header = {
        .index = backup->index,
        .term = backup->term,
        .data_bytes = backup->data_bytes,
        .configuration_bytes = configuration_bytes,
        .configuration = configuration,
    };
    size_t header_bytes = backup_header_bytes(&header);
    uint8_t *encoded = malloc(header_bytes);
    if (encoded == NULL) {
        return false;
    }
    backup_header_encode(&header, encoded);
    char length[32];
    int n = snprintf(length, sizeof length, "$%" PRIu64 "\r\n",
                     (uint64_t)header_bytes + backup->data_bytes + BACKUP_TRAILER_BYTES);
    bool ok = proto_buffer_append(output, length, (size_t)n) == 0 &&
              proto_buffer_append(output, encoded, header_bytes) == 0;
    free(encoded);
    backup->started = true;
    return ok;
}

bool backup_pump(struct client *client)
{
    struct backup *backup = client->backup;
    if (backup == NULL || !backup->exported || client->fifo_count > 0) {
        return true; /* the replies before it go first; the export may still run */
    }
    struct proto_buffer *output = &client->output;
    if (backup->result != 0) {
        reply_error(output, "ERR backup failed: %s", backup->message);
        client->backup = NULL;
        backup_free(backup);
        return true;
    }
    if (!backup->started && !start_stream(backup, output)) {
        return false;
    }
    while (output->length < BACKUP_OUTPUT_TARGET && backup->sent < backup->data_bytes) {
        uint64_t left = backup->data_bytes - backup->sent;
        size_t bytes = left < BACKUP_CHUNK_BYTES ? (size_t)left : BACKUP_CHUNK_BYTES;
        if (backup->chunk == NULL && (backup->chunk = malloc(BACKUP_CHUNK_BYTES)) == NULL) {
            return false;
        }
        if (storage_stream_read(backup->file, backup->chunk, bytes) != 0 ||
            proto_buffer_append(output, backup->chunk, bytes) != 0) {
            log_warning("backup for client %" PRIu64 ": the stream failed at byte %" PRIu64
                        "; closing the connection",
                        client->id, backup->sent);
            return false;
        }
        backup->sent += bytes;
    }
    if (backup->sent == backup->data_bytes) {
        uint8_t trailer[BACKUP_TRAILER_BYTES + 2];
        backup_put_u64(trailer, backup->checksum);
        memcpy(trailer + BACKUP_TRAILER_BYTES, "\r\n", 2);
        if (proto_buffer_append(output, trailer, sizeof trailer) != 0) {
            return false;
        }
        log_info("backup for client %" PRIu64 " streamed", client->id);
        client->backup = NULL;
        backup_free(backup);
    }
    return true;
}

bool backup_has_more(const struct client *client)
{
    const struct backup *backup = client->backup;
    return backup != NULL && backup->exported && client->fifo_count == 0;
}

bool backup_exporting(const struct server *server)
{
    return server->backup != NULL && !server->backup->exported;
}

void backup_client_gone(struct client *client)
{
    struct backup *backup = client->backup;
    if (backup == NULL) {
        return;
    }
    client->backup = NULL;
    backup->client = NULL;
    if (backup->exported) {
        backup_free(backup);
    } /* else after_export frees it */
}

void backup_command(struct client *client, size_t argc, const struct kv_arg *argv)
{
    struct server *server = client->server;
    (void)argv;
    struct request *request = client_request_new(client, REQUEST_IMMEDIATE);
    if (request == NULL) {
        client->closing = true;
        return;
    }
    if (argc != 1) {
        reply_error(&request->reply, "ERR wrong number of arguments for 'raft.backup' command");
    } else if (server->node.fatal) {
        reply_error(&request->reply,
                    "ERR this node is recovering from a failure (%s); try "
                    "another node",
                    server->node.failure_reason);
    } else if (server->replica != NULL) {
        /* A foil's data is no Raft cluster's to restore (replication.c). */
        reply_error(&request->reply,
                    "ERR RAFT.BACKUP needs Raft; this node runs the unsafe "
                    "lecture replication mode %s",
                    server_replication_name(server));
    } else if (server->backup != NULL) {
        reply_error(&request->reply, "ERR a backup is already running on this node; retry when "
                                     "it has finished");
    } else {
        struct backup *backup = calloc(1, sizeof *backup);
        if (backup == NULL) {
            reply_error(&request->reply, "ERR out of memory");
            client_request_finish(request);
            return;
        }
        backup->server = server;
        backup->client = client;
        node_path_join(backup->path, sizeof backup->path, server->config.data_directory,
                       "backup-export.tmp");
        backup->work.data = backup;
        if (uv_queue_work(server->loop, &backup->work, export_work, after_export) != 0) {
            free(backup);
            reply_error(&request->reply, "ERR cannot start the export");
        } else {
            server->backup = backup;
            client->backup = backup;
            client->close_after_reply = true; /* the stream ends the connection */
        }
    }
    client_request_finish(request);
}
