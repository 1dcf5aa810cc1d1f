/*
 * test_raft_replication.c — log replication, the commit rule, ReadIndex and snapshots, one
 * behaviour per test, citing the Raft paper (§) or Ongaro's thesis.
 */
/* One regression test looks inside the core, whose private header needs this. */
#define RAFT_SABOTAGE_VISIBLE 1
#include "raft/raft_internal.h"
#include "raft_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static struct raft_entry entry_of(uint64_t index, uint64_t term)
{
    struct raft_entry entry = {.index = index, .term = term, .type = RAFT_ENTRY_COMMAND};
    return entry;
}

static struct raft_message append_of(raft_node_id from, raft_node_id to, uint64_t term,
                                     uint64_t previous_index, uint64_t previous_term,
                                     struct raft_entry *entries, uint32_t count)
{
    struct raft_message message;
    memset(&message, 0, sizeof message);
    message.type = RAFT_MSG_APPEND;
    message.from = from;
    message.to = to;
    message.term = term;
    message.index = previous_index;
    message.log_term = previous_term;
    message.entries = count > 0 ? entries : NULL;
    message.entry_count = count;
    return message;
}

static const struct raft_message *last_queued(struct fixture *fixture, int type)
{
    const struct raft_message *found = NULL;
    for (uint32_t i = 0; i < fixture->queue_count; i++) {
        if (fixture_queued(fixture, i)->type == type) {
            found = fixture_queued(fixture, i);
        }
    }
    return found;
}

/* §5.3: a follower rejects an APPEND whose previous index/term its log does not hold. */
static void test_follower_rejects_append_with_mismatched_previous(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft_entry entries[1] = {entry_of(3, 2)};
    struct raft_message append = append_of(2, 1, 2, 2, 2, entries, 1);
    fixture_step(&fixture, &append);
    fixture_drain(&fixture);
    const struct raft_message *reply = last_queued(&fixture, RAFT_MSG_APPEND_RESPONSE);
    assert_non_null(reply);
    assert_true(reply->reject);
    assert_int_equal(reply->index, 2);
    assert_int_equal(reply->hint_index, 1); /* our log is empty: retry from index 1 */
    assert_int_equal(raft_last_index(fixture_raft(&fixture, 1)), 0);
    fixture_free(&fixture);
}

/* §5.3: a conflicting suffix is truncated and replaced by the leader's entries. */
static void test_follower_truncates_conflicting_suffix(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft_entry old[3] = {entry_of(1, 1), entry_of(2, 1), entry_of(3, 1)};
    struct raft_message first = append_of(2, 1, 1, 0, 0, old, 3);
    fixture_step(&fixture, &first);
    fixture_drain(&fixture);
    struct raft_entry newer[2] = {entry_of(2, 2), entry_of(3, 2)};
    struct raft_message second = append_of(3, 1, 2, 1, 1, newer, 2);
    fixture_step(&fixture, &second);
    fixture_drain(&fixture);
    struct raft *raft = fixture_raft(&fixture, 1);
    assert_int_equal(raft_last_index(raft), 3);
    assert_int_equal(raft_term_at(raft, 1), 1);
    assert_int_equal(raft_term_at(raft, 2), 2);
    assert_int_equal(raft_term_at(raft, 3), 2);
    /* The host was told to rewrite the disk from index 2. */
    assert_int_equal(fixture.nodes[0].log[1].term, 2);
    fixture_free(&fixture);
}

/* §5.3: fast backtracking — a rejection names the first index of the conflicting term, so
 * the leader skips the whole term in one round trip. */
