/*
 * driver.c — the ready loop of driver.h: persist, sync, send, apply, advance.
 *
 * The split of a ready's committed entries is the subtle part. Entries below the ready's first
 * new entry were made durable by earlier readies (raft.h), so they are applied, and their
 * clients answered, before this ready's sync; the rest become durable only with it, and are
 * applied after. The core makes the split (committed_durable_count) and states the sync rule
 * (must_sync, sync_hard_state); the driver follows them and asserts what it can check.
 */
#include "driver/driver.h"

#include <assert.h>
#include <string.h>

void driver_init(struct driver *driver, struct raft *raft, const struct driver_host *host,
                 const struct raft_hard_state *saved_hard_state)
{
    assert(driver != NULL);
    assert(raft != NULL);
    assert(host != NULL && host->send != NULL && host->append != NULL && host->sync != NULL);
    assert(host->apply != NULL && host->reads != NULL && host->soft_state != NULL);
    assert(host->install_snapshot != NULL);
    memset(driver, 0, sizeof *driver);
    driver->raft = raft;
    driver->host = *host;
    driver->saved_hard_state = *saved_hard_state;
}

void driver_yield_after_apply(struct driver *driver, bool yield)
{
    assert(driver != NULL);
    driver->yield_after_apply = yield;
}

bool driver_busy(const struct driver *driver)
{
    assert(driver != NULL);
    assert(!driver->sync_in_flight || driver->ready_open);
    return driver->ready_open;
}

bool driver_stopped(const struct driver *driver)
{
    assert(driver != NULL);
    return driver->stopped;
}

/* ---- reports held while the core owns a ready's arrays ---- */

static void hand_report(struct driver *driver, const struct driver_report *report)
{
    assert(!driver->stopped);
    assert(report->to != RAFT_NODE_NONE);
    if (report->snapshot) {
        raft_report_snapshot(driver->raft, report->to, report->success);
    } else {
        raft_report_unreachable(driver->raft, report->to);
    }
}

static void hold_or_hand(struct driver *driver, struct driver_report report)
{
    assert(driver->held_count <= DRIVER_MAX_HELD_REPORTS);
    if (driver->stopped) {
        return;
    }
    if (driver->depth == 0 && !driver->ready_open) {
        hand_report(driver, &report);
        return;
    }
    if (driver->held_count < DRIVER_MAX_HELD_REPORTS) {
        driver->held[driver->held_count++] = report;
    } else if (!report.snapshot) {
        return; /* an unreachable report is advisory: the core re-probes on its own */
    } else {
        driver->held[DRIVER_MAX_HELD_REPORTS - 1] = report; /* keep the newest outcome */
    }
}

void driver_report_snapshot(struct driver *driver, raft_node_id to, bool success)
{
    hold_or_hand(driver, (struct driver_report){.to = to, .snapshot = true, .success = success});
}

void driver_report_unreachable(struct driver *driver, raft_node_id to)
{
    hold_or_hand(driver, (struct driver_report){.to = to, .snapshot = false});
}

/* Reports change the core: only between readies (not while one is open). */
static void flush_held(struct driver *driver)
{
    assert(driver->depth == 0);
    assert(driver->held_count <= DRIVER_MAX_HELD_REPORTS);
    if (driver->ready_open || driver->stopped) {
        return;
    }
    size_t count = driver->held_count;
    struct driver_report held[DRIVER_MAX_HELD_REPORTS];
    memcpy(held, driver->held, count * sizeof held[0]);
    driver->held_count = 0;
    for (size_t i = 0; i < count; i++) {
        hand_report(driver, &held[i]);
    }
}

/* ---- the steps ---- */

static bool stop(struct driver *driver)
{
    assert(driver->depth > 0 || !driver->sync_in_flight);
    driver->stopped = true;
    return false;
}

static bool at(struct driver *driver, enum driver_point point)
{
    assert(driver->ready_open);
    assert(point <= DRIVER_POINT_APPLIED);
    if (driver->host.at != NULL && !driver->host.at(driver->host.context, point)) {
        return stop(driver);
    }
    return true;
}

static bool send_all(struct driver *driver, const struct raft_message *messages, size_t count)
{
    assert(count == 0 || messages != NULL);
    for (size_t i = 0; i < count; i++) {
        if (!driver->host.send(driver->host.context, &messages[i])) {
            return stop(driver);
        }
    }
    return true;
}

static bool apply(struct driver *driver, const struct raft_entry *entries, size_t count)
{
    if (count == 0) {
        return true;
    }
    assert(entries != NULL);
    assert(entries[count - 1].index == entries[0].index + count - 1); /* contiguous */
    return driver->host.apply(driver->host.context, entries, count) || stop(driver);
}

