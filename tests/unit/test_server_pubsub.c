/*
 * test_server_pubsub.c — the server's side of Pub/Sub without sockets: the subscription
 * registry behind SUBSCRIBE / PSUBSCRIBE and their UNSUBSCRIBEs (Redis's confirmations, the
 * counts kv asks for, PUBSUB's answers, a closed connection's subscriptions gone), and the
 * pubsub output limits' decision at their edges.
 *
 * The clients here are bare structs (no libuv handle is opened): the handlers only touch the
 * registry and write their replies into a buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/server.h"

#define MB (1024ull * 1024)

/* ---- the output limits ---- */

static void test_hard_limit_is_reached_at_its_value_not_before(void **state)
{
    (void)state;
    uint64_t since = 0;
    assert_false(pubsub_output_limit_reached(32 * MB - 1, 32 * MB, 0, 60, 1000, &since));
    assert_true(pubsub_output_limit_reached(32 * MB, 32 * MB, 0, 60, 1000, &since));
    assert_true(pubsub_output_limit_reached(32 * MB + 1, 32 * MB, 0, 60, 1000, &since));
    assert_false(pubsub_output_limit_reached(UINT64_MAX, 0, 0, 60, 1000, &since)); /* 0: none */
}

static void test_soft_limit_allows_its_grace_then_disconnects(void **state)
{
    (void)state;
    uint64_t since = 0;
    /* Below it: never, however long. */
    assert_false(pubsub_output_limit_reached(8 * MB - 1, 32 * MB, 8 * MB, 60, 1000, &since));
    assert_int_equal(since, 0);
    /* At it: the grace starts, and lasts 60 s to the millisecond. */
    assert_false(pubsub_output_limit_reached(8 * MB, 32 * MB, 8 * MB, 60, 1000, &since));
    assert_int_equal(since, 1000);
    assert_false(pubsub_output_limit_reached(8 * MB, 32 * MB, 8 * MB, 60, 61000, &since));
    assert_true(pubsub_output_limit_reached(8 * MB, 32 * MB, 8 * MB, 60, 61001, &since));
}

static void test_dropping_below_the_soft_limit_restarts_its_grace(void **state)
{
    (void)state;
    uint64_t since = 0;
    assert_false(pubsub_output_limit_reached(9 * MB, 32 * MB, 8 * MB, 60, 1000, &since));
    assert_false(pubsub_output_limit_reached(1 * MB, 32 * MB, 8 * MB, 60, 50000, &since));
    assert_int_equal(since, 0);
    assert_false(pubsub_output_limit_reached(9 * MB, 32 * MB, 8 * MB, 60, 70000, &since));
    assert_false(pubsub_output_limit_reached(9 * MB, 32 * MB, 8 * MB, 60, 130000, &since));
    assert_true(pubsub_output_limit_reached(9 * MB, 32 * MB, 8 * MB, 60, 130001, &since));
}

/* ---- the registry ---- */

struct world {
    struct server server;
    struct client clients[3];
    struct proto_buffer out;
};

static int setup_world(void **state)
{
    struct world *world = calloc(1, sizeof *world);
    assert_non_null(world);
    for (size_t i = 0; i < 3; i++) {
        world->clients[i].server = &world->server;
        world->clients[i].protocol = 2;
        world->clients[i].id = i + 1;
    }
    proto_buffer_init(&world->out, 1 << 20);
    *state = world;
    return 0;
}

static int teardown_world(void **state)
{
    struct world *world = *state;
    for (size_t i = 0; i < 3; i++) {
        pubsub_client_gone(&world->clients[i]);
    }
    assert_int_equal(world->server.pubsub.channel_count, 0);
    assert_int_equal(world->server.pubsub.pattern_count, 0);
    pubsub_free(&world->server);
    proto_buffer_free(&world->out);
    free(world);
    return 0;
}

typedef void (*handler_fn)(struct client *, struct proto_buffer *, size_t, const struct kv_arg *);

/* Runs a handler on a command line and returns its reply bytes (valid until the next). */
static const char *call(struct world *world, struct client *client, handler_fn handler,
                        const char *line)
{
    char storage[256];
    struct kv_arg argv[16];
    size_t argc = 0;
    strcpy(storage, line);
    for (char *word = strtok(storage, " "); word != NULL; word = strtok(NULL, " ")) {
        argv[argc++] = (struct kv_arg){.data = (const uint8_t *)word, .data_bytes = strlen(word)};
    }
    proto_buffer_consume(&world->out, world->out.length);
    handler(client, &world->out, argc, argv);
    static char text[128 * 1024];
    assert_true(world->out.length < sizeof text);
    memcpy(text, world->out.data, world->out.length);
    text[world->out.length] = '\0';
    return text;
}

static uint64_t receivers(struct world *world, const char *channel)
{
    return pubsub_receivers(&world->server, (const uint8_t *)channel, strlen(channel));
}