static void test_reject_hint_skips_a_whole_term(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft_entry old[5] = {entry_of(1, 1), entry_of(2, 2), entry_of(3, 2), entry_of(4, 2),
                                entry_of(5, 2)};
    struct raft_message first = append_of(2, 1, 2, 0, 0, old, 5);
    fixture_step(&fixture, &first);
    fixture_drain(&fixture);
    fixture_clear_queue(&fixture);
    struct raft_message probe = append_of(3, 1, 3, 5, 3, NULL, 0);
    fixture_step(&fixture, &probe);
    fixture_drain(&fixture);
    const struct raft_message *reply = last_queued(&fixture, RAFT_MSG_APPEND_RESPONSE);
    assert_non_null(reply);
    assert_true(reply->reject);
    assert_int_equal(reply->hint_term, 2);
    assert_int_equal(reply->hint_index, 2);
    fixture_free(&fixture);
}

/* §5.3 and §5.4: a leader brings a follower with a long divergent log into line. */
static void test_leader_repairs_divergent_follower(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    fixture.nodes[2].cut_off = true;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(fixture_propose(&fixture, 1, "v"), 0);
        fixture_settle(&fixture);
    }
    fixture.nodes[2].cut_off = false;
    fixture_tick_all(&fixture, 5);
    struct raft *leader = fixture_raft(&fixture, 1);
    struct raft *follower = fixture_raft(&fixture, 3);
    assert_int_equal(raft_last_index(follower), raft_last_index(leader));
    assert_int_equal(raft_commit_index(follower), raft_commit_index(leader));
    assert_int_equal(fixture.nodes[2].applied_commands, 20);
    fixture_free(&fixture);
}

/* §5.3: an entry is committed once a majority stores it, and then applied everywhere. */
static void test_entry_commits_on_majority(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 5, false, false);
    fixture_elect(&fixture, 1);
    fixture.nodes[3].cut_off = true;
    fixture.nodes[4].cut_off = true;
    assert_int_equal(fixture_propose(&fixture, 1, "x"), 0);
    fixture_settle(&fixture);
    assert_int_equal(raft_commit_index(fixture_raft(&fixture, 1)), 2);
    assert_int_equal(fixture.nodes[0].applied_commands, 1);
    fixture_free(&fixture);
}

/* §5.3: without a majority nothing commits. */
static void test_entry_does_not_commit_without_majority(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 5, false, false);
    fixture_elect(&fixture, 1);
    uint64_t commit = raft_commit_index(fixture_raft(&fixture, 1));
    for (int node = 2; node < 5; node++) {
        fixture.nodes[node].cut_off = true;
    }
    assert_int_equal(fixture_propose(&fixture, 1, "x"), 0);
    fixture_settle(&fixture);
    assert_int_equal(raft_commit_index(fixture_raft(&fixture, 1)), commit);
    assert_int_equal(fixture.nodes[0].applied_commands, 0);
    fixture_free(&fixture);
}

/* Thesis §10.2.1: the leader sends entries before its own fsync, but counts itself toward
 * a commit only after the host advanced the ready that persisted them. */
static void test_leader_counts_itself_only_after_persisting(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    fixture.nodes[2].cut_off = true;
    struct raft *leader = fixture_raft(&fixture, 1);
    uint64_t index;
    uint64_t term;
    assert_int_equal(raft_propose(leader, (const uint8_t *)"y", 1, &index, &term), 0);
    struct raft_ready ready;
    assert_true(raft_ready(leader, &ready));
    assert_int_equal(ready.entry_count, 1);
    assert_int_equal(ready.messages_immediate_count, 2); /* replicated while persisting */
    /* Node 2 stores and acknowledges before the leader's own fsync finishes. */
    struct raft_message to_two = ready.messages_immediate[0].to == 2 ? ready.messages_immediate[0]
                                                                     : ready.messages_immediate[1];
    struct raft_entry copy = to_two.entries[0];
    to_two.entries = &copy;
    struct raft *follower = fixture_raft(&fixture, 2);
    assert_int_equal(raft_step(follower, &to_two), 0);
    struct raft_ready follower_ready;
    assert_true(raft_ready(follower, &follower_ready));
    assert_int_equal(follower_ready.message_count, 1);
    struct raft_message ack = follower_ready.messages[0];
    raft_advance(follower, &follower_ready);
    assert_int_equal(ack.type, RAFT_MSG_APPEND_RESPONSE);
    assert_int_equal(ack.index, index);
    raft_step(leader, &ack);
    /* One follower plus the leader is a quorum of three, but the leader has not persisted. */
    assert_true(raft_commit_index(leader) < index);
    raft_advance(leader, &ready);
    assert_int_equal(raft_commit_index(leader), index);
    fixture_free(&fixture);
}

