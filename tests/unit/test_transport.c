/*
 * test_transport.c — the peer transport over real TCP on 127.0.0.1, one behaviour per test.
 *
 * Every test runs two or three transports in one libuv loop, on ports found free just
 * before (bound to port 0, then released). Every wait is bounded by a deadline timer: a
 * condition that does not come true within TEST_TIMEOUT_MS fails the test instead of hanging
 * it. A "raw client" (a bare libuv TCP socket speaking frames encoded by proto/peer.h) plays
 * a stranger, an impostor or a confused peer. Teardown stops every transport and runs the
 * loop until it has no handles left, so uv_loop_close() succeeding and ASan's leak check
 * prove that transport_stop() closes and frees everything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/transport.h"

#define TEST_TIMEOUT_MS      5000
#define TEST_MAX_NODES       3
#define TEST_MAX_RECEIVED    64
#define TEST_RAW_INPUT_BYTES 4096
#define TEST_ALARM_S         120

struct test_node {
    raft_node_id id;
    struct transport_config config;
    struct transport *transport;
    struct raft_message received[TEST_MAX_RECEIVED]; /* entries deep-copied, freed at teardown */
    bool count_only; /* count messages without keeping them (bursts beyond TEST_MAX_RECEIVED) */
    size_t received_count;
    uint32_t unreachable_count;
    uint32_t up_count;
    uint32_t down_count;
    uint32_t snapshot_sent_count;
    bool snapshot_sent_success;
    uint32_t snapshot_received_count;
    uint8_t *snapshot_bytes; /* the received file's content, read during on_message */
    size_t snapshot_size;
    bool takes_replica;     /* a foil mode's host: on_replica is set */
    uint32_t replica_count; /* REPLICA messages received */
    char replica_value[32]; /* the last one's first item's value, NUL-terminated */
};

static uv_loop_t loop;
static uv_timer_t deadline;
static bool timed_out;
static uint16_t ports[TEST_MAX_NODES + 1]; /* by node id */
static char directory[256];
static struct test_node nodes[TEST_MAX_NODES + 1];
static const char secret_text[] = "the right secret";
static size_t open_fds_before; /* checked again at teardown: no socket or file left open */

/* ---- waiting, bounded ---- */

static void on_deadline(uv_timer_t *timer)
{
    timed_out = true;
}

static void deadline_start(uint64_t timeout_ms)
{
    timed_out = false;
    uv_timer_start(&deadline, on_deadline, timeout_ms, 0);
}

#define WAIT_FOR(condition)                                                                        \
    do {                                                                                           \
        deadline_start(TEST_TIMEOUT_MS);                                                           \
        while (!(condition) && !timed_out) {                                                       \
            uv_run(&loop, UV_RUN_ONCE);                                                            \
        }                                                                                          \
        uv_timer_stop(&deadline);                                                                  \
        assert_true(condition);                                                                    \
    } while (0)

static void run_for_ms(uint64_t duration_ms)
{
    deadline_start(duration_ms);
    while (!timed_out) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

/* ---- callbacks ---- */

static void copy_message(struct raft_message *out, const struct raft_message *message)
{
    *out = *message;
    out->entries = NULL;
    if (message->entry_count == 0) {
        return;
    }
    out->entries = calloc(message->entry_count, sizeof *out->entries);
    assert_non_null(out->entries);
    for (uint32_t i = 0; i < message->entry_count; i++) {
        out->entries[i] = message->entries[i];
        out->entries[i].data = NULL;
        if (message->entries[i].data_bytes > 0) {
            out->entries[i].data = malloc(message->entries[i].data_bytes);
            assert_non_null(out->entries[i].data);
            memcpy(out->entries[i].data, message->entries[i].data, message->entries[i].data_bytes);
        }
    }
}

static void read_whole_file(const char *path, uint8_t **bytes, size_t *size)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long length = ftell(file);
    assert_true(length >= 0);
    assert_int_equal(fseek(file, 0, SEEK_SET), 0);
    *bytes = malloc((size_t)length + 1);
    assert_non_null(*bytes);
    assert_int_equal(fread(*bytes, 1, (size_t)length, file), (size_t)length);
    fclose(file);
    *size = (size_t)length;
}

static void on_message(void *context, const struct raft_message *message, const char *path)
{
    struct test_node *node = context;
    if (node->count_only) {
        node->received_count++;
        return;
    }
    assert_true(node->received_count < TEST_MAX_RECEIVED);
    copy_message(&node->received[node->received_count++], message);
    assert_true((message->type == RAFT_MSG_SNAPSHOT) == (path != NULL));
    if (path != NULL) {
        free(node->snapshot_bytes);
        read_whole_file(path, &node->snapshot_bytes, &node->snapshot_size);
        node->snapshot_received_count++;
    }
}

static void on_unreachable(void *context, raft_node_id peer)
{
    struct test_node *node = context;
    node->unreachable_count++;
}

static void on_snapshot_sent(void *context, raft_node_id peer, bool success)
{
    struct test_node *node = context;
    node->snapshot_sent_count++;
    node->snapshot_sent_success = success;
}

static void on_replica(void *context, const struct peer_replica *message)
{
    struct test_node *node = context;
    node->replica_count++;
    assert_true(message->item_count > 0);
    size_t bytes = message->items[0].value_bytes;
    bytes = bytes < sizeof node->replica_value - 1 ? bytes : sizeof node->replica_value - 1;
    memcpy(node->replica_value, message->items[0].value, bytes);
    node->replica_value[bytes] = '\0';
}

static void on_peer_state(void *context, raft_node_id peer, bool connected)
{
    struct test_node *node = context;
    if (connected) {
        node->up_count++;
    } else {
        node->down_count++;
    }
}

/* ---- nodes ---- */

static uint16_t free_port(int *held)
{
    *held = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*held >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(*held, (struct sockaddr *)&address, sizeof address), 0);
    socklen_t length = sizeof address;
    assert_int_equal(getsockname(*held, (struct sockaddr *)&address, &length), 0);
    return ntohs(address.sin_port);
}

/* Configures node `id` of a cluster of `count` nodes; the caller may adjust before start. */
static struct transport_config *node_configure(raft_node_id id, uint32_t count,
                                               uint8_t cluster_byte, const char *secret)
{
    struct test_node *node = &nodes[id];
    node->id = id;
    struct transport_config *config = &node->config;
    transport_config_default(config);
    config->id = id;
    snprintf(config->host, sizeof config->host, "127.0.0.1");
    config->port = ports[id];
    memset(config->cluster_id, cluster_byte, PEER_CLUSTER_ID_BYTES);
    config->secret = (const uint8_t *)secret;
    config->secret_bytes = secret != NULL ? strlen(secret) : 0;
    config->handshake_timeout_ms = 1000;
    for (raft_node_id other = 1; other <= count; other++) {
        if (other == id) {
            continue;
        }
        struct transport_peer_address *peer = &config->peers[config->peer_count++];
        peer->id = other;
        snprintf(peer->host, sizeof peer->host, "127.0.0.1");
        peer->port = ports[other];
    }
    snprintf(config->incoming_directory, sizeof config->incoming_directory, "%s/node%u", directory,
             (unsigned)id);
    mkdir(config->incoming_directory, 0700);
    return config;
}

static void node_start(raft_node_id id)
{
    struct test_node *node = &nodes[id];
    struct transport_callbacks callbacks = {
        .context = node,
        .on_message = on_message,
        .on_unreachable = on_unreachable,
        .on_snapshot_sent = on_snapshot_sent,
        .on_peer_state = on_peer_state,
        .on_replica = node->takes_replica ? on_replica : NULL,
    };
    assert_null(node->transport);
    assert_int_equal(transport_start(&loop, &node->config, &callbacks, &node->transport),
                     TRANSPORT_OK);
}

/* Stops a node and lets the loop run its close callbacks, so its port is free again. */
static void node_stop(raft_node_id id)
{
    transport_stop(nodes[id].transport);
    nodes[id].transport = NULL;
    run_for_ms(20);
}

static bool linked(raft_node_id a, raft_node_id b)
{
    return nodes[a].transport != NULL && nodes[b].transport != NULL &&
           transport_peer_connected(nodes[a].transport, b) &&
           transport_peer_connected(nodes[b].transport, a);
}

static struct raft_message message_between(raft_node_id from, raft_node_id to, uint8_t type)
{
    struct raft_message message = {.type = type, .from = from, .to = to, .term = 7};
    message.commit = 5;
    message.context = 1000 + from;
    return message;
}

/* Sockets and files under /tmp: what the transport could leak (libuv and OpenSSL open a few
 * process-wide descriptors lazily, which are not counted). */
