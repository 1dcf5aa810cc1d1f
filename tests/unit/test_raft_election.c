/*
 * test_raft_election.c — the election rules of the core, one behaviour per test, each citing
 * the section of the Raft paper (or Ongaro's thesis) it pins down.
 */
#include "raft_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static struct raft_message vote_request(raft_node_id from, raft_node_id to, uint64_t term,
                                        uint64_t last_index, uint64_t last_term)
{
    struct raft_message message;
    memset(&message, 0, sizeof message);
    message.type = RAFT_MSG_VOTE;
    message.from = from;
    message.to = to;
    message.term = term;
    message.index = last_index;
    message.log_term = last_term;
    return message;
}

/* Finds the last queued response of `type` from `from`. */
static const struct raft_message *queued_reply(struct fixture *fixture, int type, raft_node_id from)
{
    const struct raft_message *found = NULL;
    for (uint32_t i = 0; i < fixture->queue_count; i++) {
        const struct raft_message *message = fixture_queued(fixture, i);
        if (message->type == type && message->from == from) {
            found = message;
        }
    }
    return found;
}

/* §5.2: a follower that hears nothing for an election timeout starts an election and, with
 * a quorum of votes, becomes leader. */
static void test_election_timeout_elects_a_leader(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    assert_int_equal(raft_role(fixture_raft(&fixture, 1)), RAFT_LEADER);
    assert_int_equal(raft_term(fixture_raft(&fixture, 1)), 1);
    assert_int_equal(raft_leader(fixture_raft(&fixture, 2)), 1);
    assert_int_equal(raft_leader(fixture_raft(&fixture, 3)), 1);
    fixture_free(&fixture);
}

/* §5.2: the election timeout is randomized in [T, 2T) so that split votes are rare. */
static void test_election_timeouts_are_randomized_within_bounds(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    uint32_t ticks[3] = {0};
    for (uint32_t node = 1; node <= 3; node++) {
        struct raft *raft = fixture_raft(&fixture, node);
        while (raft_role(raft) == RAFT_FOLLOWER && ticks[node - 1] < 100) {
            raft_tick(raft);
            ticks[node - 1]++;
        }
        assert_true(ticks[node - 1] >= 10);
        assert_true(ticks[node - 1] < 20);
    }
    assert_false(ticks[0] == ticks[1] && ticks[1] == ticks[2]);
    fixture_free(&fixture);
}

/* §5.2: each node votes for at most one candidate in a term. */
static void test_node_votes_once_per_term(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft_message first = vote_request(2, 1, 1, 0, 0);
    fixture_step(&fixture, &first);
    struct raft_message second = vote_request(3, 1, 1, 0, 0);
    fixture_step(&fixture, &second);
    fixture_drain(&fixture);
    const struct raft_message *to_two = queued_reply(&fixture, RAFT_MSG_VOTE_RESPONSE, 1);
    assert_non_null(to_two);
    assert_int_equal(fixture_count_queued(&fixture, RAFT_MSG_VOTE_RESPONSE, 1), 2);
    assert_false(fixture_queued(&fixture, 0)->reject);
    assert_int_equal(fixture_queued(&fixture, 0)->to, 2);
    assert_true(fixture_queued(&fixture, 1)->reject);
    assert_int_equal(raft_vote(fixture_raft(&fixture, 1)), 2);
    fixture_free(&fixture);
}

/* §5.4.1: a voter denies its vote to a candidate whose log is less up-to-date. */
static void test_candidate_with_stale_log_gets_no_vote(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    assert_int_equal(fixture_propose(&fixture, 1, "x"), 0);
    fixture_settle(&fixture);
    /* Node 3 claims a log that ends before the entries nodes 1 and 2 hold. */
    struct raft_message request = vote_request(3, 2, 5, 1, 1);
    fixture_clear_queue(&fixture);
    fixture_step(&fixture, &request);
    fixture_drain(&fixture);
    const struct raft_message *reply = queued_reply(&fixture, RAFT_MSG_VOTE_RESPONSE, 2);
    assert_non_null(reply);
    assert_true(reply->reject);
    assert_int_equal(raft_vote(fixture_raft(&fixture, 2)), RAFT_NODE_NONE);
    fixture_free(&fixture);
}