/* §5.4.2 and Figure 8: a leader never commits an entry of an earlier term by counting
 * replicas; an acknowledgement covering only the old-term entry moves nothing, and the entry
 * commits indirectly once the leader's own no-op is stored by a majority. */
static void test_leader_never_commits_old_term_entry_by_counting(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft_entry old[2] = {entry_of(1, 1), entry_of(2, 2)};
    struct raft_message append = append_of(3, 1, 2, 0, 0, old, 2);
    fixture_step(&fixture, &append);
    fixture_drain(&fixture);
    fixture_clear_queue(&fixture);
    fixture.nodes[1].cut_off = true;
    fixture.nodes[2].cut_off = true;
    struct raft *leader = fixture_raft(&fixture, 1);
    for (int i = 0; i < 100 && raft_role(leader) != RAFT_CANDIDATE; i++) {
        raft_tick(leader);
    }
    fixture_drain(&fixture);
    struct raft_message grant;
    memset(&grant, 0, sizeof grant);
    grant.type = RAFT_MSG_VOTE_RESPONSE;
    grant.from = 2;
    grant.to = 1;
    grant.term = raft_term(leader);
    raft_step(leader, &grant);
    fixture_drain(&fixture);
    assert_int_equal(raft_role(leader), RAFT_LEADER);
    /* Node 2 acknowledges index 2 only (the term-2 entry), not the leader's no-op. */
    struct raft_message ack;
    memset(&ack, 0, sizeof ack);
    ack.type = RAFT_MSG_APPEND_RESPONSE;
    ack.from = 2;
    ack.to = 1;
    ack.term = raft_term(leader);
    ack.index = 2;
    raft_step(leader, &ack);
    fixture_drain(&fixture);
    assert_int_equal(raft_commit_index(leader), 0);
    ack.index = 3;
    raft_step(leader, &ack);
    fixture_drain(&fixture);
    assert_int_equal(raft_commit_index(leader), 3);
    fixture_free(&fixture);
}

/* Thesis §10.2: a follower that does not answer gets at most max_inflight_appends APPENDs. */
static void test_inflight_appends_are_bounded(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    fixture_settle(&fixture);
    fixture.nodes[1].cut_off = true;
    fixture.nodes[2].cut_off = true;
    struct raft *leader = fixture_raft(&fixture, 1);
    uint32_t appends_to_two = 0;
    for (int i = 0; i < 20; i++) {
        uint64_t index;
        uint64_t term;
        assert_int_equal(raft_propose(leader, (const uint8_t *)"z", 1, &index, &term), 0);
        struct raft_ready ready;
        while (raft_ready(leader, &ready)) {
            for (size_t m = 0; m < ready.messages_immediate_count; m++) {
                if (ready.messages_immediate[m].to == 2 &&
                    ready.messages_immediate[m].type == RAFT_MSG_APPEND) {
                    appends_to_two++;
                }
            }
            raft_advance(leader, &ready);
        }
    }
    assert_int_equal(appends_to_two, 4); /* the fixture's max_inflight_appends */
    fixture_free(&fixture);
}

/* Thesis §6.4: a read is confirmed only after a quorum answers a heartbeat round. */
static void test_read_index_waits_for_quorum(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    fixture.nodes[1].cut_off = true;
    fixture.nodes[2].cut_off = true;
    assert_int_equal(raft_read_index(fixture_raft(&fixture, 1), 42), 0);
    fixture_settle(&fixture);
    assert_int_equal(fixture.nodes[0].reads_served_count, 0);
    fixture.nodes[1].cut_off = false;
    fixture_tick_all(&fixture, 1);
    assert_int_equal(fixture.nodes[0].reads_served_count, 1);
    assert_int_equal(fixture.nodes[0].reads_served[0], 42);
    fixture_free(&fixture);
}