static size_t count_open_fds(void)
{
    DIR *fds = opendir("/proc/self/fd");
    assert_non_null(fds);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(fds)) != NULL) {
        char path[300];
        char target[512];
        snprintf(path, sizeof path, "/proc/self/fd/%s", entry->d_name);
        ssize_t length = readlink(path, target, sizeof target - 1);
        if (length <= 0) {
            continue;
        }
        target[length] = '\0';
        if (strncmp(target, "socket:", 7) == 0 || strncmp(target, "/tmp/", 5) == 0) {
            count++;
        }
    }
    closedir(fds);
    return count;
}

static int setup(void **state)
{
    open_fds_before = count_open_fds();
    memset(nodes, 0, sizeof nodes);
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_timer_init(&loop, &deadline), 0);
    int held[TEST_MAX_NODES + 1];
    for (int id = 1; id <= TEST_MAX_NODES; id++) {
        ports[id] = free_port(&held[id]); /* held open together, so the ports differ */
    }
    for (int id = 1; id <= TEST_MAX_NODES; id++) {
        close(held[id]);
    }
    snprintf(directory, sizeof directory, "/tmp/test_transport.XXXXXX");
    assert_non_null(mkdtemp(directory));
    return 0;
}

static void free_received(struct test_node *node)
{
    size_t kept = node->count_only ? 0 : node->received_count;
    for (size_t i = 0; i < kept; i++) {
        for (uint32_t j = 0; j < node->received[i].entry_count; j++) {
            free(node->received[i].entries[j].data);
        }
        free(node->received[i].entries);
    }
    free(node->snapshot_bytes);
}

static int teardown(void **state)
{
    for (int id = 1; id <= TEST_MAX_NODES; id++) {
        transport_stop(nodes[id].transport);
        nodes[id].transport = NULL;
    }
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once every handle has closed */
    assert_int_equal(uv_loop_close(&loop), 0);
    for (int id = 1; id <= TEST_MAX_NODES; id++) {
        free_received(&nodes[id]);
    }
    assert_int_equal(count_open_fds(), open_fds_before);
    char command[512];
    snprintf(command, sizeof command, "rm -rf '%s'", directory);
    assert_int_equal(system(command), 0);
    return 0;
}

/* ---- a raw client: a bare socket that speaks whatever frames a test writes ---- */

struct raw_client {
    uv_tcp_t tcp;
    uv_connect_t connect_request;
    bool open;
    bool connected;
    bool ended; /* the other side closed (or reset) the connection */
    uint8_t input[TEST_RAW_INPUT_BYTES];
    size_t input_length;
    char read_buffer[TEST_RAW_INPUT_BYTES];
};

static struct raw_client raw_clients[2];

struct raw_write {
    uv_write_t request;
    uint8_t bytes[];
};

static void on_raw_connect(uv_connect_t *request, int status)
{
    struct raw_client *client = request->data;
    client->connected = status == 0;
    client->ended = status != 0;
}

static void on_raw_alloc(uv_handle_t *handle, size_t suggested_bytes, uv_buf_t *buffer)
{
    struct raw_client *client = handle->data;
    *buffer = uv_buf_init(client->read_buffer, sizeof client->read_buffer);
}

static void on_raw_read(uv_stream_t *stream, ssize_t read_bytes, const uv_buf_t *buffer)
{
    struct raw_client *client = stream->data;
    if (read_bytes < 0) {
        client->ended = true;
        uv_read_stop(stream);
        return;
    }
    size_t room = sizeof client->input - client->input_length;
    size_t kept = (size_t)read_bytes < room ? (size_t)read_bytes : room;
    memcpy(client->input + client->input_length, buffer->base, kept);
    client->input_length += kept;
}

static struct raw_client *raw_connect(int index, uint16_t port)
{
    struct raw_client *client = &raw_clients[index];
    memset(client, 0, sizeof *client);
    assert_int_equal(uv_tcp_init(&loop, &client->tcp), 0);
    client->open = true;
    client->tcp.data = client;
    client->connect_request.data = client;
    struct sockaddr_in address;
    assert_int_equal(uv_ip4_addr("127.0.0.1", port, &address), 0);
    assert_int_equal(uv_tcp_connect(&client->connect_request, &client->tcp,
                                    (const struct sockaddr *)&address, on_raw_connect),
                     0);
    WAIT_FOR(client->connected || client->ended);
    assert_true(client->connected);
    assert_int_equal(uv_read_start((uv_stream_t *)&client->tcp, on_raw_alloc, on_raw_read), 0);
    return client;
}

static void on_raw_written(uv_write_t *request, int status)
{
    free(request->data);
}

static void raw_write(struct raw_client *client, const void *bytes, size_t count)
{
    struct raw_write *write = malloc(sizeof *write + count);
    assert_non_null(write);
    memcpy(write->bytes, bytes, count);
    write->request.data = write;
    uv_buf_t buffer = uv_buf_init((char *)write->bytes, (unsigned int)count);
    assert_int_equal(
        uv_write(&write->request, (uv_stream_t *)&client->tcp, &buffer, 1, on_raw_written), 0);
}

static void raw_write_frame(struct raw_client *client, const struct peer_frame *frame)
{
    struct proto_buffer buffer;
    proto_buffer_init(&buffer, PROTO_BUFFER_DEFAULT_MAX_BYTES);
    assert_int_equal(peer_encode(&buffer, frame), PROTO_OK);
    raw_write(client, buffer.data, buffer.length);
    proto_buffer_free(&buffer);
}

/* Waits for one handshake frame from the transport and takes it off the input. */
static void raw_read_frame(struct raw_client *client, struct peer_frame *frame)
{
    struct peer_decoder decoder;
    assert_int_equal(peer_decoder_init(&decoder, 0), PROTO_OK);
    size_t consumed = 0;
    int rc = PEER_NEED_MORE;
    WAIT_FOR((rc = peer_decode(&decoder, client->input, client->input_length, &consumed, frame)) !=
                 PEER_NEED_MORE ||
             client->ended);
    assert_int_equal(rc, PEER_FRAME);
    assert_true(frame->type != PEER_FRAME_RAFT); /* would borrow the decoder's entries */
    memmove(client->input, client->input + consumed, client->input_length - consumed);
    client->input_length -= consumed;
    peer_decoder_free(&decoder);
}

static void on_raw_closed(uv_handle_t *handle)
{
    struct raw_client *client = handle->data;
    client->open = false;
}

static void raw_close_all(void)
{
    for (size_t i = 0; i < sizeof raw_clients / sizeof raw_clients[0]; i++) {
        if (raw_clients[i].open && !uv_is_closing((uv_handle_t *)&raw_clients[i].tcp)) {
            uv_close((uv_handle_t *)&raw_clients[i].tcp, on_raw_closed);
        }
    }
}

/* Plays node `id` through the handshake with the transport of node `acceptor`; the raw
 * client proves itself with `secret` and checks the acceptor's proof. */
static void raw_handshake(struct raw_client *client, raft_node_id id, raft_node_id acceptor,
                          const char *secret)
{
    const struct transport_config *config = &nodes[acceptor].config;
    struct peer_frame hello = {.type = PEER_FRAME_HELLO};
    memcpy(hello.hello.cluster_id, config->cluster_id, PEER_CLUSTER_ID_BYTES);
    hello.hello.node_id = id;
    memset(hello.hello.challenge, 0x5a, PEER_CHALLENGE_BYTES);
    hello.hello.protocol_version = PEER_PROTOCOL_VERSION;
    raw_write_frame(client, &hello);
    struct peer_frame reply;
    raw_read_frame(client, &reply);
    assert_int_equal(reply.type, PEER_FRAME_HELLO_REPLY);
    assert_int_equal(reply.auth.node_id, acceptor);
    const uint8_t *key = (const uint8_t *)secret;
    assert_int_equal(peer_auth_verify(key, strlen(secret), hello.hello.challenge, acceptor, id,
                                      config->cluster_id, reply.auth.mac),
                     PROTO_OK);
    struct peer_frame auth = {.type = PEER_FRAME_AUTH};
    auth.auth.node_id = id;
    assert_int_equal(peer_auth_compute(key, strlen(secret), reply.auth.challenge, id, acceptor,
                                       config->cluster_id, auth.auth.mac),
                     PROTO_OK);
    raw_write_frame(client, &auth);
}

static int teardown_with_raw_clients(void **state)
{
    raw_close_all();
    return teardown(state);
}

/* ---- tests ---- */

static void start_pair(uint8_t cluster_byte, const char *secret)
{
    node_configure(1, 2, cluster_byte, secret);
    node_configure(2, 2, cluster_byte, secret);
    node_start(1);
    node_start(2);
}

