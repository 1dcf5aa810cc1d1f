/*
 * main.c — the raftkv process: parse the configuration, recover the node from its data
 * directory, and run the event loop until SIGINT or SIGTERM.
 *
 * The loop's handles: the client listeners (client.c; client_tls.c for TLS, whose
 * certificates SIGHUP reloads), the peer transport (transport.c), a
 * timer that ticks the Raft core every tick_ms, a timer that fails requests past their
 * deadline, and a prepare/check pair that runs the core's ready batch and flushes client
 * replies once per loop turn (so everything that arrived in one turn shares one batch).
 *
 * Under systemd (Type=notify, debian/raftkv.service) the node says READY=1 once its storage is
 * open and it listens, and STOPPING=1 when it begins to shut down (notify.c).
 *
 * Shutdown: stop accepting and reading, let an fsync in flight finish (what it covers may
 * already be acknowledged by followers), close every handle, then close the storage and the
 * database. A write acknowledged before that was already durable on a majority; nothing that
 * the loop had not acknowledged is reported as done. A storage error at run time does not
 * stop the process: the node recovers in place (node_boot.c).
 */
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "server/log.h"
#include "server/notify.h"

enum {
    SWEEP_INTERVAL_MS = 50,
};

static void on_tick(uv_timer_t *timer)
{
    struct server *server = timer->data;
    node_tick(server);
}

static void on_sweep(uv_timer_t *timer)
{
    struct server *server = timer->data;
    node_sweep_timeouts(server);
    stats_sample(server, server_now_ms(server));
}

static void on_prepare(uv_prepare_t *prepare)
{
    struct server *server = prepare->data;
    node_process_ready(server);
    client_flush_all(server);
}

static void on_check(uv_check_t *check)
{
    struct server *server = check->data;
    client_flush_all(server);
}

static void close_handle(uv_handle_t *handle)
{
    if (!uv_is_closing(handle)) {
        uv_close(handle, NULL);
    }
}

/* A message systemd cannot be sent is logged: the node itself is fine. */
static void tell_service_manager(const char *state)
{
    char error[256];
    if (notify_service_manager(state, error, sizeof error) < 0) {
        log_warning("%s", error);
    }
}

static void server_stop(struct server *server, int exit_code)
{
    if (server->stopping) {
        return;
    }
    server->stopping = true;
    tell_service_manager("STOPPING=1");
    server->exit_code = exit_code;
    client_close_all(server);
    metrics_close(server);
    join_stop(server);
    close_handle((uv_handle_t *)&server->tick_timer);
    close_handle((uv_handle_t *)&server->sweep_timer);
    close_handle((uv_handle_t *)&server->prepare);
    close_handle((uv_handle_t *)&server->check);
    close_handle((uv_handle_t *)&server->more_readies);
    close_handle((uv_handle_t *)&server->sigint);
    close_handle((uv_handle_t *)&server->sigterm);
    close_handle((uv_handle_t *)&server->sighup);
    if (server->transport != NULL) {
        transport_stop(server->transport);
        server->transport = NULL;
    }
}