/* Thesis §6.4: many reads share one heartbeat round. */
static void test_reads_share_one_heartbeat_round(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    struct raft *leader = fixture_raft(&fixture, 1);
    for (uint64_t id = 1; id <= 10; id++) {
        assert_int_equal(raft_read_index(leader, id), 0);
    }
    fixture_drain(&fixture);
    assert_int_equal(fixture_count_queued(&fixture, RAFT_MSG_HEARTBEAT, 1), 2);
    fixture_settle(&fixture);
    assert_int_equal(fixture.nodes[0].reads_served_count, 10);
    fixture_free(&fixture);
}

/* Thesis §6.4: a deposed leader fails pending reads; so does a follower whose leader never
 * answers (it asks again after one election timeout, and gives up after two). */
static void test_reads_fail_when_leadership_is_lost(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, true, true);
    fixture_elect(&fixture, 1);
    fixture.nodes[1].cut_off = true;
    fixture.nodes[2].cut_off = true;
    assert_int_equal(raft_read_index(fixture_raft(&fixture, 1), 8), 0);
    assert_int_equal(raft_read_index(fixture_raft(&fixture, 2), 7), 0);
    for (int i = 0; i < 25; i++) {
        raft_tick(fixture_raft(&fixture, 1));
        fixture_drain(&fixture);
    }
    assert_int_equal(fixture.nodes[0].reads_served_count, 0);
    assert_int_equal(fixture.nodes[0].reads_failed_count, 1);
    assert_int_equal(fixture.nodes[0].reads_failed[0], 8);
    /* Node 2's read fails within two election timeouts: when its pre-vote campaign resets
     * its leader, or when the unanswered request times out, whichever comes first. */
    for (int i = 0; i < 20; i++) {
        raft_tick(fixture_raft(&fixture, 2));
        fixture_drain(&fixture);
    }
    assert_int_equal(fixture.nodes[1].reads_served_count, 0);
    assert_int_equal(fixture.nodes[1].reads_failed_count, 1);
    assert_int_equal(fixture.nodes[1].reads_failed[0], 7);
    /* Now it knows no leader, and refuses at once. */
    assert_int_equal(raft_read_index(fixture_raft(&fixture, 2), 9), RAFT_ERROR_NOT_LEADER);
    fixture_free(&fixture);
}

/* A follower's reads are one READ_INDEX to its leader, answered after the leader's round;
 * one whose request was lost asks again after an election timeout. */
static void test_follower_reads_ask_the_leader(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, true, true);
    fixture_elect(&fixture, 1);
    fixture_settle(&fixture);
    assert_int_equal(fixture_propose(&fixture, 1, "w"), 0);
    fixture_settle(&fixture);
    struct raft *follower = fixture_raft(&fixture, 3);
    for (uint64_t id = 1; id <= 5; id++) {
        assert_int_equal(raft_read_index(follower, id), 0);
    }
    fixture_drain(&fixture);
    assert_int_equal(fixture_count_queued(&fixture, RAFT_MSG_READ_INDEX, 3), 1);
    fixture_settle(&fixture);
    assert_int_equal(fixture.nodes[2].reads_served_count, 5);
    /* Lost: the request never arrives, and is sent again one election timeout later. */
    assert_int_equal(raft_read_index(follower, 6), 0);
    fixture_drain(&fixture);
    assert_int_equal(fixture_count_queued(&fixture, RAFT_MSG_READ_INDEX, 3), 1);
    fixture_clear_queue(&fixture);
    for (int i = 0; i < 10; i++) {
        fixture_tick_all(&fixture, 1);
        fixture_settle(&fixture);
    }
    assert_int_equal(fixture.nodes[2].reads_served_count, 6);
    assert_int_equal(fixture.nodes[2].reads_failed_count, 0);
    fixture_free(&fixture);
}