static void handshake_then_messages_flow_both_ways(void **state)
{
    start_pair(0xc1, NULL);
    WAIT_FOR(linked(1, 2));
    assert_int_equal(nodes[1].up_count, 1);
    assert_int_equal(nodes[2].up_count, 1);

    uint8_t big[3000];
    for (size_t i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t)(i * 7);
    }
    struct raft_entry entries[3] = {
        {.term = 6,
         .index = 10,
         .type = RAFT_ENTRY_COMMAND,
         .data_bytes = 5,
         .data = (uint8_t *)"alpha"},
        {.term = 7, .index = 11, .type = RAFT_ENTRY_NOOP},
        {.term = 7, .index = 12, .type = RAFT_ENTRY_COMMAND, .data_bytes = sizeof big, .data = big},
    };
    struct raft_message append = message_between(1, 2, RAFT_MSG_APPEND);
    append.index = 9;
    append.log_term = 6;
    append.entry_count = 3;
    append.entries = entries;
    assert_int_equal(transport_send(nodes[1].transport, &append), TRANSPORT_OK);
    struct raft_message response = message_between(2, 1, RAFT_MSG_APPEND_RESPONSE);
    response.reject = true;
    response.hint_index = 4;
    response.hint_term = 3;
    assert_int_equal(transport_send(nodes[2].transport, &response), TRANSPORT_OK);
    WAIT_FOR(nodes[2].received_count == 1 && nodes[1].received_count == 1);

    const struct raft_message *got = &nodes[2].received[0];
    assert_int_equal(got->type, RAFT_MSG_APPEND);
    assert_int_equal(got->from, 1);
    assert_int_equal(got->to, 2);
    assert_int_equal(got->index, 9);
    assert_int_equal(got->entry_count, 3);
    assert_memory_equal(got->entries[0].data, "alpha", 5);
    assert_int_equal(got->entries[1].type, RAFT_ENTRY_NOOP);
    assert_int_equal(got->entries[1].data_bytes, 0);
    assert_int_equal(got->entries[2].index, 12);
    assert_int_equal(got->entries[2].data_bytes, sizeof big);
    assert_memory_equal(got->entries[2].data, big, sizeof big);
    got = &nodes[1].received[0];
    assert_int_equal(got->type, RAFT_MSG_APPEND_RESPONSE);
    assert_true(got->reject);
    assert_int_equal(got->hint_index, 4);
    assert_int_equal(got->hint_term, 3);
    assert_int_equal(nodes[1].unreachable_count + nodes[2].unreachable_count, 0);
}

static void three_nodes_link_pairwise_and_keep_order(void **state)
{
    for (raft_node_id id = 1; id <= 3; id++) {
        node_configure(id, 3, 0xc3, secret_text);
        node_start(id);
    }
    WAIT_FOR(linked(1, 2) && linked(1, 3) && linked(2, 3));
    for (uint64_t round = 0; round < 20; round++) {
        struct raft_message heartbeat = message_between(3, 1, RAFT_MSG_HEARTBEAT);
        heartbeat.commit = round;
        assert_int_equal(transport_send(nodes[3].transport, &heartbeat), TRANSPORT_OK);
    }
    struct raft_message vote = message_between(2, 3, RAFT_MSG_VOTE);
    assert_int_equal(transport_send(nodes[2].transport, &vote), TRANSPORT_OK);
    WAIT_FOR(nodes[1].received_count == 20 && nodes[3].received_count == 1);
    for (uint64_t round = 0; round < 20; round++) {
        assert_int_equal(nodes[1].received[round].commit, round); /* in order */
        assert_int_equal(nodes[1].received[round].from, 3);
    }
    assert_int_equal(nodes[3].received[0].type, RAFT_MSG_VOTE);
    assert_int_equal(nodes[3].received[0].from, 2);
}

static void message_to_a_down_peer_is_dropped_as_unreachable(void **state)
{
    node_configure(1, 2, 0xd0, NULL);
    node_start(1);
    struct raft_message vote = message_between(1, 2, RAFT_MSG_VOTE);
    assert_int_equal(transport_send(nodes[1].transport, &vote), TRANSPORT_ERROR_NOT_CONNECTED);
    assert_int_equal(nodes[1].unreachable_count, 1);
    run_for_ms(300); /* several dials fail meanwhile */
    assert_false(transport_peer_connected(nodes[1].transport, 2));
    assert_int_equal(transport_send(nodes[1].transport, &vote), TRANSPORT_ERROR_NOT_CONNECTED);
    assert_int_equal(nodes[1].unreachable_count, 2);
    assert_int_equal(nodes[1].up_count, 0);
}

static void invalid_sends_are_refused_without_dropping(void **state)
{
    node_configure(1, 2, 0xd1, NULL);
    node_start(1);
    struct raft_message to_stranger = message_between(1, 9, RAFT_MSG_VOTE);
    assert_int_equal(transport_send(nodes[1].transport, &to_stranger), TRANSPORT_ERROR_INVALID);
    struct raft_message forged = message_between(2, 2, RAFT_MSG_VOTE);
    assert_int_equal(transport_send(nodes[1].transport, &forged), TRANSPORT_ERROR_INVALID);
    struct raft_message without_data = message_between(1, 2, RAFT_MSG_SNAPSHOT);
    assert_int_equal(transport_send(nodes[1].transport, &without_data), TRANSPORT_ERROR_INVALID);
    struct raft_message not_snapshot = message_between(1, 2, RAFT_MSG_VOTE);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &not_snapshot, "/dev/null"),
                     TRANSPORT_ERROR_INVALID);
    struct raft_message snapshot = message_between(1, 2, RAFT_MSG_SNAPSHOT);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &snapshot, "/dev/null"),
                     TRANSPORT_ERROR_NOT_CONNECTED);
    assert_int_equal(nodes[1].unreachable_count, 0);
    assert_int_equal(transport_peer_send_buffer_bytes(nodes[1].transport, 2), 0);
}

static void invalid_configurations_are_refused(void **state)
{
    struct transport_callbacks callbacks = {
        .on_message = on_message,
        .on_unreachable = on_unreachable,
        .on_snapshot_sent = on_snapshot_sent,
    };
    struct transport *transport = NULL;
    struct transport_config *config = node_configure(1, 3, 0xd2, NULL);
    config->peers[1].id = 2; /* a duplicate id */
    assert_int_equal(transport_start(&loop, config, &callbacks, &transport),
                     TRANSPORT_ERROR_INVALID);
    config = node_configure(1, 2, 0xd2, NULL);
    snprintf(config->peers[0].host, sizeof config->peers[0].host, "localhost"); /* not numeric */
    assert_int_equal(transport_start(&loop, config, &callbacks, &transport),
                     TRANSPORT_ERROR_INVALID);
    config = node_configure(1, 2, 0xd2, NULL);
    config->max_send_buffer_bytes = config->snapshot_chunk_bytes; /* no room for two chunks */
    assert_int_equal(transport_start(&loop, config, &callbacks, &transport),
                     TRANSPORT_ERROR_INVALID);
    config = node_configure(1, 2, 0xd2, NULL);
    config->peers[0].id = 1; /* ourselves */
    assert_int_equal(transport_start(&loop, config, &callbacks, &transport),
                     TRANSPORT_ERROR_INVALID);
    assert_null(transport);
    assert_string_equal(transport_error_string(TRANSPORT_ERROR_BUSY), "TRANSPORT_ERROR_BUSY");
    assert_string_equal(transport_error_string(-99), "unknown");
}

static void a_busy_port_fails_to_listen(void **state)
{
    node_configure(1, 2, 0xd3, NULL);
    node_start(1);
    struct transport_callbacks callbacks = {
        .on_message = on_message,
        .on_unreachable = on_unreachable,
        .on_snapshot_sent = on_snapshot_sent,
    };
    struct transport *second = NULL;
    assert_int_equal(transport_start(&loop, &nodes[1].config, &callbacks, &second),
                     TRANSPORT_ERROR_LISTEN);
    assert_null(second); /* its handles close, and free it, as the loop runs */
}

static void a_node_of_another_cluster_is_refused(void **state)
{
    node_configure(1, 2, 0xaa, NULL);
    node_configure(2, 2, 0xbb, NULL);
    node_start(1);
    node_start(2);
    run_for_ms(700);
    assert_int_equal(nodes[1].up_count, 0);
    assert_int_equal(nodes[2].up_count, 0);
    struct raft_message vote = message_between(2, 1, RAFT_MSG_VOTE);
    assert_int_equal(transport_send(nodes[2].transport, &vote), TRANSPORT_ERROR_NOT_CONNECTED);
}

static void a_wrong_secret_is_refused_and_the_right_one_connects(void **state)
{
    node_configure(1, 2, 0xe1, secret_text);
    node_configure(2, 2, 0xe1, "a wrong secret");
    node_start(1);
    node_start(2);
    run_for_ms(700);
    assert_int_equal(nodes[1].up_count + nodes[2].up_count, 0);

    node_stop(2);
    node_configure(2, 2, 0xe1, secret_text);
    node_start(2);
    WAIT_FOR(linked(1, 2)); /* within the 2 s backoff ceiling */
}