/* Steps 1-4 up to the sync. Returns true when the ready waits for its sync. */
static bool start_ready(struct driver *driver)
{
    struct raft_ready *ready = &driver->ready;
    assert(driver->ready_open && !driver->sync_in_flight);
    assert(driver->depth > 0);
    if (!at(driver, DRIVER_POINT_BEGIN) ||
        !send_all(driver, ready->messages_immediate, ready->messages_immediate_count) ||
        !at(driver, DRIVER_POINT_SENT_IMMEDIATE)) {
        return false;
    }
    if (ready->snapshot != NULL &&
        !driver->host.install_snapshot(driver->host.context, ready->snapshot)) {
        return stop(driver);
    }
    driver->applied_early = ready->committed_durable_count;
    if (!apply(driver, ready->committed, driver->applied_early)) {
        return false;
    }
    driver->host.reads(driver->host.context, ready->reads, ready->read_count, ready->failed_reads,
                       ready->failed_read_count);
    if (ready->entry_count > 0 &&
        !driver->host.append(driver->host.context, ready->entries, ready->entry_count)) {
        return stop(driver);
    }
    /* Terms only grow: a ready never hands out a term below the one saved. */
    assert(!ready->has_hard_state || ready->hard_state.term >= driver->saved_hard_state.term);
    assert(!ready->sync_hard_state || ready->has_hard_state);
    driver->save_hard_state = ready->sync_hard_state;
#ifdef DRIVER_SABOTAGE
    driver->messages_sent_early = driver->sabotage_ack_before_sync;
    if (driver->messages_sent_early && !send_all(driver, ready->messages, ready->message_count)) {
        return false;
    }
#endif
    if (!ready->must_sync) {
        return false; /* nothing to sync: the caller finishes it */
    }
    driver->sync_in_flight = true;
    driver->sync_done = false;
    if (!driver->host.sync(driver->host.context, driver->save_hard_state, &ready->hard_state)) {
        driver->sync_in_flight = false;
        return stop(driver);
    }
    return true;
}

/* Step 5, after the sync: what depended on it, the rest of the entries, advance. */
static void finish_ready(struct driver *driver)
{
    struct raft_ready *ready = &driver->ready;
    assert(driver->ready_open);
    assert(!driver->sync_in_flight);
    if (driver->save_hard_state) {
        driver->saved_hard_state = ready->hard_state;
    }
    size_t message_count = ready->message_count;
#ifdef DRIVER_SABOTAGE
    message_count = driver->messages_sent_early ? 0 : message_count;
#endif
    if (!at(driver, DRIVER_POINT_SYNCED) || !send_all(driver, ready->messages, message_count) ||
        !at(driver, DRIVER_POINT_SENT) ||
        !apply(driver, ready->committed + driver->applied_early,
               ready->committed_count - driver->applied_early) ||
        !at(driver, DRIVER_POINT_APPLIED)) {
        return;
    }
    if (ready->soft_state_changed) {
        driver->host.soft_state(driver->host.context, &ready->soft_state);
    }
    raft_advance(driver->raft, ready);
    driver->ready_open = false;
    driver->applied_early = 0;
}

/* While the sync runs: the work that never waits for this node's fsync (raft.h). */
static void process_early(struct driver *driver)
{
    assert(driver->ready_open && driver->sync_in_flight);
    assert(driver->depth > 0);
    struct raft_ready early;
    if (!raft_early(driver->raft, &early)) {
        return;
    }
    /* A view of a ready with only the parts that need no fsync (raft.h). */
    assert(!early.must_sync && early.entry_count == 0 && early.message_count == 0);
    assert(early.snapshot == NULL && early.committed_durable_count == early.committed_count);
    if (!send_all(driver, early.messages_immediate, early.messages_immediate_count) ||
        !apply(driver, early.committed, early.committed_count)) {
        return;
    }
    driver->host.reads(driver->host.context, early.reads, early.read_count, early.failed_reads,
                       early.failed_read_count);
    raft_early_advance(driver->raft, &early);
}

static void process_readies(struct driver *driver)
{
    assert(driver->depth > 0);
    while (!driver->stopped && !driver->ready_open && raft_ready(driver->raft, &driver->ready)) {
        driver->ready_open = true;
        if (start_ready(driver)) {
            if (!driver->sync_done) {
                return; /* driver_synced() continues from the loop */
            }
            driver->sync_in_flight = false;
            if (driver->sync_result != 0) {
                stop(driver);
                return;
            }
        }
        if (driver->stopped) {
            return;
        }
        bool applied = driver->ready.committed_count > 0;
        finish_ready(driver);
        if (applied && driver->yield_after_apply) {
            return; /* the host's next loop turn goes on (driver_yield_after_apply) */
        }
    }
}

void driver_process(struct driver *driver)
{
    assert(driver != NULL && driver->raft != NULL);
    assert(driver->depth == 0); /* not from inside a host callback */
    if (driver->stopped) {
        return;
    }
    driver->depth++;
    if (driver->ready_open) {
        process_early(driver);
    } else {
        process_readies(driver);
    }
    driver->depth--;
    flush_held(driver);
}

void driver_synced(struct driver *driver, int result)
{
    assert(driver != NULL);
    assert(driver->sync_in_flight);
    assert(driver->ready_open);
    if (driver->depth > 0) {
        /* From inside host.sync: start_ready's caller finishes the ready. */
        driver->sync_done = true;
        driver->sync_result = result;
        return;
    }
    driver->sync_in_flight = false;
    if (result != 0) {
        stop(driver);
        return;
    }
    driver->depth++;
    finish_ready(driver);
    process_readies(driver);
    driver->depth--;
    flush_held(driver);
}