/* §6.4.1: a leader whose round a quorum acknowledged serves lease reads at once until
 * lease_ticks after the round was sent; then they wait for a round again. */
static void test_lease_reads_skip_the_round_until_it_lapses(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, true, true);
    fixture.lease_ticks = 8;
    for (raft_node_id id = 1; id <= 3; id++) {
        fixture_restart(&fixture, id);
    }
    fixture_tick_all(&fixture, 10); /* past the boot lease, in which no node votes */
    fixture_elect(&fixture, 1);
    fixture_settle(&fixture);
    struct raft *leader = fixture_raft(&fixture, 1);
    assert_int_equal(raft_read_lease(leader, 1), 0); /* no lease yet: a round */
    fixture_drain(&fixture);
    assert_int_equal(fixture_count_queued(&fixture, RAFT_MSG_HEARTBEAT, 1), 2);
    fixture_settle(&fixture);
    assert_int_equal(fixture.nodes[0].reads_served_count, 1);
    fixture.nodes[1].cut_off = true;
    fixture.nodes[2].cut_off = true;
    assert_int_equal(raft_read_lease(leader, 2), 0); /* within the lease: at once */
    fixture_drain(&fixture);
    assert_int_equal(fixture.nodes[0].reads_served_count, 2);
    for (int i = 0; i < 8; i++) {
        raft_tick(leader);
        fixture_drain(&fixture);
    }
    assert_int_equal(raft_read_lease(leader, 3), 0); /* lapsed: waits for a round */
    fixture_drain(&fixture);
    assert_int_equal(fixture.nodes[0].reads_served_count, 2);
    fixture_free(&fixture);
}

/* A node that just started ignores campaigns for an election timeout when lease reads are
 * on: before its crash it may have acknowledged the round a leader's lease counts on. */
static void test_boot_lease_ignores_campaigns(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, true);
    fixture.lease_ticks = 8;
    fixture_restart(&fixture, 2);
    struct raft_message vote = {
        .type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 5, .index = 0, .log_term = 0};
    assert_int_equal(fixture_step(&fixture, &vote), 0);
    fixture_drain(&fixture);
    assert_int_equal(fixture_count_queued(&fixture, RAFT_MSG_VOTE_RESPONSE, 2), 0);
    for (int i = 0; i < 10; i++) {
        raft_tick(fixture_raft(&fixture, 2));
    }
    fixture_clear_queue(&fixture);
    assert_int_equal(fixture_step(&fixture, &vote), 0);
    fixture_drain(&fixture);
    assert_int_equal(fixture_count_queued(&fixture, RAFT_MSG_VOTE_RESPONSE, 2), 1);
    assert_false(fixture_queued(&fixture, 0)->reject);
    fixture_free(&fixture);
}

/* A read accepted before the leader's first commit waits without making work for the host:
 * a host that loops on raft_ready() must not spin (found by the simulator, seed 1). */
static void test_early_read_makes_no_ready_until_commit(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture.nodes[1].cut_off = true;
    fixture.nodes[2].cut_off = true;
    fixture_elect(&fixture, 1);
    struct raft *leader = fixture_raft(&fixture, 1);
    /* Votes came in by hand: the leader exists but its no-op cannot commit. */
    for (raft_node_id voter = 2; voter <= 3 && raft_role(leader) != RAFT_LEADER; voter++) {
        struct raft_message grant;
        memset(&grant, 0, sizeof grant);
        grant.type = RAFT_MSG_VOTE_RESPONSE;
        grant.from = voter;
        grant.to = 1;
        grant.term = raft_term(leader);
        raft_step(leader, &grant);
    }
    fixture_drain(&fixture);
    assert_int_equal(raft_role(leader), RAFT_LEADER);
    assert_int_equal(raft_read_index(leader, 5), 0);
    fixture_drain(&fixture);
    assert_false(raft_has_ready(leader));
    assert_int_equal(fixture.nodes[0].reads_served_count, 0);
    fixture_free(&fixture);
}