static void test_confirmations_are_redis_bytes(void **state)
{
    struct world *world = *state;
    struct client *a = &world->clients[0];
    assert_string_equal(call(world, a, command_unsubscribe, "unsubscribe"),
                        "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    assert_string_equal(call(world, a, command_subscribe, "subscribe x y x"),
                        "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n"
                        "*3\r\n$9\r\nsubscribe\r\n$1\r\ny\r\n:2\r\n"
                        "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:2\r\n");
    a->protocol = 3;
    assert_string_equal(call(world, a, command_psubscribe, "psubscribe p*"),
                        ">3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n");
    assert_string_equal(call(world, a, command_punsubscribe, "punsubscribe"),
                        ">3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:2\r\n");
    assert_string_equal(call(world, a, command_punsubscribe, "punsubscribe"),
                        ">3\r\n$12\r\npunsubscribe\r\n_\r\n:2\r\n");
    assert_string_equal(call(world, a, command_unsubscribe, "unsubscribe"),
                        ">3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:1\r\n"
                        ">3\r\n$11\r\nunsubscribe\r\n$1\r\ny\r\n:0\r\n");
    assert_int_equal(pubsub_subscription_count(a), 0);
    assert_int_equal(world->server.pubsub.channel_count, 0); /* emptied entries are freed */
}

static void test_receivers_count_channel_subscribers_and_matching_patterns(void **state)
{
    struct world *world = *state;
    struct client *a = &world->clients[0], *b = &world->clients[1], *c = &world->clients[2];
    call(world, a, command_subscribe, "subscribe news");
    call(world, b, command_subscribe, "subscribe news sport");
    call(world, b, command_psubscribe, "psubscribe n* [ns]ews");
    call(world, c, command_psubscribe, "psubscribe n*");
    assert_int_equal(receivers(world, "news"), 2 + 2 + 1);
    assert_int_equal(receivers(world, "nope"), 2);
    assert_int_equal(receivers(world, "sport"), 1);
    assert_int_equal(receivers(world, "other"), 0);
    assert_int_equal(world->server.pubsub.pattern_count, 2); /* unique patterns, as NUMPAT */
    pubsub_client_gone(b);                                   /* a closed connection */
    assert_int_equal(receivers(world, "news"), 2);
    assert_int_equal(receivers(world, "sport"), 0);
    assert_int_equal(world->server.pubsub.channel_count, 1);
    assert_int_equal(world->server.pubsub.pattern_count, 1);
}

static void test_pubsub_introspection_answers(void **state)
{
    struct world *world = *state;
    struct client *a = &world->clients[0], *b = &world->clients[1];
    call(world, a, command_subscribe, "subscribe alpha beta");
    call(world, b, command_subscribe, "subscribe alpha");
    call(world, b, command_psubscribe, "psubscribe a* b*");
    assert_string_equal(call(world, a, command_pubsub, "pubsub numsub alpha beta none"),
                        "*6\r\n$5\r\nalpha\r\n:2\r\n$4\r\nbeta\r\n:1\r\n$4\r\nnone\r\n:0\r\n");
    assert_string_equal(call(world, a, command_pubsub, "pubsub numpat"), ":2\r\n");
    assert_string_equal(call(world, a, command_pubsub, "pubsub channels b*"),
                        "*1\r\n$4\r\nbeta\r\n");
    const char *all = call(world, a, command_pubsub, "pubsub channels");
    assert_true(strncmp(all, "*2\r\n", 4) == 0);
    assert_non_null(strstr(all, "$5\r\nalpha\r\n"));
    assert_string_equal(call(world, a, command_pubsub, "pubsub numpat x"),
                        "-ERR wrong number of arguments for 'pubsub|numpat' command\r\n");
    assert_string_equal(call(world, a, command_pubsub, "pubsub what"),
                        "-ERR unknown subcommand 'what'. Try PUBSUB HELP.\r\n");
}

/* Many channels: the table grows and every channel is still found. */
static void test_many_channels_stay_findable(void **state)
{
    struct world *world = *state;
    struct client *a = &world->clients[0];
    for (int i = 0; i < 1000; i++) {
        char line[64];
        snprintf(line, sizeof line, "subscribe channel-%d", i);
        call(world, a, command_subscribe, line);
    }
    assert_int_equal(world->server.pubsub.channel_count, 1000);
    assert_true(world->server.pubsub.bucket_count >= 1000);
    for (int i = 0; i < 1000; i += 37) {
        char channel[32];
        snprintf(channel, sizeof channel, "channel-%d", i);
        assert_int_equal(receivers(world, channel), 1);
    }
    assert_int_equal(receivers(world, "channel-1000"), 0);
    call(world, a, command_unsubscribe, "unsubscribe");
    assert_int_equal(world->server.pubsub.channel_count, 0);
}

#define WORLD_TEST(name) cmocka_unit_test_setup_teardown(name, setup_world, teardown_world)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hard_limit_is_reached_at_its_value_not_before),
        cmocka_unit_test(test_soft_limit_allows_its_grace_then_disconnects),
        cmocka_unit_test(test_dropping_below_the_soft_limit_restarts_its_grace),
        WORLD_TEST(test_confirmations_are_redis_bytes),
        WORLD_TEST(test_receivers_count_channel_subscribers_and_matching_patterns),
        WORLD_TEST(test_pubsub_introspection_answers),
        WORLD_TEST(test_many_channels_stay_findable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
