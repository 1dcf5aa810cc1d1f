/*
 * tools/backup.c — raftkv-backup HOST:PORT FILE: asks a live node for a backup (RAFT.BACKUP)
 * and stores it in FILE, checked end to end.
 *
 * Happy path: connect to the node's client port, AUTH when a password is given (-a PASSWORD or
 * RAFTKV_PASSWORD), send RAFT.BACKUP, read the one bulk reply into FILE.tmp while checking the
 * header's checksum and hashing the data, compare the trailer, fsync, rename to FILE. Any node
 * can serve a backup, a follower too: the header names the applied index it holds.
 *
 * Failure modes: an error reply, a connection that breaks, a stream shorter than announced, a
 * header or data checksum that does not match — each is printed, FILE is left untouched, the
 * exit status is 1. Usage errors exit with 2.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "proto/backup.h"
#include "server/version.h"

#define READ_TIMEOUT_S 600 /* an export of a large database takes a while before the reply */

struct reader {
    int fd;
    char buffer[64 * 1024];
    size_t start;
    size_t end;
};

static void fail(const char *format, const char *detail)
{
    fprintf(stderr, "raftkv-backup: ");
    fprintf(stderr, format, detail);
    fprintf(stderr, "\n");
    exit(1);
}

static bool fill(struct reader *reader)
{
    if (reader->start == reader->end) {
        reader->start = reader->end = 0;
    }
    ssize_t n = read(reader->fd, reader->buffer + reader->end, sizeof reader->buffer - reader->end);
    if (n <= 0) {
        return false;
    }
    reader->end += (size_t)n;
    return true;
}

static void read_line(struct reader *reader, char *line, size_t line_bytes)
{
    size_t used = 0;
    for (;;) {
        while (reader->start < reader->end) {
            char c = reader->buffer[reader->start++];
            if (c == '\n') {
                if (used > 0 && line[used - 1] == '\r') {
                    used--;
                }
                line[used] = '\0';
                return;
            }
            if (used + 1 < line_bytes) {
                line[used++] = c;
            }
        }
        if (!fill(reader)) {
            fail("%s", "the connection closed before the reply");
        }
    }
}

/* Up to `bytes` of the stream; 0 when it ended. */
static size_t read_some(struct reader *reader, void *out, size_t bytes)
{
    if (reader->start == reader->end && !fill(reader)) {
        return 0;
    }
    size_t available = reader->end - reader->start;
    size_t taken = available < bytes ? available : bytes;
    memcpy(out, reader->buffer + reader->start, taken);
    reader->start += taken;
    return taken;
}

static void read_exactly(struct reader *reader, void *out, size_t bytes, const char *what)
{
    size_t done = 0;
    while (done < bytes) {
        size_t n = read_some(reader, (char *)out + done, bytes - done);
        if (n == 0) {
            fail("the stream ended inside %s: the backup is incomplete", what);
        }
        done += n;
    }
}