/* An APPEND lost on an idle cluster is sent again after a heartbeat round shows no progress
 * (found by the simulator, seed 1641): a follower must not stay behind forever. */
static void test_lost_append_is_resent_without_new_traffic(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    fixture_settle(&fixture);
    fixture.nodes[2].cut_off = true; /* node 3 misses the next APPEND */
    assert_int_equal(fixture_propose(&fixture, 1, "lost"), 0);
    fixture_settle(&fixture);
    fixture.nodes[2].cut_off = false;
    uint64_t last = raft_last_index(fixture_raft(&fixture, 1));
    fixture_tick_all(&fixture, 4);
    assert_int_equal(raft_last_index(fixture_raft(&fixture, 3)), last);
    assert_int_equal(raft_commit_index(fixture_raft(&fixture, 3)), last);
    fixture_free(&fixture);
}

/* A snapshot installed while a ready is outstanding must not free the data of the committed
 * entries that ready hands to the host (found by the simulator's open readies, seed 180). */
static void test_snapshot_during_outstanding_ready_keeps_committed_data(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft *follower = fixture_raft(&fixture, 1);
    struct raft_entry entries[2] = {entry_of(1, 1), entry_of(2, 1)};
    uint8_t payload[2][4] = {"abc", "def"};
    for (int i = 0; i < 2; i++) {
        entries[i].data = payload[i];
        entries[i].data_bytes = 4;
    }
    struct raft_message append = append_of(2, 1, 1, 0, 0, entries, 2);
    append.commit = 2;
    assert_int_equal(raft_step(follower, &append), 0);
    struct raft_ready ready;
    assert_true(raft_ready(follower, &ready));
    assert_int_equal(ready.committed_count, 2);
    /* The fsync runs; meanwhile a snapshot far ahead arrives and replaces the log. */
    struct raft_message snapshot;
    memset(&snapshot, 0, sizeof snapshot);
    snapshot.type = RAFT_MSG_SNAPSHOT;
    snapshot.from = 2;
    snapshot.to = 1;
    snapshot.term = 1;
    snapshot.snapshot.index = 50;
    snapshot.snapshot.term = 1;
    snapshot.snapshot.configuration = *raft_configuration(follower);
    assert_int_equal(raft_step(follower, &snapshot), 0);
    assert_int_equal(raft_first_index(follower), 51);
    assert_memory_equal(ready.committed[0].data, "abc", 4);
    assert_memory_equal(ready.committed[1].data, "def", 4);
    raft_advance(follower, &ready);
    fixture_free(&fixture);
}

/* §7: a follower behind the compacted log is sent the snapshot, and its log restarts after
 * the snapshot's last index. */
static void test_follower_behind_compaction_gets_snapshot(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    fixture.nodes[2].cut_off = true;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(fixture_propose(&fixture, 1, "s"), 0);
        fixture_settle(&fixture);
    }
    struct raft *leader = fixture_raft(&fixture, 1);
    uint64_t applied = raft_applied_index(leader);
    assert_int_equal(raft_compact(leader, applied), 0);
    assert_int_equal(raft_first_index(leader), applied + 1);
    fixture.nodes[2].cut_off = false;
    fixture_tick_all(&fixture, 2);
    struct raft *follower = fixture_raft(&fixture, 3);
    assert_int_equal(raft_first_index(follower), applied + 1);
    assert_int_equal(raft_commit_index(follower), raft_commit_index(leader));
    /* The snapshot's install is reported; then replication resumes after it. */
    raft_report_snapshot(leader, 3, true);
    assert_int_equal(fixture_propose(&fixture, 1, "after"), 0);
    fixture_tick_all(&fixture, 2);
    assert_int_equal(raft_last_index(follower), raft_last_index(leader));
    fixture_free(&fixture);
}

