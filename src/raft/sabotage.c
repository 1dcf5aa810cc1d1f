/*
 * sabotage.c — the test switches of raft_sabotage.h: their names, and the one question the
 * core's rules ask (raft_sabotaged: is this rule switched off?).
 *
 * Built into both libraries. In raft (what production links) raft_sabotaged() is always
 * false and raft_new() refuses a nonzero switch, so no rule can be broken; in raft_sabotage
 * (RAFT_SABOTAGE defined, linked only by sim_sabotage) it reads raft_config.sabotage.
 */
#include "raft/raft_internal.h"

#include <string.h>

static const char *const sabotage_names[] = {
    [RAFT_SABOTAGE_NONE] = "none",
    [RAFT_SABOTAGE_ELECTION_RESTRICTION] = "election-restriction",
    [RAFT_SABOTAGE_COMMIT_OLD_TERM] = "commit-old-term",
    [RAFT_SABOTAGE_DOUBLE_VOTE] = "double-vote",
    [RAFT_SABOTAGE_VOLATILE_VOTE] = "volatile-vote",
    [RAFT_SABOTAGE_ACK_BEFORE_SYNC] = "ack-before-sync",
    [RAFT_SABOTAGE_CHANGE_BEFORE_TERM_COMMIT] = "change-before-term-commit",
    [RAFT_SABOTAGE_CONCURRENT_CHANGES] = "concurrent-changes",
    [RAFT_SABOTAGE_FOLLOWER_READ_LOCAL] = "follower-read-local",
    [RAFT_SABOTAGE_LEASE_FOREVER] = "lease-forever",
};

#define SABOTAGE_COUNT (sizeof sabotage_names / sizeof sabotage_names[0])

const char *raft_sabotage_string(enum raft_sabotage sabotage)
{
    if ((size_t)sabotage >= SABOTAGE_COUNT) {
        return "unknown";
    }
    assert(sabotage_names[sabotage] != NULL);
    return sabotage_names[sabotage];
}

int raft_sabotage_parse(const char *name, enum raft_sabotage *out)
{
    for (size_t i = 0; i < SABOTAGE_COUNT; i++) {
        assert(sabotage_names[i] != NULL);
        if (strcmp(name, sabotage_names[i]) == 0) {
            *out = (enum raft_sabotage)i;
            return 0;
        }
    }
    return RAFT_ERROR_INVALID;
}

bool raft_sabotaged(const struct raft *raft, enum raft_sabotage rule)
{
    assert(rule != RAFT_SABOTAGE_NONE);
#ifdef RAFT_SABOTAGE
    return raft->config.sabotage == (uint32_t)rule;
#else
    /* raft_new refused any switch: nothing is ever sabotaged in this library. */
    assert(raft->config.sabotage == RAFT_SABOTAGE_NONE);
    (void)rule;
    return false;
#endif
}