/* A forged or corrupt term near 2^64 is refused, so that no later campaign wraps it to 0
 * (a heartbeat at 2^64 - 1 followed by TIMEOUT_NOW used to fail an assertion). */
static void test_message_with_an_impossible_term_is_refused(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    fixture_settle(&fixture);
    struct raft *follower = fixture_raft(&fixture, 2);
    uint64_t term = raft_term(follower);
    struct raft_message heartbeat = {
        .type = RAFT_MSG_HEARTBEAT, .from = 3, .to = 2, .term = UINT64_MAX};
    assert_int_equal(fixture_step(&fixture, &heartbeat), RAFT_ERROR_INVALID);
    heartbeat.term = RAFT_MAX_TERM + 1;
    assert_int_equal(fixture_step(&fixture, &heartbeat), RAFT_ERROR_INVALID);
    struct raft_message timeout_now = {
        .type = RAFT_MSG_TIMEOUT_NOW, .from = 3, .to = 2, .term = UINT64_MAX};
    assert_int_equal(fixture_step(&fixture, &timeout_now), RAFT_ERROR_INVALID);
    assert_int_equal(raft_term(follower), term);
    /* At the highest term it accepts, a node follows but never campaigns past it. */
    heartbeat.term = RAFT_MAX_TERM;
    assert_int_equal(fixture_step(&fixture, &heartbeat), 0);
    timeout_now.term = RAFT_MAX_TERM;
    assert_int_equal(fixture_step(&fixture, &timeout_now), 0);
    assert_int_equal(raft_term(follower), RAFT_MAX_TERM);
    fixture_free(&fixture);
}

/* §5.4.1: a longer log of a lower last term is still less up-to-date. */
static void test_last_term_decides_before_length(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    fixture_settle(&fixture);
    assert_int_equal(raft_last_term(fixture_raft(&fixture, 2)), 1);
    struct raft_message request = vote_request(3, 2, 9, 50, 0);
    fixture_clear_queue(&fixture);
    fixture_step(&fixture, &request);
    fixture_drain(&fixture);
    const struct raft_message *reply = queued_reply(&fixture, RAFT_MSG_VOTE_RESPONSE, 2);
    assert_non_null(reply);
    assert_true(reply->reject);
    fixture_free(&fixture);
}

/* §5.1: the vote is durable before the response granting it leaves the node. */
static void test_vote_is_persisted_before_the_grant_is_sent(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft_message request = vote_request(2, 1, 1, 0, 0);
    fixture_step(&fixture, &request);
    struct raft_ready ready;
    assert_true(raft_ready(fixture_raft(&fixture, 1), &ready));
    assert_int_equal(ready.messages_immediate_count, 0);
    assert_true(ready.has_hard_state);
    assert_int_equal(ready.hard_state.vote, 2);
    assert_int_equal(ready.hard_state.term, 1);
    assert_int_equal(ready.message_count, 1);
    assert_int_equal(ready.messages[0].type, RAFT_MSG_VOTE_RESPONSE);
    raft_advance(fixture_raft(&fixture, 1), &ready);
    fixture_free(&fixture);
}

/* §5.1: a restarted node remembers its vote and does not vote again in that term. */
static void test_restart_keeps_the_vote(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft_message request = vote_request(2, 1, 1, 0, 0);
    fixture_step(&fixture, &request);
    fixture_drain(&fixture);
    fixture_restart(&fixture, 1);
    fixture_clear_queue(&fixture);
    struct raft_message other = vote_request(3, 1, 1, 0, 0);
    fixture_step(&fixture, &other);
    fixture_drain(&fixture);
    const struct raft_message *reply = queued_reply(&fixture, RAFT_MSG_VOTE_RESPONSE, 1);
    assert_non_null(reply);
    assert_true(reply->reject);
    assert_int_equal(raft_vote(fixture_raft(&fixture, 1)), 2);
    fixture_free(&fixture);
}