/* Messages from strangers and malformed messages are refused without effect. */
static void test_malformed_messages_are_refused(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft_entry gap[2] = {entry_of(1, 1), entry_of(3, 1)};
    struct raft_message bad = append_of(2, 1, 1, 0, 0, gap, 2);
    assert_int_equal(fixture_step(&fixture, &bad), RAFT_ERROR_INVALID);
    struct raft_entry future[1] = {entry_of(1, 9)};
    struct raft_message ahead = append_of(2, 1, 1, 0, 0, future, 1);
    assert_int_equal(fixture_step(&fixture, &ahead), RAFT_ERROR_INVALID);
    struct raft_message wrong_target = append_of(2, 3, 1, 0, 0, NULL, 0);
    assert_int_equal(raft_step(fixture_raft(&fixture, 1), &wrong_target), RAFT_ERROR_INVALID);
    bad.type = 99;
    assert_int_equal(fixture_step(&fixture, &bad), RAFT_ERROR_INVALID);
    assert_int_equal(raft_term(fixture_raft(&fixture, 1)), 0);
    assert_int_equal(raft_last_index(fixture_raft(&fixture, 1)), 0);
    fixture_free(&fixture);
}

/* A peer's APPEND that pairs an index with an impossible previous term, or carries an entry of
 * term 0, is refused: it used to move a fresh follower's commit index past its empty log, or
 * abort the node in an assertion. */
static void test_forged_append_is_refused(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft *follower = fixture_raft(&fixture, 2);
    struct raft_message beyond = {.type = RAFT_MSG_APPEND,
                                  .from = 1,
                                  .to = 2,
                                  .term = 2,
                                  .index = 100,
                                  .log_term = 0,
                                  .commit = 100};
    assert_int_equal(fixture_step(&fixture, &beyond), RAFT_ERROR_INVALID);
    struct raft_message before = {
        .type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 2, .index = 0, .log_term = 2};
    assert_int_equal(fixture_step(&fixture, &before), RAFT_ERROR_INVALID);
    struct raft_entry zero = {.term = 0, .index = 1, .type = RAFT_ENTRY_NOOP};
    struct raft_message term_zero = {
        .type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 2, .entry_count = 1, .entries = &zero};
    assert_int_equal(fixture_step(&fixture, &term_zero), RAFT_ERROR_INVALID);
    struct raft_entry one = {.term = 2, .index = 101, .type = RAFT_ENTRY_NOOP};
    beyond.entry_count = 1;
    beyond.entries = &one;
    assert_int_equal(fixture_step(&fixture, &beyond), RAFT_ERROR_INVALID);
    assert_int_equal(raft_commit_index(follower), 0);
    assert_int_equal(raft_last_index(follower), 0);
    fixture_free(&fixture);
}

/* A snapshot that carries another configuration brings the per-member progress with it, so a
 * node that later leads counts quorums over the members it now has (it used to keep the old
 * array and read past it). */
static void test_snapshot_configuration_rebuilds_progress(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    fixture_settle(&fixture);
    struct raft *follower = fixture_raft(&fixture, 3);
    struct raft_message snapshot = {.type = RAFT_MSG_SNAPSHOT,
                                    .from = 1,
                                    .to = 3,
                                    .term = raft_term(fixture_raft(&fixture, 1))};
    snapshot.snapshot.index = 10;
    snapshot.snapshot.term = snapshot.term;
    snapshot.snapshot.configuration.voter_count = 5;
    snapshot.snapshot.configuration.highest_id = 5;
    for (uint32_t i = 0; i < 5; i++) {
        snapshot.snapshot.configuration.voters[i] = i + 1;
    }
    /* raft_progress() answers only on a leader: this looks inside the core. */
    assert_int_equal(follower->progress_count, 3);
    assert_int_equal(fixture_step(&fixture, &snapshot), 0);
    assert_int_equal(raft_configuration(follower)->voter_count, 5);
    assert_int_equal(follower->progress_count, 5);
    assert_int_equal(follower->progress[4].id, 5);
    fixture_free(&fixture);
}

