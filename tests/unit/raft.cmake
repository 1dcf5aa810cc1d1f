# The consensus core's unit tests: paper rules, one behaviour per test, over a hand-driven
# fixture cluster (raft_fixture.c).
add_library(raft_fixture STATIC ${CMAKE_CURRENT_SOURCE_DIR}/raft_fixture.c)
target_link_libraries(raft_fixture PUBLIC driver raft)
raftkv_unit_test(test_raft_election
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_raft_election.c LIBS raft_fixture)
raftkv_unit_test(test_raft_replication
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_raft_replication.c LIBS raft_fixture)
# Golden traces: scripts in testdata/raft/*.txt drive a cluster and every ready is compared
# with the text checked in beside each step (RAFTKV_GOLDEN_REWRITE=1 regenerates them).
raftkv_unit_test(test_raft_golden
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_raft_golden.c LIBS raft)
target_compile_definitions(test_raft_golden
  PRIVATE RAFTKV_GOLDEN_DIR="${CMAKE_CURRENT_SOURCE_DIR}/testdata/raft")
# Membership changes: the guards of raft_propose_change at their limits, learners, joining,
# leaders that remove or demote themselves, configurations in snapshots and in CONFIG entries.
raftkv_unit_test(test_raft_membership
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_raft_membership.c LIBS raft_fixture)
