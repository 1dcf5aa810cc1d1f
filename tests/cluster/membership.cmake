# Membership changes on real processes (test_membership.py): nodes that join with --join and are
# promoted, a dead node replaced, 3 -> 5 -> 3 under a writer, a leader that removes itself, the
# RAFT.NODE guards as a client meets them, stale --member flags on restart. About half a minute
# on 2 cores; it runs alone (RUN_SERIAL) since the removed leader's handover is timed.
add_test(NAME cluster_membership
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_membership.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_membership PROPERTIES
                     LABELS cluster TIMEOUT 600 RUN_SERIAL TRUE
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