/* §5.1: a leader that sees a higher term steps down. */
static void test_leader_steps_down_on_higher_term(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    fixture_elect(&fixture, 1);
    struct raft_message request = vote_request(2, 1, 7, 100, 7);
    fixture_step(&fixture, &request);
    assert_int_equal(raft_role(fixture_raft(&fixture, 1)), RAFT_FOLLOWER);
    assert_int_equal(raft_term(fixture_raft(&fixture, 1)), 7);
    fixture_free(&fixture);
}

/* §5.2: a candidate that learns of a leader of its own term returns to follower. */
static void test_candidate_yields_to_leader_of_same_term(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, false);
    struct raft *raft = fixture_raft(&fixture, 1);
    for (int i = 0; i < 100 && raft_role(raft) != RAFT_CANDIDATE; i++) {
        raft_tick(raft);
    }
    assert_int_equal(raft_role(raft), RAFT_CANDIDATE);
    struct raft_message heartbeat;
    memset(&heartbeat, 0, sizeof heartbeat);
    heartbeat.type = RAFT_MSG_HEARTBEAT;
    heartbeat.from = 2;
    heartbeat.to = 1;
    heartbeat.term = raft_term(raft);
    fixture_step(&fixture, &heartbeat);
    assert_int_equal(raft_role(raft), RAFT_FOLLOWER);
    assert_int_equal(raft_leader(raft), 2);
    fixture_free(&fixture);
}

/* Thesis §9.6: a node cut off from the cluster keeps campaigning under PreVote without
 * raising its term, so when it rejoins it does not unseat the healthy leader. */
static void test_prevote_rejoining_node_does_not_disrupt_leader(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, true, true);
    fixture_elect(&fixture, 1);
    uint64_t term = raft_term(fixture_raft(&fixture, 1));
    fixture.nodes[2].cut_off = true;
    for (int i = 0; i < 100; i++) {
        raft_tick(fixture_raft(&fixture, 3));
        fixture_drain(&fixture);
    }
    assert_int_equal(raft_term(fixture_raft(&fixture, 3)), term);
    fixture.nodes[2].cut_off = false;
    fixture_tick_all(&fixture, 30);
    assert_int_equal(raft_role(fixture_raft(&fixture, 1)), RAFT_LEADER);
    assert_int_equal(raft_term(fixture_raft(&fixture, 1)), term);
    assert_int_equal(raft_leader(fixture_raft(&fixture, 3)), 1);
    fixture_free(&fixture);
}

/* Thesis §4.2.3: a follower that heard from its leader within the election timeout ignores a
 * vote request, even one with a higher term. */
static void test_lease_ignores_vote_requests(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, false, true);
    fixture_elect(&fixture, 1);
    uint64_t term = raft_term(fixture_raft(&fixture, 2));
    struct raft_message request = vote_request(3, 2, term + 1, 100, term);
    fixture_step(&fixture, &request);
    assert_int_equal(raft_term(fixture_raft(&fixture, 2)), term);
    assert_int_equal(raft_vote(fixture_raft(&fixture, 2)), 1);
    fixture_free(&fixture);
}

/* Thesis §6.2: a leader that hears from no quorum for an election timeout steps down. */
static void test_partitioned_leader_steps_down_under_check_quorum(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, true, true);
    fixture_elect(&fixture, 1);
    fixture.nodes[1].cut_off = true;
    fixture.nodes[2].cut_off = true;
    struct raft *leader = fixture_raft(&fixture, 1);
    for (int i = 0; i < 25; i++) {
        raft_tick(leader);
        fixture_drain(&fixture);
    }
    assert_int_equal(raft_role(leader), RAFT_FOLLOWER);
    assert_int_equal(fixture_propose(&fixture, 1, "late"), RAFT_ERROR_NOT_LEADER);
    fixture_free(&fixture);
}

/* Thesis §6.2: a leader with a working quorum keeps its role. */
static void test_connected_leader_keeps_role_under_check_quorum(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, true, true);
    fixture_elect(&fixture, 1);
    fixture.nodes[2].cut_off = true;
    fixture_tick_all(&fixture, 50);
    assert_int_equal(raft_role(fixture_raft(&fixture, 1)), RAFT_LEADER);
    fixture_free(&fixture);
}