static void a_node_without_the_secret_is_refused(void **state)
{
    node_configure(1, 2, 0xe2, secret_text);
    node_configure(2, 2, 0xe2, NULL);
    node_start(1);
    node_start(2);
    run_for_ms(700);
    assert_int_equal(nodes[1].up_count + nodes[2].up_count, 0);
}

/* The dialer without a secret checks nothing, so it believes the link is up until the
 * acceptor refuses its AUTH and closes; it must keep backing off rather than re-dial at the
 * 50 ms floor. Within 700 ms the jittered delays (at least 25, 50, 100, 200 ms) allow at most
 * five dials, where a reset backoff would allow about fourteen. */
static void a_dialer_without_the_secret_is_refused_and_backs_off(void **state)
{
    node_configure(1, 2, 0xe3, NULL);
    node_configure(2, 2, 0xe3, secret_text);
    node_start(1);
    node_start(2);
    run_for_ms(700);
    assert_int_equal(nodes[2].up_count, 0);
    assert_true(nodes[1].up_count >= 1);
    assert_true(nodes[1].up_count <= 5);
}

static void both_sides_reconnect_after_a_restart(void **state)
{
    start_pair(0xf0, secret_text);
    WAIT_FOR(linked(1, 2));

    node_stop(2); /* the dialer goes away and comes back */
    WAIT_FOR(!transport_peer_connected(nodes[1].transport, 2));
    assert_int_equal(nodes[1].down_count, 1);
    node_start(2);
    WAIT_FOR(linked(1, 2));
    struct raft_message heartbeat = message_between(1, 2, RAFT_MSG_HEARTBEAT);
    assert_int_equal(transport_send(nodes[1].transport, &heartbeat), TRANSPORT_OK);
    WAIT_FOR(nodes[2].received_count == 1);

    node_stop(1); /* the acceptor goes away; the dialer re-dials with backoff */
    WAIT_FOR(!transport_peer_connected(nodes[2].transport, 1));
    run_for_ms(300);
    node_start(1);
    WAIT_FOR(linked(1, 2));
    struct raft_message response = message_between(2, 1, RAFT_MSG_HEARTBEAT_RESPONSE);
    assert_int_equal(transport_send(nodes[2].transport, &response), TRANSPORT_OK);
    WAIT_FOR(nodes[1].received_count == 1);
    assert_int_equal(nodes[1].received[0].type, RAFT_MSG_HEARTBEAT_RESPONSE);
}

static void write_pattern_file(const char *path, size_t size, uint64_t seed)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    uint64_t state = seed;
    for (size_t i = 0; i < size; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        assert_int_equal(fputc((int)(state >> 56), file), (int)(uint8_t)(state >> 56));
    }
    assert_int_equal(fclose(file), 0);
}

static struct raft_message snapshot_message(uint64_t index, uint64_t term)
{
    struct raft_message message = message_between(1, 2, RAFT_MSG_SNAPSHOT);
    message.snapshot.index = index;
    message.snapshot.term = term;
    message.snapshot.configuration.voter_count = 2;
    message.snapshot.configuration.voters[0] = 1;
    message.snapshot.configuration.voters[1] = 2;
    return message;
}

static void a_snapshot_streams_and_arrives_byte_identical(void **state)
{
    node_configure(1, 2, 0x5a, secret_text)->snapshot_chunk_bytes = 64 * 1024;
    node_configure(2, 2, 0x5a, secret_text);
    node_start(1);
    node_start(2);
    WAIT_FOR(linked(1, 2));
    char path[512];
    snprintf(path, sizeof path, "%s/outgoing.snapshot", directory);
    size_t size = 3 * 1024 * 1024 + 123; /* not a multiple of the chunk */
    write_pattern_file(path, size, 42);

    struct raft_message message = snapshot_message(900, 4);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, path), TRANSPORT_OK);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, path),
                     TRANSPORT_ERROR_BUSY);
    struct raft_message heartbeat = message_between(1, 2, RAFT_MSG_HEARTBEAT);
    assert_int_equal(transport_send(nodes[1].transport, &heartbeat), TRANSPORT_OK);
    WAIT_FOR(nodes[1].snapshot_sent_count == 1 && nodes[2].snapshot_received_count == 1);
    assert_true(nodes[1].snapshot_sent_success);
    assert_int_equal(nodes[2].received_count, 2); /* the heartbeat and the snapshot */
    const struct raft_message *got = &nodes[2].received[1];
    assert_int_equal(got->type, RAFT_MSG_SNAPSHOT);
    assert_int_equal(got->snapshot.index, 900);
    assert_int_equal(got->snapshot.term, 4);
    assert_int_equal(got->snapshot.configuration.voter_count, 2);
    uint8_t *expected = NULL;
    size_t expected_size = 0;
    read_whole_file(path, &expected, &expected_size);
    assert_int_equal(nodes[2].snapshot_size, size);
    assert_memory_equal(nodes[2].snapshot_bytes, expected, size);
    free(expected);

    /* An empty snapshot is one empty last chunk; the stream slot is free again. */
    snprintf(path, sizeof path, "%s/empty.snapshot", directory);
    write_pattern_file(path, 0, 1);
    message = snapshot_message(901, 4);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, path), TRANSPORT_OK);
    WAIT_FOR(nodes[1].snapshot_sent_count == 2 && nodes[2].snapshot_received_count == 2);
    assert_int_equal(nodes[2].snapshot_size, 0);
    assert_int_equal(nodes[2].received[2].snapshot.index, 901);
}

static void a_missing_snapshot_file_fails_at_once(void **state)
{
    start_pair(0x5b, NULL);
    WAIT_FOR(linked(1, 2));
    struct raft_message message = snapshot_message(5, 1);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, "/nonexistent/file"),
                     TRANSPORT_ERROR_IO);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, directory),
                     TRANSPORT_ERROR_IO); /* a directory is not a snapshot */
    run_for_ms(50);
    assert_int_equal(nodes[1].snapshot_sent_count, 0);
    assert_true(linked(1, 2));
}

static void a_snapshot_fails_when_the_connection_drops(void **state)
{
    node_configure(1, 2, 0x5c, NULL)->snapshot_chunk_bytes = 16 * 1024;
    node_configure(2, 2, 0x5c, NULL);
    node_start(1);
    node_start(2);
    WAIT_FOR(linked(1, 2));
    char path[512];
    snprintf(path, sizeof path, "%s/big.snapshot", directory);
    write_pattern_file(path, 8 * 1024 * 1024, 7);
    struct raft_message message = snapshot_message(77, 2);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, path), TRANSPORT_OK);
    transport_stop(nodes[2].transport); /* before most of it could be written */
    nodes[2].transport = NULL;
    WAIT_FOR(nodes[1].snapshot_sent_count == 1);
    assert_false(nodes[1].snapshot_sent_success);
}

static void a_full_send_buffer_drops_messages_as_unreachable(void **state)
{
    struct transport_config *config = node_configure(1, 2, 0x77, NULL);
    config->snapshot_chunk_bytes = 16 * 1024;
    config->max_send_buffer_bytes = 64 * 1024;
    node_configure(2, 2, 0x77, NULL);
    nodes[2].count_only = true;
    node_start(1);
    node_start(2);
    WAIT_FOR(linked(1, 2));
    static uint8_t payload[20000];
    memset(payload, 0xab, sizeof payload);
    struct raft_entry entry = {
        .term = 1, .index = 1, .data_bytes = sizeof payload, .data = payload};
    uint32_t queued = 0;
    uint32_t sent = 0;
    /* The kernel takes what fits its socket buffer at once; the burst goes on (the loop does
     * not run, the peer does not read) until ours is full too. 4,000 x 20 kB is far beyond
     * any socket buffer. */
    for (int i = 0; i < 4000 && nodes[1].unreachable_count == 0; i++) {
        struct raft_message append = message_between(1, 2, RAFT_MSG_APPEND);
        append.entry_count = 1;
        append.entries = &entry;
        sent++;
        if (transport_send(nodes[1].transport, &append) == TRANSPORT_OK) {
            queued++;
        }
        assert_true(transport_peer_send_buffer_bytes(nodes[1].transport, 2) <= 64 * 1024);
    }
    assert_true(queued >= 1);
    assert_int_equal(nodes[1].unreachable_count, sent - queued);
    assert_true(nodes[1].unreachable_count > 0);
    WAIT_FOR(nodes[2].received_count == queued);
    WAIT_FOR(transport_peer_send_buffer_bytes(nodes[1].transport, 2) == 0);
    assert_true(linked(1, 2));
}

