# The membership nemesis (test_faults_membership.py): nodes replaced one after another — a new
# id joins with --join, is promoted, an old voter (the leader about a third of the time) is
# removed — while the recorded workload runs and the usual random faults hurt the cluster; the
# history is judged by linearizability.py. Needs root for nftables, like cluster_faults, and
# runs alone (RUN_SERIAL); about a minute and a half on 2 cores. RAFTKV_FAULTS_SEED=<n> replays
# the fault thread's choices.
add_test(NAME cluster_faults_membership
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_faults_membership.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_faults_membership PROPERTIES
                     LABELS cluster TIMEOUT 600 RUN_SERIAL TRUE
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