/* Thesis §3.10: leadership transfer hands over to an up-to-date target without waiting for
 * an election timeout. */
static void test_leadership_transfer_moves_leader(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, true, true);
    fixture_elect(&fixture, 1);
    assert_int_equal(fixture_propose(&fixture, 1, "a"), 0);
    fixture_settle(&fixture);
    assert_int_equal(raft_transfer_leadership(fixture_raft(&fixture, 1), 3), 0);
    fixture_settle(&fixture);
    assert_int_equal(raft_role(fixture_raft(&fixture, 3)), RAFT_LEADER);
    assert_int_equal(raft_leader(fixture_raft(&fixture, 1)), 3);
    assert_int_equal(fixture_propose(&fixture, 3, "b"), 0);
    fixture_free(&fixture);
}

/* Thesis §3.10: while a transfer is under way the leader refuses proposals. */
static void test_transfer_refuses_proposals_meanwhile(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 3, true, true);
    fixture_elect(&fixture, 1);
    fixture.nodes[2].cut_off = true;
    assert_int_equal(fixture_propose(&fixture, 1, "a"), 0);
    fixture_settle(&fixture);
    assert_int_equal(raft_transfer_leadership(fixture_raft(&fixture, 1), 3), 0);
    assert_int_equal(fixture_propose(&fixture, 1, "b"), RAFT_ERROR_TRANSFERRING);
    fixture_free(&fixture);
}

/* A single-voter cluster elects itself and commits alone. */
static void test_single_node_commits_alone(void **state)
{
    (void)state;
    struct fixture fixture;
    fixture_init(&fixture, 1, true, true);
    fixture_elect(&fixture, 1);
    assert_int_equal(raft_role(fixture_raft(&fixture, 1)), RAFT_LEADER);
    assert_int_equal(fixture_propose(&fixture, 1, "solo"), 0);
    fixture_drain(&fixture);
    assert_int_equal(fixture.nodes[0].applied_commands, 1);
    fixture_free(&fixture);
}

/* The sabotage switches (src/raft/raft_sabotage.h) exist only in the raft_sabotage library
 * that the simulator's sim_sabotage links: the core production links refuses them. */
static void test_production_core_refuses_sabotage_switches(void **state)
{
    (void)state;
    struct raft_config config;
    raft_config_default(&config, 1);
    config.configuration.voter_count = 1;
    config.configuration.voters[0] = 1;
    struct raft_boot_state boot;
    memset(&boot, 0, sizeof boot);
    struct raft *raft = NULL;
    config.sabotage = 1;
    assert_int_equal(raft_new(&config, &boot, &raft), RAFT_ERROR_INVALID);
    assert_null(raft);
    config.sabotage = 0;
    assert_int_equal(raft_new(&config, &boot, &raft), 0);
    assert_non_null(raft);
    raft_free(raft);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_election_timeout_elects_a_leader),
        cmocka_unit_test(test_election_timeouts_are_randomized_within_bounds),
        cmocka_unit_test(test_node_votes_once_per_term),
        cmocka_unit_test(test_candidate_with_stale_log_gets_no_vote),
        cmocka_unit_test(test_last_term_decides_before_length),
        cmocka_unit_test(test_vote_is_persisted_before_the_grant_is_sent),
        cmocka_unit_test(test_restart_keeps_the_vote),
        cmocka_unit_test(test_leader_steps_down_on_higher_term),
        cmocka_unit_test(test_candidate_yields_to_leader_of_same_term),
        cmocka_unit_test(test_prevote_rejoining_node_does_not_disrupt_leader),
        cmocka_unit_test(test_lease_ignores_vote_requests),
        cmocka_unit_test(test_partitioned_leader_steps_down_under_check_quorum),
        cmocka_unit_test(test_connected_leader_keeps_role_under_check_quorum),
        cmocka_unit_test(test_leadership_transfer_moves_leader),
        cmocka_unit_test(test_transfer_refuses_proposals_meanwhile),
        cmocka_unit_test(test_single_node_commits_alone),
        cmocka_unit_test(test_message_with_an_impossible_term_is_refused),
        cmocka_unit_test(test_production_core_refuses_sabotage_switches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