static void garbage_bytes_disconnect_the_sender_and_the_rest_keeps_working(void **state)
{
    start_pair(0x99, NULL);
    WAIT_FOR(linked(1, 2));
    struct raw_client *client = raw_connect(0, ports[1]);
    static const char garbage[] = "GET / HTTP/1.1\r\nHost: raftkv\r\n\r\n";
    raw_write(client, garbage, sizeof garbage - 1);
    WAIT_FOR(client->ended);
    struct raw_client *big_header = raw_connect(1, ports[2]);
    /* A valid header announcing a payload far above the pre-handshake limit. */
    uint8_t header[PEER_HEADER_BYTES] = {
        'R', 'K', 'V', 'P', PEER_FRAME_VERSION, PEER_FRAME_HELLO, 0, 0, 0, 0, 0, 1};
    raw_write(big_header, header, sizeof header);
    WAIT_FOR(big_header->ended);
    assert_true(linked(1, 2));
    struct raft_message vote = message_between(2, 1, RAFT_MSG_VOTE);
    assert_int_equal(transport_send(nodes[2].transport, &vote), TRANSPORT_OK);
    WAIT_FOR(nodes[1].received_count == 1);
    assert_int_equal(nodes[1].down_count + nodes[2].down_count, 0);
}

static void a_silent_connection_is_closed_after_the_handshake_timeout(void **state)
{
    node_configure(1, 2, 0x31, NULL)->handshake_timeout_ms = 200;
    node_start(1);
    struct raw_client *client = raw_connect(0, ports[1]);
    run_for_ms(100);
    assert_false(client->ended);
    WAIT_FOR(client->ended);
}

static void hello_with_our_own_id_is_refused(void **state)
{
    node_configure(1, 3, 0x32, NULL);
    node_start(1);
    const raft_node_id refused[] = {1 /* ourselves */};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct raw_client *client = raw_connect(0, ports[1]);
        struct peer_frame hello = {.type = PEER_FRAME_HELLO};
        memcpy(hello.hello.cluster_id, nodes[1].config.cluster_id, PEER_CLUSTER_ID_BYTES);
        hello.hello.node_id = refused[i];
        hello.hello.protocol_version = PEER_PROTOCOL_VERSION;
        raw_write_frame(client, &hello);
        WAIT_FOR(client->ended);
        assert_int_equal(client->input_length, 0); /* no HELLO_REPLY */
        raw_close_all();
        WAIT_FOR(!client->open);
    }
    assert_int_equal(nodes[1].up_count, 0);
}

/* Membership: set_peers dials a new peer, and forgets (disconnects) a departed one. */
static void set_peers_connects_new_peers_and_drops_departed_ones(void **state)
{
    start_pair(0x41, secret_text);
    node_configure(3, 3, 0x41, secret_text);
    node_start(3);
    WAIT_FOR(linked(1, 2));
    assert_false(transport_peer_connected(nodes[1].transport, 3));
    struct transport_peer_address peers[2] = {nodes[1].config.peers[0]};
    peers[1].id = 3;
    snprintf(peers[1].host, sizeof peers[1].host, "127.0.0.1");
    peers[1].port = ports[3];
    assert_int_equal(transport_set_peers(nodes[1].transport, peers, 2), TRANSPORT_OK);
    WAIT_FOR(linked(1, 3) && linked(1, 2));
    struct raft_message heartbeat = message_between(1, 3, RAFT_MSG_HEARTBEAT);
    assert_int_equal(transport_send(nodes[1].transport, &heartbeat), TRANSPORT_OK);
    WAIT_FOR(nodes[3].received_count == 1);
    /* 1 and 2 forget each other: the link goes, and neither dials again. */
    assert_int_equal(transport_set_peers(nodes[1].transport, &peers[1], 1), TRANSPORT_OK);
    assert_int_equal(transport_set_peers(nodes[2].transport, &peers[1], 1), TRANSPORT_OK);
    WAIT_FOR(!transport_peer_connected(nodes[1].transport, 2) &&
             !transport_peer_connected(nodes[2].transport, 1));
    run_for_ms(200);
    assert_false(transport_peer_connected(nodes[1].transport, 2));
    assert_true(linked(1, 3));
    struct raft_message to_departed = message_between(1, 2, RAFT_MSG_HEARTBEAT);
    assert_int_equal(transport_send(nodes[1].transport, &to_departed), TRANSPORT_ERROR_INVALID);
    struct transport_peer_address bad = peers[1];
    bad.id = 1; /* ourselves */
    assert_int_equal(transport_set_peers(nodes[1].transport, &bad, 1), TRANSPORT_ERROR_INVALID);
    assert_true(transport_peer_connected(nodes[1].transport, 3)); /* nothing changed */
}

/* A node waiting to join knows no peer: a node that dials it and authenticates is accepted
 * (the leader of the cluster it joins) and leaves the table when its connection closes. A
 * node that was down while a higher id joined does not know that id either: the higher one
 * dials it after a second (the fallback direction) and is accepted the same way. */
static void an_unlisted_dialer_is_accepted_once_it_authenticates(void **state)
{
    node_configure(1, 3, 0x42, secret_text);
    node_configure(3, 3, 0x42, secret_text)->peer_count = 0; /* knows nobody */
    node_start(3);
    node_start(1);
    WAIT_FOR(transport_peer_connected(nodes[3].transport, 1));
    struct raft_message heartbeat = message_between(1, 3, RAFT_MSG_HEARTBEAT);
    assert_int_equal(transport_send(nodes[1].transport, &heartbeat), TRANSPORT_OK);
    WAIT_FOR(nodes[3].received_count == 1);
    struct raft_message reply = message_between(3, 1, RAFT_MSG_HEARTBEAT_RESPONSE);
    assert_int_equal(transport_send(nodes[3].transport, &reply), TRANSPORT_OK);
    WAIT_FOR(nodes[1].received_count == 1);
    node_stop(1);
    WAIT_FOR(!transport_peer_connected(nodes[3].transport, 1));
    run_for_ms(50);
    struct raft_message gone = message_between(3, 1, RAFT_MSG_HEARTBEAT_RESPONSE);
    assert_int_equal(transport_send(nodes[3].transport, &gone), TRANSPORT_ERROR_INVALID);
    /* Node 2 (above 1) knows 1; node 1 was "down" and knows nobody: 2 dials it. */
    node_stop(3);
    node_configure(1, 3, 0x42, secret_text)->peer_count = 0;
    node_configure(2, 2, 0x42, secret_text);
    node_start(1);
    node_start(2);
    WAIT_FOR(linked(1, 2));
}

/* Both sides of a pair dial when neither link comes up in time; of the two links, both keep
 * the one the lower id dialed, and exactly one stays. */
static void two_links_to_one_peer_settle_on_the_one_the_lower_id_dialed(void **state)
{
    start_pair(0x43, secret_text);
    WAIT_FOR(linked(1, 2));
    /* Node 2 forgets and relearns 1: it dials it after the fallback delay, while 1's link
     * (dialed by the lower id) is up; the new link gives way to it. */
    struct transport_peer_address one = {.id = 1, .port = ports[1]};
    snprintf(one.host, sizeof one.host, "127.0.0.1");
    run_for_ms(1500);
    assert_true(linked(1, 2));
    struct raft_message heartbeat = message_between(2, 1, RAFT_MSG_HEARTBEAT);
    assert_int_equal(transport_send(nodes[2].transport, &heartbeat), TRANSPORT_OK);
    WAIT_FOR(nodes[1].received_count == 1);
    assert_int_equal(transport_set_peers(nodes[2].transport, &one, 1), TRANSPORT_OK);
    assert_true(linked(1, 2));
}

static void a_raft_frame_before_authentication_is_refused(void **state)
{
    node_configure(2, 3, 0x33, NULL);
    node_start(2);
    struct raw_client *client = raw_connect(0, ports[2]);
    struct raft_message vote = message_between(1, 2, RAFT_MSG_VOTE);
    struct peer_frame frame = {.type = PEER_FRAME_RAFT, .raft = vote};
    raw_write_frame(client, &frame);
    WAIT_FOR(client->ended);
    assert_int_equal(nodes[2].received_count, 0);
}

static void an_impostor_without_the_secret_is_refused(void **state)
{
    node_configure(2, 3, 0x34, secret_text);
    node_start(2);
    struct raw_client *client = raw_connect(0, ports[2]);
    struct peer_frame hello = {.type = PEER_FRAME_HELLO};
    memcpy(hello.hello.cluster_id, nodes[2].config.cluster_id, PEER_CLUSTER_ID_BYTES);
    hello.hello.node_id = 1;
    hello.hello.protocol_version = PEER_PROTOCOL_VERSION;
    raw_write_frame(client, &hello);
    struct peer_frame reply;
    raw_read_frame(client, &reply);
    assert_int_equal(reply.type, PEER_FRAME_HELLO_REPLY);
    struct peer_frame auth = {.type = PEER_FRAME_AUTH}; /* a MAC of zeros */
    auth.auth.node_id = 1;
    raw_write_frame(client, &auth);
    WAIT_FOR(client->ended);
    assert_int_equal(nodes[2].up_count, 0);
}

