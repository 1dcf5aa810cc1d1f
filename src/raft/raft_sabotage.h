/*
 * raft_sabotage.h — switches that break one safety rule of the core on purpose, so that the
 * simulator can prove it would catch the violation (the sim_catches_* tests in tests/sim).
 *
 * Private to the core and the simulator: production code (src/server, src/kv, ...) must not
 * include it, and compiles only where the build defines RAFT_SABOTAGE_VISIBLE (src/raft and
 * tests/sim do). The switches are compiled into the core only with RAFT_SABOTAGE defined: the
 * raft_sabotage library, which only sim_sabotage links. A test picks one by storing its value
 * in raft_config.sabotage before raft_new(); the raft library, which production links,
 * refuses any nonzero value there with RAFT_ERROR_INVALID.
 */
#ifndef RAFTKV_RAFT_SABOTAGE_H
#define RAFTKV_RAFT_SABOTAGE_H

#ifndef RAFT_SABOTAGE_VISIBLE
#error "raft/raft_sabotage.h is private to src/raft and tests/sim (RAFT_SABOTAGE_VISIBLE)"
#endif

#include "raft/raft.h"

enum raft_sabotage {
    RAFT_SABOTAGE_NONE = 0,
    RAFT_SABOTAGE_ELECTION_RESTRICTION = 1, /* grant votes to candidates with stale logs */
    RAFT_SABOTAGE_COMMIT_OLD_TERM = 2,      /* commit entries of earlier terms by counting */
    RAFT_SABOTAGE_DOUBLE_VOTE = 3,          /* vote for a second candidate in one term */
    RAFT_SABOTAGE_VOLATILE_VOTE = 4,        /* leave the vote out of the persisted state */
    /* A rule of the ready loop (src/driver, built with DRIVER_SABOTAGE), not of the core:
     * send the messages that wait for the sync (acknowledgements, votes) before it. */
    RAFT_SABOTAGE_ACK_BEFORE_SYNC = 5,
    /* membership.c: change the configuration before committing an entry of the leader's term
     * (the single-server change bug of 2015) */
    RAFT_SABOTAGE_CHANGE_BEFORE_TERM_COMMIT = 6,
    /* membership.c: propose a change while an earlier one is uncommitted */
    RAFT_SABOTAGE_CONCURRENT_CHANGES = 7,
    /* read.c: a follower serves a read at its own commit index, asking no leader */
    RAFT_SABOTAGE_FOLLOWER_READ_LOCAL = 8,
    /* read.c: a leader's lease, once held, never lapses */
    RAFT_SABOTAGE_LEASE_FOREVER = 9,
};

/* The switch's name as the simulator's --sabotage spells it ("commit-old-term"). */
const char *raft_sabotage_string(enum raft_sabotage sabotage);
/* 0 and *out set, or RAFT_ERROR_INVALID for a name that is no switch. */
int raft_sabotage_parse(const char *name, enum raft_sabotage *out);

#endif