static int connect_to(const char *address)
{
    char host[300];
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address || (size_t)(colon - address) >= sizeof host) {
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    char *unbracketed = host;
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        host[strlen(host) - 1] = '\0';
        unbracketed = host + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    if (getaddrinfo(unbracketed, colon + 1, &hints, &found) != 0) {
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *at = found; at != NULL && fd < 0; at = at->ai_next) {
        fd = socket(at->ai_family, at->ai_socktype, at->ai_protocol);
        if (fd >= 0 && connect(fd, at->ai_addr, at->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    if (fd >= 0) {
        struct timeval timeout = {.tv_sec = READ_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    return fd;
}

static void send_command(int fd, int argc, const char *const *argv)
{
    char buffer[4096];
    int used = snprintf(buffer, sizeof buffer, "*%d\r\n", argc);
    for (int i = 0; i < argc && used > 0 && (size_t)used < sizeof buffer; i++) {
        used += snprintf(buffer + used, sizeof buffer - (size_t)used, "$%zu\r\n%s\r\n",
                         strlen(argv[i]), argv[i]);
    }
    if (used <= 0 || (size_t)used >= sizeof buffer || write(fd, buffer, (size_t)used) != used) {
        fail("%s", "cannot send the request");
    }
}

static void write_all(int fd, const void *data, size_t bytes, const char *path)
{
    const char *cursor = data;
    while (bytes > 0) {
        ssize_t n = write(fd, cursor, bytes);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fail("cannot write %s", path);
        }
        cursor += n;
        bytes -= (size_t)n;
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        char version[128];
        version_format("raftkv-backup", version, sizeof version);
        printf("%s\n", version);
        return 0;
    }
    const char *password = getenv("RAFTKV_PASSWORD");
    int first = 1;
    if (argc >= 3 && strcmp(argv[1], "-a") == 0) {
        password = argv[2];
        first = 3;
    }
    if (argc - first != 2) {
        fprintf(stderr, "usage: raftkv-backup [-a PASSWORD] HOST:PORT FILE | --version\n"
                        "  Streams a consistent backup of a live node's data into FILE; restore "
                        "it with\n  raftkv --restore FILE (see docs/operations.md).\n");
        return 2;
    }
    const char *address = argv[first];
    const char *path = argv[first + 1];
    struct reader reader = {.fd = connect_to(address)};
    if (reader.fd < 0) {
        fail("cannot connect to %s", address);
    }
    char line[1024];
    if (password != NULL && password[0] != '\0') {
        const char *auth[] = {"AUTH", password};
        send_command(reader.fd, 2, auth);
        read_line(&reader, line, sizeof line);
        if (strcmp(line, "+OK") != 0) {
            fail("AUTH refused: %s", line);
        }
    }
    const char *request[] = {"RAFT.BACKUP"};
    send_command(reader.fd, 1, request);
    read_line(&reader, line, sizeof line);
    if (line[0] != '$') {
        fail("the node refused: %s", line[0] == '-' ? line + 1 : line);
    }
    char *end = NULL;
    unsigned long long total = strtoull(line + 1, &end, 10);
    if (*end != '\0' || total < BACKUP_FIXED_BYTES + BACKUP_TRAILER_BYTES) {
        fail("unexpected reply: %s", line);
    }
    /* The header: read until it decodes. */
    uint8_t header_bytes[BACKUP_FIXED_BYTES + BACKUP_MAX_CONFIGURATION];
    size_t have = 0;
    size_t needed = BACKUP_FIXED_BYTES;
    struct backup_header header;
    char message[BACKUP_MESSAGE_BYTES];
    int rc;
    while ((rc = backup_header_decode(header_bytes, have, &header, &needed, message)) ==
           BACKUP_NEED_MORE) {
        if (needed > sizeof header_bytes || needed > total) {
            fail("%s", "the header is larger than any backup's");
        }
        read_exactly(&reader, header_bytes + have, needed - have, "the header");
        have = needed;
    }
    if (rc != PROTO_OK) {
        fail("%s", message);
    }
    if (total != needed + header.data_bytes + BACKUP_TRAILER_BYTES) {
        fail("%s", "the reply's length does not match its header");
    }
    char temporary[4096];
    snprintf(temporary, sizeof temporary, "%s.tmp", path);
    int out = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0) {
        fail("cannot create %s", temporary);
    }
    write_all(out, header_bytes, needed, temporary);
    struct backup_hash *hash = backup_hash_new();
    if (hash == NULL) {
        fail("%s", "out of memory");
    }
    static uint8_t chunk[1 << 20];
    uint64_t left = header.data_bytes;
    while (left > 0) {
        size_t n = read_some(&reader, chunk, left < sizeof chunk ? (size_t)left : sizeof chunk);
        if (n == 0) {
            unlink(temporary);
            fail("%s", "the stream ended inside the data: the backup is incomplete");
        }
        backup_hash_update(hash, chunk, n);
        write_all(out, chunk, n, temporary);
        left -= n;
    }
    uint8_t trailer[BACKUP_TRAILER_BYTES];
    read_exactly(&reader, trailer, sizeof trailer, "the trailer");
    if (backup_get_u64(trailer) != backup_hash_digest(hash)) {
        unlink(temporary);
        fail("%s", "the data's checksum does not match: the backup is damaged");
    }
    backup_hash_free(hash);
    write_all(out, trailer, sizeof trailer, temporary);
    if (fsync(out) != 0 || close(out) != 0 || rename(temporary, path) != 0) {
        unlink(temporary);
        fail("cannot store %s", path);
    }
    char directory[4096];
    snprintf(directory, sizeof directory, "%s", path);
    int directory_fd = open(dirname(directory), O_RDONLY | O_DIRECTORY);
    if (directory_fd >= 0) {
        fsync(directory_fd);
        close(directory_fd);
    }
    close(reader.fd);
    printf("raftkv-backup: %s holds applied index %llu (term %llu), %llu bytes of data, "
           "checksums verified\n",
           path, (unsigned long long)header.index, (unsigned long long)header.term,
           (unsigned long long)header.data_bytes);
    return 0;
}