static void on_signal(uv_signal_t *handle, int signal_number)
{
    struct server *server = handle->data;
    log_info("received %s; shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(server, 0);
}

/* SIGHUP: reload the TLS certificates, as an operator expects of a daemon; a node without TLS
 * only logs that it has none (it must not die of a stray SIGHUP). */
static void on_sighup(uv_signal_t *handle, int signal_number)
{
    (void)signal_number;
    struct server *server = handle->data;
    char error[512];
    log_info("received SIGHUP; reloading the TLS certificates");
    if (server_tls_reload(server, error, sizeof error) != 0 && server->tls.clients == NULL &&
        server->tls.peers == NULL) {
        log_info("%s: nothing to reload", error);
    }
}

static void make_run_id(struct server *server)
{
    uint8_t random[20];
    if (RAND_bytes(random, sizeof random) != 1) {
        memset(random, 0, sizeof random);
    }
    for (size_t i = 0; i < sizeof random; i++) {
        snprintf(server->run_id + 2 * i, 3, "%02x", random[i]);
    }
}

static int start_loop_handles(struct server *server)
{
    uv_loop_t *loop = server->loop;
    uv_timer_init(loop, &server->tick_timer);
    uv_timer_init(loop, &server->sweep_timer);
    uv_prepare_init(loop, &server->prepare);
    uv_check_init(loop, &server->check);
    uv_idle_init(loop, &server->more_readies);
    uv_signal_init(loop, &server->sigint);
    uv_signal_init(loop, &server->sigterm);
    uv_signal_init(loop, &server->sighup);
    server->tick_timer.data = server;
    server->sweep_timer.data = server;
    server->prepare.data = server;
    server->check.data = server;
    server->more_readies.data = server;
    server->sigint.data = server;
    server->sigterm.data = server;
    server->sighup.data = server;
    uv_timer_start(&server->tick_timer, on_tick, server->config.tick_ms, server->config.tick_ms);
    uv_timer_start(&server->sweep_timer, on_sweep, SWEEP_INTERVAL_MS, SWEEP_INTERVAL_MS);
    uv_prepare_start(&server->prepare, on_prepare);
    uv_check_start(&server->check, on_check);
    uv_signal_start(&server->sigint, on_signal, SIGINT);
    uv_signal_start(&server->sigterm, on_signal, SIGTERM);
    uv_signal_start(&server->sighup, on_sighup, SIGHUP);
    if (metrics_listen(server) != 0) {
        return -1;
    }
    return client_listen(server);
}

/*
 * The node's slow work runs on libuv's thread pool, one job of each kind at most: the WAL's
 * fsync, the database's flush, a snapshot export, a backup export, emptying the trash,
 * allocating the spare segment. The fsync is on every write's path, and a job that waits for
 * a free thread waits for one of the others to finish, which for an export is minutes. With
 * libuv's default of 4 threads that could happen; with at least one thread per kind it
 * cannot. libuv reads the size once, at the pool's first use.
 */
#define NODE_THREAD_POOL_SIZE 8

static void reserve_thread_pool(void)
{
    const char *size = getenv("UV_THREADPOOL_SIZE");
    if (size == NULL || atoi(size) < NODE_THREAD_POOL_SIZE) {
        char text[16];
        snprintf(text, sizeof text, "%d", NODE_THREAD_POOL_SIZE);
        setenv("UV_THREADPOOL_SIZE", text, 1);
    }
}

int main(int argc, char **argv)
{
    static struct server server;
    config_default(&server.config);
    /* realpath() may write PATH_MAX bytes into a buffer it is given: let it allocate. */
    char *executable = realpath("/proc/self/exe", NULL);
    snprintf(server.executable, sizeof server.executable, "%s",
             executable != NULL ? executable : argv[0]);
    free(executable);
    char error[1024];
    int rc = config_parse(&server.config, argc, argv, error, sizeof error);
    if (rc == 1) {
        return 0;
    }
    if (rc != 0) {
        log_startup_failure(error);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Certificates are read before anything else: a bad file stops the node at once. */
    if (server_tls_setup(&server, error, sizeof error) != 0) {
        log_startup_failure(error);
        return 2;
    }
    log_configure(server.config.log_level, server.config.id);
    reserve_thread_pool();
    server.loop = uv_default_loop();
    server.started_ms = uv_now(server.loop);
    make_run_id(&server);
    log_info("raftkv node %llu starting; data in %s", (unsigned long long)server.config.id,
             server.config.data_directory);
    if (node_start(&server, error, sizeof error) != 0) {
        log_error("%s", error);
        node_stop(&server);
        server_tls_free(&server);
        return 1;
    }
    if (start_loop_handles(&server) != 0) {
        server_stop(&server, 1);
    } else {
        tell_service_manager("READY=1");
    }
    uv_run(server.loop, UV_RUN_DEFAULT);
    node_stop(&server);
    uv_loop_close(server.loop);
    stats_free(&server);
    server_tls_free(&server);
    log_info("stopped");
    return server.exit_code;
}