/* A driver told to yield returns after each ready that applied entries, with the rest left for
 * the next call (the server's next loop turn), in order; without it one call applies all that
 * is committed. */
static void test_driver_yields_after_each_apply(void **state)
{
    (void)state;
    for (int yield = 0; yield <= 1; yield++) {
        struct fixture fixture;
        fixture_init(&fixture, 3, false, false);
        fixture.max_committed_per_ready = 1;
        for (raft_node_id id = 1; id <= 3; id++) {
            fixture_restart(&fixture, id);
        }
        fixture_elect(&fixture, 1);
        fixture_settle(&fixture);
        struct fixture_node *leader = &fixture.nodes[0];
        driver_yield_after_apply(&leader->driver, yield == 1);
        uint64_t before = leader->applied;
        for (int i = 0; i < 3; i++) {
            assert_int_equal(fixture_propose(&fixture, 1, "SET k v"), 0);
        }
        fixture_drain(&fixture); /* the leader persists and sends its APPENDs */
        uint32_t appends = fixture.queue_count;
        for (uint32_t i = 0; i < appends; i++) {
            assert_true(fixture_deliver_one(&fixture)); /* the followers persist and ack */
        }
        /* The acknowledgements reach the leader's core, not yet its driver. */
        uint32_t acks = fixture.queue_count;
        assert_true(acks > 0 && acks <= 8);
        struct raft_message held[8];
        for (uint32_t i = 0; i < acks; i++) {
            held[i] = *fixture_queued(&fixture, i);
            assert_int_equal(held[i].to, 1);
            assert_int_equal(held[i].entry_count, 0);
        }
        fixture_clear_queue(&fixture);
        for (uint32_t i = 0; i < acks; i++) {
            fixture_step(&fixture, &held[i]);
        }
        assert_int_equal(leader->applied, before);
        driver_process(&leader->driver);
        if (yield) {
            assert_int_equal(leader->applied, before + 1);
            assert_true(raft_has_ready(leader->raft));
            driver_process(&leader->driver);
            assert_int_equal(leader->applied, before + 2);
            driver_process(&leader->driver);
        }
        assert_int_equal(leader->applied, before + 3);
        assert_false(raft_has_ready(leader->raft));
        fixture_free(&fixture);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forged_append_is_refused),
        cmocka_unit_test(test_snapshot_configuration_rebuilds_progress),
        cmocka_unit_test(test_follower_rejects_append_with_mismatched_previous),
        cmocka_unit_test(test_follower_truncates_conflicting_suffix),
        cmocka_unit_test(test_reject_hint_skips_a_whole_term),
        cmocka_unit_test(test_leader_repairs_divergent_follower),
        cmocka_unit_test(test_entry_commits_on_majority),
        cmocka_unit_test(test_entry_does_not_commit_without_majority),
        cmocka_unit_test(test_leader_counts_itself_only_after_persisting),
        cmocka_unit_test(test_leader_never_commits_old_term_entry_by_counting),
        cmocka_unit_test(test_inflight_appends_are_bounded),
        cmocka_unit_test(test_read_index_waits_for_quorum),
        cmocka_unit_test(test_reads_share_one_heartbeat_round),
        cmocka_unit_test(test_reads_fail_when_leadership_is_lost),
        cmocka_unit_test(test_follower_reads_ask_the_leader),
        cmocka_unit_test(test_lease_reads_skip_the_round_until_it_lapses),
        cmocka_unit_test(test_boot_lease_ignores_campaigns),
        cmocka_unit_test(test_early_read_makes_no_ready_until_commit),
        cmocka_unit_test(test_lost_append_is_resent_without_new_traffic),
        cmocka_unit_test(test_snapshot_during_outstanding_ready_keeps_committed_data),
        cmocka_unit_test(test_follower_behind_compaction_gets_snapshot),
        cmocka_unit_test(test_malformed_messages_are_refused),
        cmocka_unit_test(test_driver_yields_after_each_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