static void a_frame_with_a_forged_sender_closes_the_connection(void **state)
{
    node_configure(2, 3, 0x35, secret_text);
    node_start(2);
    struct raw_client *client = raw_connect(0, ports[2]);
    raw_handshake(client, 1, 2, secret_text);
    WAIT_FOR(nodes[2].up_count == 1);
    struct raft_message honest = message_between(1, 2, RAFT_MSG_HEARTBEAT);
    struct peer_frame frame = {.type = PEER_FRAME_RAFT, .raft = honest};
    raw_write_frame(client, &frame);
    WAIT_FOR(nodes[2].received_count == 1);
    assert_int_equal(nodes[2].received[0].from, 1);
    frame.raft.from = 3; /* node 1's link speaking for node 3 */
    raw_write_frame(client, &frame);
    WAIT_FOR(client->ended);
    assert_int_equal(nodes[2].received_count, 1);
    assert_int_equal(nodes[2].down_count, 1);
}

static void a_new_authenticated_connection_replaces_the_old_one(void **state)
{
    node_configure(2, 3, 0x36, secret_text);
    node_start(2);
    struct raw_client *first = raw_connect(0, ports[2]);
    raw_handshake(first, 1, 2, secret_text);
    WAIT_FOR(nodes[2].up_count == 1);
    struct raw_client *second = raw_connect(1, ports[2]);
    raw_handshake(second, 1, 2, secret_text);
    WAIT_FOR(nodes[2].up_count == 2);
    WAIT_FOR(first->ended);
    assert_false(second->ended);
    assert_true(transport_peer_connected(nodes[2].transport, 1));
    struct raft_message vote = message_between(2, 1, RAFT_MSG_VOTE);
    assert_int_equal(transport_send(nodes[2].transport, &vote), TRANSPORT_OK);
    WAIT_FOR(second->input_length > 0); /* it arrives on the new connection */
}

/* ---- fault injection (transport_fault.c) ---- */

/* A pair where node 1 has the fault point (and node 2 too when `both`). */
static void start_faulty_pair(uint8_t cluster_byte, bool both)
{
    node_configure(1, 2, cluster_byte, NULL)->fault_injection = true;
    nodes[1].config.fault_seed = 7;
    node_configure(2, 2, cluster_byte, NULL)->fault_injection = both;
    node_start(1);
    node_start(2);
    WAIT_FOR(linked(1, 2));
}

static void send_heartbeats(raft_node_id from, raft_node_id to, uint64_t count)
{
    for (uint64_t round = 0; round < count; round++) {
        struct raft_message heartbeat = message_between(from, to, RAFT_MSG_HEARTBEAT);
        heartbeat.commit = round;
        assert_int_equal(transport_send(nodes[from].transport, &heartbeat), TRANSPORT_OK);
    }
}

static struct transport_peer_faults faults_of(raft_node_id node, raft_node_id peer)
{
    struct transport_peer_faults list[TRANSPORT_MAX_PEERS];
    uint32_t count = transport_fault_list(nodes[node].transport, list, TRANSPORT_MAX_PEERS);
    for (uint32_t i = 0; i < count; i++) {
        if (list[i].peer == peer) {
            return list[i];
        }
    }
    struct transport_peer_faults none = {0};
    return none;
}

static void faults_are_refused_unless_enabled(void **state)
{
    start_pair(0xf0, NULL);
    WAIT_FOR(linked(1, 2));
    struct transport *transport = nodes[1].transport;
    assert_false(transport_fault_enabled(transport));
    assert_int_equal(
        transport_fault_set(transport, 2, TRANSPORT_FAULT_BOTH, TRANSPORT_FAULT_CUT, 1),
        TRANSPORT_ERROR_DISABLED);
    assert_int_equal(transport_fault_heal(transport, RAFT_NODE_NONE), TRANSPORT_ERROR_DISABLED);
    assert_int_equal(transport_fault_seed(transport, 1), TRANSPORT_ERROR_DISABLED);
    struct transport_peer_faults list[TRANSPORT_MAX_PEERS];
    assert_int_equal(transport_fault_list(transport, list, TRANSPORT_MAX_PEERS), 0);
    send_heartbeats(1, 2, 1);
    WAIT_FOR(nodes[2].received_count == 1);
}

static void fault_values_are_checked_at_their_limits(void **state)
{
    start_faulty_pair(0xf1, false);
    struct transport *transport = nodes[1].transport;
    assert_int_equal(transport_fault_set(transport, 2, TRANSPORT_FAULT_OUT, TRANSPORT_FAULT_DELAY,
                                         TRANSPORT_FAULT_MAX_MS),
                     TRANSPORT_OK);
    assert_int_equal(transport_fault_set(transport, 2, TRANSPORT_FAULT_OUT, TRANSPORT_FAULT_DELAY,
                                         TRANSPORT_FAULT_MAX_MS + 1),
                     TRANSPORT_ERROR_INVALID);
    assert_int_equal(transport_fault_set(transport, 2, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_REORDER,
                                         TRANSPORT_FAULT_MAX_MS + 1),
                     TRANSPORT_ERROR_INVALID);
    assert_int_equal(
        transport_fault_set(transport, 2, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_LOSS, 100),
        TRANSPORT_OK);
    assert_int_equal(
        transport_fault_set(transport, 2, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_LOSS, 101),
        TRANSPORT_ERROR_INVALID);
    assert_int_equal(transport_fault_set(transport, 2, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_CUT, 2),
                     TRANSPORT_ERROR_INVALID);
    assert_int_equal(transport_fault_set(transport, 2, 0, TRANSPORT_FAULT_CUT, 1),
                     TRANSPORT_ERROR_INVALID);
    assert_int_equal(transport_fault_set(transport, 3, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_CUT, 1),
                     TRANSPORT_ERROR_UNKNOWN_PEER);
    assert_int_equal(transport_fault_set(transport, 1, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_CUT, 1),
                     TRANSPORT_ERROR_UNKNOWN_PEER); /* ourselves */
    assert_int_equal(transport_fault_heal(transport, 3), TRANSPORT_ERROR_UNKNOWN_PEER);
    struct transport_peer_faults faults = faults_of(1, 2);
    assert_int_equal(faults.out.delay_ms, TRANSPORT_FAULT_MAX_MS);
    assert_int_equal(faults.in.loss_percent, 100);
    assert_false(faults.in.cut);
    assert_int_equal(transport_fault_heal(transport, 2), TRANSPORT_OK);
    assert_int_equal(faults_of(1, 2).peer, 0); /* listed no more */
}

static void a_cut_drops_both_ways_and_keeps_the_connection(void **state)
{
    start_faulty_pair(0xf2, false);
    assert_int_equal(
        transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_BOTH, TRANSPORT_FAULT_CUT, 1),
        TRANSPORT_OK);
    send_heartbeats(1, 2, 3);
    send_heartbeats(2, 1, 4);
    run_for_ms(100);
    assert_int_equal(nodes[1].received_count + nodes[2].received_count, 0);
    assert_true(linked(1, 2)); /* a partition leaves the connection up */
    assert_int_equal(nodes[1].unreachable_count, 0);
    struct transport_peer_faults faults = faults_of(1, 2);
    assert_true(faults.in.cut && faults.out.cut);
    assert_int_equal(faults.dropped_out, 3);
    assert_int_equal(faults.dropped_in, 4);
    assert_int_equal(transport_fault_heal(nodes[1].transport, RAFT_NODE_NONE), TRANSPORT_OK);
    send_heartbeats(1, 2, 1);
    send_heartbeats(2, 1, 1);
    WAIT_FOR(nodes[1].received_count == 1 && nodes[2].received_count == 1);
}

static void a_one_way_cut_drops_one_direction_only(void **state)
{
    start_faulty_pair(0xf3, false);
    assert_int_equal(
        transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_CUT, 1),
        TRANSPORT_OK);
    send_heartbeats(1, 2, 2);
    send_heartbeats(2, 1, 2);
    WAIT_FOR(nodes[2].received_count == 2);
    run_for_ms(50);
    assert_int_equal(nodes[1].received_count, 0);
}

