/*
 * driver.h — the one loop that turns the core's ready batches into effects.
 *
 * The server, the simulator and the unit fixture all drive their cores through this loop, so
 * the seeds that prove the simulator prove the code the server runs. It depends only on
 * raft/; every effect goes through a small table of host callbacks (struct driver_host).
 *
 * For each ready, in raft.h's durability order:
 *   1. send messages_immediate (a leader's APPENDs and heartbeats: they need nothing this
 *      ready persists, so the leader replicates while its own fsync runs, thesis §10.2.1);
 *   2. install ready.snapshot, if any;
 *   3. apply the committed entries that are durable already (those below the ready's first new
 *      entry) and hand over the confirmed reads — these wait for no fsync;
 *   4. append the new entries (a write, no sync), then ask the host to sync: the log, and the
 *      term and vote when they changed since the last saved hard state (Figure 2: only those
 *      must be durable before a message depends on them). The host may sync on another thread
 *      and call driver_synced() later; meanwhile driver_process() hands out the part of the
 *      core's work that waits for no fsync (raft_early): new APPENDs, entries committed and
 *      durable, confirmed reads;
 *   5. once synced: send the messages that depended on it (votes, acknowledgements), apply the
 *      rest of the committed entries, report a changed soft state, raft_advance().
 * A ready that neither appends nor changes the term or vote needs no sync and finishes at once.
 *
 * Reports (raft_report_snapshot / raft_report_unreachable) that arrive while the driver is
 * inside a ready's callbacks are held and handed to the core after the step that was running,
 * so that no call changes the core while it owns a ready's arrays.
 *
 * Failure: any host callback may return false (a storage failure, or the simulator crashing
 * the node); the driver then stops at once, touches the core no more, and driver_stopped()
 * says so. The host recovers by building a new core and calling driver_init() again.
 *
 * Ownership: the driver borrows the core and the host table; it allocates nothing.
 */
#ifndef RAFTKV_DRIVER_DRIVER_H
#define RAFTKV_DRIVER_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* Where the driver stands in a ready, for hosts that act there (the simulator's crash points). */
enum driver_point {
    DRIVER_POINT_BEGIN = 0,          /* a ready was taken; nothing of it done */
    DRIVER_POINT_SENT_IMMEDIATE = 1, /* after messages_immediate */
    DRIVER_POINT_SYNCED = 2,         /* the sync completed, before its messages leave */
    DRIVER_POINT_SENT = 3,           /* after the messages that waited for the sync */
    DRIVER_POINT_APPLIED = 4,        /* after the last committed entry, before advance */
};

/* The host's effects. Every callback is required except `at`. Arrays are borrowed for the
 * call. A callback returning false stops the driver (see above). */
struct driver_host {
    void *context;
    bool (*send)(void *context, const struct raft_message *message);
    /* ready.snapshot: replace the state machine, discard the stored log (raft.h step 2). */
    bool (*install_snapshot)(void *context, const struct raft_snapshot_meta *meta);
    /* Write entries to the log, first truncating it from entries[0].index; no sync. */
    bool (*append)(void *context, const struct raft_entry *entries, size_t count);
    /* Make what append wrote durable, and hard_state too when save_hard_state. Complete it
     * with driver_synced(), from inside this call or later from the loop. */
    bool (*sync)(void *context, bool save_hard_state, const struct raft_hard_state *hard_state);
    /* Committed entries, in order, each exactly once. */
    bool (*apply)(void *context, const struct raft_entry *entries, size_t count);
    void (*reads)(void *context, const struct raft_read_state *reads, size_t read_count,
                  const uint64_t *failed_reads, size_t failed_read_count);
    void (*soft_state)(void *context, const struct raft_soft_state *soft_state);
    /* Optional: called at each enum driver_point; false stops the driver. */
    bool (*at)(void *context, enum driver_point point);
};

#define DRIVER_MAX_HELD_REPORTS 64

struct driver_report {
    raft_node_id to;
    bool snapshot; /* raft_report_snapshot(to, success), else raft_report_unreachable(to) */
    bool success;
};

struct driver {
    struct raft *raft;
    struct driver_host host;
    struct raft_hard_state saved_hard_state; /* the term and vote known durable */
    struct raft_ready ready;
    bool ready_open;     /* between raft_ready and raft_advance */
    bool sync_in_flight; /* host.sync called, driver_synced not yet */
    bool sync_done;      /* driver_synced called from inside host.sync */
    int sync_result;
    bool save_hard_state; /* the sync in flight saves ready.hard_state */
    size_t applied_early; /* committed entries of the open ready applied before its sync */
    bool stopped;
    /* driver_yield_after_apply: driver_process returns after a ready that applied entries */
    bool yield_after_apply;
    int depth; /* inside driver code: reports are held */
    size_t held_count;
    struct driver_report held[DRIVER_MAX_HELD_REPORTS];
#ifdef DRIVER_SABOTAGE
    /* Only in the simulator's sabotaged build: proof that it catches a driver that sends the
     * messages depending on the sync before the sync (acknowledging what is not durable). */
    bool sabotage_ack_before_sync;
    bool messages_sent_early;
#endif
};

/* Starts driving `raft`, whose durable term and vote are saved_hard_state. */
void driver_init(struct driver *driver, struct raft *raft, const struct driver_host *host,
                 const struct raft_hard_state *saved_hard_state);

/* Works through the core's readies until one waits for its sync or none is left. While one
 * waits, hands out the early part instead (step 4 above). */
void driver_process(struct driver *driver);

/* With `yield` set, the loop over readies in driver_process and driver_synced stops once a
 * ready it started has applied committed entries, even if the core has another ready: a host
 * whose event loop must send heartbeats between long applies calls driver_process again on its
 * next turn (raft_has_ready says whether it must). driver_synced still finishes the ready whose
 * sync ended, so it may apply twice. Off by default. */
void driver_yield_after_apply(struct driver *driver, bool yield);

/* The sync asked for by host.sync finished: 0, or an error that stops the driver. Called from
 * the loop, it finishes the ready and goes on processing. */
void driver_synced(struct driver *driver, int result);

/* A ready is open (its sync may be in flight): storage belongs to it until it finishes. */
bool driver_busy(const struct driver *driver);
bool driver_stopped(const struct driver *driver);

/* The transport finished sending a snapshot / could not reach a peer; held while inside a
 * ready's callbacks, else handed to the core at once. */
void driver_report_snapshot(struct driver *driver, raft_node_id to, bool success);
void driver_report_unreachable(struct driver *driver, raft_node_id to);

#endif