static void a_delay_holds_messages_and_delivers_them_in_order(void **state)
{
    start_faulty_pair(0xf4, true);
    assert_int_equal(
        transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_OUT, TRANSPORT_FAULT_DELAY, 150),
        TRANSPORT_OK);
    assert_int_equal(
        transport_fault_set(nodes[2].transport, 1, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_DELAY, 150),
        TRANSPORT_OK);
    uint64_t began_ms = uv_now(&loop);
    send_heartbeats(1, 2, 20);
    run_for_ms(100);
    assert_int_equal(nodes[2].received_count, 0);
    assert_int_equal(faults_of(1, 2).held_out, 20);
    WAIT_FOR(nodes[2].received_count == 20);
    uv_update_time(&loop);
    assert_true(uv_now(&loop) - began_ms >= 300); /* held out, then held in */
    for (uint64_t round = 0; round < 20; round++) {
        assert_int_equal(nodes[2].received[round].commit, round);
    }
    /* A shorter delay does not let new messages overtake held ones. */
    send_heartbeats(1, 2, 5);
    assert_int_equal(
        transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_OUT, TRANSPORT_FAULT_DELAY, 0),
        TRANSPORT_OK);
    send_heartbeats(1, 2, 5);
    WAIT_FOR(nodes[2].received_count == 30);
    for (uint64_t i = 0; i < 10; i++) {
        assert_int_equal(nodes[2].received[20 + i].commit, i % 5);
        assert_true(i < 5 || nodes[2].received[20 + i - 5].commit == i - 5);
    }
}

static void reordering_lets_later_messages_overtake_held_ones(void **state)
{
    start_faulty_pair(0xf5, false);
    assert_int_equal(transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_OUT,
                                         TRANSPORT_FAULT_REORDER, 200),
                     TRANSPORT_OK);
    send_heartbeats(1, 2, 40);
    WAIT_FOR(nodes[2].received_count == 40);
    bool seen[40] = {false};
    uint32_t inversions = 0;
    for (size_t i = 0; i < 40; i++) {
        uint64_t commit = nodes[2].received[i].commit;
        assert_true(commit < 40 && !seen[commit]); /* each exactly once */
        seen[commit] = true;
        inversions += i > 0 && commit < nodes[2].received[i - 1].commit ? 1 : 0;
    }
    assert_true(inversions > 0);
}

static void loss_drops_about_the_share_it_is_given(void **state)
{
    start_faulty_pair(0xf6, false);
    nodes[2].count_only = true;
    assert_int_equal(
        transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_OUT, TRANSPORT_FAULT_LOSS, 30),
        TRANSPORT_OK);
    send_heartbeats(1, 2, 400);
    struct transport_peer_faults faults = faults_of(1, 2); /* a loss is decided at the send */
    WAIT_FOR(nodes[2].received_count + faults.dropped_out == 400);
    /* 120 expected; a seeded generator, but any sane one stays within this. */
    assert_true(faults.dropped_out >= 80 && faults.dropped_out <= 160);
    assert_int_equal(
        transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_OUT, TRANSPORT_FAULT_LOSS, 100),
        TRANSPORT_OK);
    size_t before = nodes[2].received_count;
    send_heartbeats(1, 2, 50);
    run_for_ms(50);
    assert_int_equal(nodes[2].received_count, before);
    assert_int_equal(faults_of(1, 2).dropped_out, faults.dropped_out + 50);
}

static void held_messages_are_lost_with_their_connection(void **state)
{
    start_faulty_pair(0xf7, false);
    assert_int_equal(transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_OUT,
                                         TRANSPORT_FAULT_DELAY, 1000),
                     TRANSPORT_OK);
    send_heartbeats(1, 2, 3);
    assert_int_equal(faults_of(1, 2).held_out, 3);
    node_stop(2);
    WAIT_FOR(!transport_peer_connected(nodes[1].transport, 2));
    struct transport_peer_faults faults = faults_of(1, 2);
    assert_int_equal(faults.held_out, 0);
    assert_int_equal(faults.dropped_out, 3);
    node_start(2);
    WAIT_FOR(linked(1, 2));
    run_for_ms(1100);
    assert_int_equal(nodes[2].received_count, 0); /* nothing of the old connection arrives */
}

/* Held messages are bounded per direction by max_send_buffer_bytes: five frames that fill it
 * exactly are held, a sixth is dropped. */
static void held_messages_are_bounded_by_the_send_buffer(void **state)
{
    static uint8_t payload[8192];
    memset(payload, 0xcd, sizeof payload);
    struct raft_entry entry = {
        .term = 1, .index = 1, .data_bytes = sizeof payload, .data = payload};
    struct raft_message append = message_between(1, 2, RAFT_MSG_APPEND);
    append.entry_count = 1;
    append.entries = &entry;
    struct proto_buffer encoded;
    proto_buffer_init(&encoded, 1 << 20);
    struct peer_frame frame = {.type = PEER_FRAME_RAFT, .raft = append};
    assert_int_equal(peer_encode(&encoded, &frame), PROTO_OK);
    size_t frame_bytes = encoded.length;
    proto_buffer_free(&encoded);

    struct transport_config *config = node_configure(1, 2, 0xfa, NULL);
    config->fault_injection = true;
    config->snapshot_chunk_bytes = 16 * 1024;
    config->max_send_buffer_bytes = 5 * frame_bytes;
    node_configure(2, 2, 0xfa, NULL);
    node_start(1);
    node_start(2);
    WAIT_FOR(linked(1, 2));
    assert_int_equal(
        transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_OUT, TRANSPORT_FAULT_DELAY, 100),
        TRANSPORT_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(transport_send(nodes[1].transport, &append), TRANSPORT_OK);
    }
    assert_int_equal(faults_of(1, 2).held_out, 5); /* at the limit */
    assert_int_equal(faults_of(1, 2).dropped_out, 0);
    assert_int_equal(transport_send(nodes[1].transport, &append), TRANSPORT_OK);
    assert_int_equal(faults_of(1, 2).held_out, 5); /* one past: dropped */
    assert_int_equal(faults_of(1, 2).dropped_out, 1);
    WAIT_FOR(nodes[2].received_count == 5);
    assert_int_equal(nodes[2].received[4].entries[0].data_bytes, sizeof payload);
}

static void a_cut_abandons_a_snapshot_and_refuses_new_ones_until_healed(void **state)
{
    node_configure(1, 2, 0xf8, NULL)->snapshot_chunk_bytes = 16 * 1024;
    nodes[1].config.fault_injection = true;
    node_configure(2, 2, 0xf8, NULL);
    node_start(1);
    node_start(2);
    WAIT_FOR(linked(1, 2));
    char path[512];
    snprintf(path, sizeof path, "%s/cut.snapshot", directory);
    write_pattern_file(path, 4 * 1024 * 1024, 9);
    struct raft_message message = snapshot_message(50, 3);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, path), TRANSPORT_OK);
    assert_int_equal(
        transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_OUT, TRANSPORT_FAULT_CUT, 1),
        TRANSPORT_OK);
    assert_int_equal(nodes[1].snapshot_sent_count, 1);
    assert_false(nodes[1].snapshot_sent_success);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, path),
                     TRANSPORT_ERROR_NOT_CONNECTED);
    run_for_ms(200);
    assert_int_equal(nodes[2].snapshot_received_count, 0);
    assert_int_equal(transport_fault_heal(nodes[1].transport, 2), TRANSPORT_OK);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, path), TRANSPORT_OK);
    WAIT_FOR(nodes[1].snapshot_sent_count == 2 && nodes[2].snapshot_received_count == 1);
    assert_true(nodes[1].snapshot_sent_success);
    assert_int_equal(nodes[2].snapshot_size, 4 * 1024 * 1024);
}

static void a_snapshot_cut_on_its_way_in_is_lost_then_resent_whole(void **state)
{
    node_configure(1, 2, 0xf9, NULL)->snapshot_chunk_bytes = 16 * 1024;
    node_configure(2, 2, 0xf9, NULL)->fault_injection = true;
    node_start(1);
    node_start(2);
    WAIT_FOR(linked(1, 2));
    char path[512];
    snprintf(path, sizeof path, "%s/in.snapshot", directory);
    write_pattern_file(path, 1024 * 1024, 11);
    assert_int_equal(
        transport_fault_set(nodes[2].transport, 1, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_CUT, 1),
        TRANSPORT_OK);
    struct raft_message message = snapshot_message(60, 3);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, path), TRANSPORT_OK);
    WAIT_FOR(nodes[1].snapshot_sent_count == 1); /* the sender cannot tell */
    run_for_ms(100);
    assert_int_equal(nodes[2].snapshot_received_count, 0);
    assert_true(faults_of(2, 1).dropped_in >= 64); /* every chunk and the message */
    assert_int_equal(transport_fault_heal(nodes[2].transport, RAFT_NODE_NONE), TRANSPORT_OK);
    assert_int_equal(transport_send_snapshot(nodes[1].transport, &message, path), TRANSPORT_OK);
    WAIT_FOR(nodes[2].snapshot_received_count == 1);
    assert_int_equal(nodes[2].snapshot_size, 1024 * 1024);
}

/* Every code in TRANSPORT_ERRORS has its own text, and values beyond the list fall back. */
/* ---- the lecture's foil modes: REPLICA frames and the mode in HELLO ---- */

static struct peer_replica replica_between(raft_node_id from, raft_node_id to,
                                           struct peer_replica_item *item)
{
    *item = (struct peer_replica_item){.stamp = {.physical_ms = 1, .logical = 2, .node = from},
                                       .key_bytes = 1,
                                       .key = (const uint8_t *)"k",
                                       .value_bytes = 5,
                                       .value = (const uint8_t *)"hello"};
    return (struct peer_replica){
        .kind = PEER_REPLICA_PUT, .from = from, .to = to, .item_count = 1, .items = item};
}

static void replica_frames_reach_a_host_of_the_same_foil_mode(void **state)
{
    for (raft_node_id id = 1; id <= 2; id++) {
        node_configure(id, 2, 0xd1, secret_text)->replication_mode = 2;
        nodes[id].takes_replica = true;
        node_start(id);
    }
    WAIT_FOR(linked(1, 2));
    struct peer_replica_item item;
    struct peer_replica message = replica_between(1, 2, &item);
    assert_int_equal(transport_send_replica(nodes[1].transport, &message), TRANSPORT_OK);
    WAIT_FOR(nodes[2].replica_count == 1);
    assert_string_equal(nodes[2].replica_value, "hello");
    message.from = 2; /* not ours to send */
    assert_int_equal(transport_send_replica(nodes[1].transport, &message), TRANSPORT_ERROR_INVALID);
}

static void nodes_of_different_replication_modes_never_link(void **state)
{
    node_configure(1, 2, 0xd2, secret_text)->replication_mode = 1;
    node_configure(2, 2, 0xd2, secret_text); /* Raft */
    nodes[1].takes_replica = true;
    node_start(1);
    node_start(2);
    run_for_ms(700);
    assert_int_equal(nodes[1].up_count, 0);
    assert_int_equal(nodes[2].up_count, 0);
    struct peer_replica_item item;
    struct peer_replica message = replica_between(1, 2, &item);
    assert_int_equal(transport_send_replica(nodes[1].transport, &message),
                     TRANSPORT_ERROR_NOT_CONNECTED);
}

static void replica_frames_pass_the_fault_point(void **state)
{
    for (raft_node_id id = 1; id <= 2; id++) {
        struct transport_config *config = node_configure(id, 2, 0xd4, secret_text);
        config->replication_mode = 1;
        config->fault_injection = true;
        nodes[id].takes_replica = true;
        node_start(id);
    }
    WAIT_FOR(linked(1, 2));
    assert_int_equal(
        transport_fault_set(nodes[1].transport, 2, TRANSPORT_FAULT_OUT, TRANSPORT_FAULT_CUT, 1),
        TRANSPORT_OK);
    struct peer_replica_item item;
    struct peer_replica message = replica_between(1, 2, &item);
    assert_int_equal(transport_send_replica(nodes[1].transport, &message), TRANSPORT_OK);
    run_for_ms(200);
    assert_int_equal(nodes[2].replica_count, 0); /* cut: dropped, the link still up */
    assert_true(linked(1, 2));
    assert_int_equal(
        transport_fault_set(nodes[2].transport, 1, TRANSPORT_FAULT_IN, TRANSPORT_FAULT_DELAY, 100),
        TRANSPORT_OK);
    assert_int_equal(transport_fault_heal(nodes[1].transport, 2), TRANSPORT_OK);
    assert_int_equal(transport_send_replica(nodes[1].transport, &message), TRANSPORT_OK);
    run_for_ms(30);
    assert_int_equal(nodes[2].replica_count, 0); /* held on the way in ... */
    WAIT_FOR(nodes[2].replica_count == 1);       /* ... and delivered to on_replica */
    assert_string_equal(nodes[2].replica_value, "hello");
}

static void a_replica_frame_to_a_raft_host_closes_the_link(void **state)
{
    start_pair(0xd3, secret_text);
    WAIT_FOR(linked(1, 2));
    struct peer_replica_item item;
    struct peer_replica message = replica_between(1, 2, &item);
    assert_int_equal(transport_send_replica(nodes[1].transport, &message), TRANSPORT_OK);
    WAIT_FOR(nodes[2].down_count >= 1);
    assert_int_equal(nodes[2].replica_count, 0);
}

static void error_names_cover_every_code(void **state)
{
    (void)state;
    int lowest = 0;
#define TRANSPORT_CHECK_CODE(name, value, text)                                                    \
    assert_int_equal(name, value);                                                                 \
    assert_true(text[0] != '\0');                                                                  \
    assert_string_not_equal(text, "unknown");                                                      \
    assert_string_equal(transport_error_string(value), text);                                      \
    lowest = value < lowest ? value : lowest;
    TRANSPORT_ERRORS(TRANSPORT_CHECK_CODE)
#undef TRANSPORT_CHECK_CODE
    assert_string_equal(transport_error_string(lowest - 1), "unknown");
    assert_string_equal(transport_error_string(1), "unknown");
}

int main(void)
{
    alarm(TEST_ALARM_S); /* a hang past every bounded wait still ends the run */
#define TRANSPORT_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown_with_raw_clients)
    const struct CMUnitTest tests[] = {
        TRANSPORT_TEST(handshake_then_messages_flow_both_ways),
        TRANSPORT_TEST(three_nodes_link_pairwise_and_keep_order),
        TRANSPORT_TEST(message_to_a_down_peer_is_dropped_as_unreachable),
        TRANSPORT_TEST(invalid_sends_are_refused_without_dropping),
        TRANSPORT_TEST(invalid_configurations_are_refused),
        TRANSPORT_TEST(a_busy_port_fails_to_listen),
        TRANSPORT_TEST(a_node_of_another_cluster_is_refused),
        TRANSPORT_TEST(a_wrong_secret_is_refused_and_the_right_one_connects),
        TRANSPORT_TEST(a_node_without_the_secret_is_refused),
        TRANSPORT_TEST(a_dialer_without_the_secret_is_refused_and_backs_off),
        TRANSPORT_TEST(both_sides_reconnect_after_a_restart),
        TRANSPORT_TEST(a_snapshot_streams_and_arrives_byte_identical),
        TRANSPORT_TEST(a_missing_snapshot_file_fails_at_once),
        TRANSPORT_TEST(a_snapshot_fails_when_the_connection_drops),
        TRANSPORT_TEST(a_full_send_buffer_drops_messages_as_unreachable),
        TRANSPORT_TEST(garbage_bytes_disconnect_the_sender_and_the_rest_keeps_working),
        TRANSPORT_TEST(a_silent_connection_is_closed_after_the_handshake_timeout),
        TRANSPORT_TEST(hello_with_our_own_id_is_refused),
        TRANSPORT_TEST(set_peers_connects_new_peers_and_drops_departed_ones),
        TRANSPORT_TEST(an_unlisted_dialer_is_accepted_once_it_authenticates),
        TRANSPORT_TEST(two_links_to_one_peer_settle_on_the_one_the_lower_id_dialed),
        TRANSPORT_TEST(a_raft_frame_before_authentication_is_refused),
        TRANSPORT_TEST(an_impostor_without_the_secret_is_refused),
        TRANSPORT_TEST(a_frame_with_a_forged_sender_closes_the_connection),
        TRANSPORT_TEST(a_new_authenticated_connection_replaces_the_old_one),
        TRANSPORT_TEST(faults_are_refused_unless_enabled),
        TRANSPORT_TEST(fault_values_are_checked_at_their_limits),
        TRANSPORT_TEST(a_cut_drops_both_ways_and_keeps_the_connection),
        TRANSPORT_TEST(a_one_way_cut_drops_one_direction_only),
        TRANSPORT_TEST(a_delay_holds_messages_and_delivers_them_in_order),
        TRANSPORT_TEST(reordering_lets_later_messages_overtake_held_ones),
        TRANSPORT_TEST(loss_drops_about_the_share_it_is_given),
        TRANSPORT_TEST(held_messages_are_lost_with_their_connection),
        TRANSPORT_TEST(held_messages_are_bounded_by_the_send_buffer),
        TRANSPORT_TEST(a_cut_abandons_a_snapshot_and_refuses_new_ones_until_healed),
        TRANSPORT_TEST(a_snapshot_cut_on_its_way_in_is_lost_then_resent_whole),
        cmocka_unit_test(error_names_cover_every_code),
        TRANSPORT_TEST(replica_frames_reach_a_host_of_the_same_foil_mode),
        TRANSPORT_TEST(nodes_of_different_replication_modes_never_link),
        TRANSPORT_TEST(a_replica_frame_to_a_raft_host_closes_the_link),
        TRANSPORT_TEST(replica_frames_pass_the_fault_point),
    };
#undef TRANSPORT_TEST
    return cmocka_run_group_tests(tests, NULL, NULL);
}
