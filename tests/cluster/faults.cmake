# The fault-injection suite (issue 5): real raftkv processes on loopback, hurt by nemesis.py
# (kill -9, SIGSTOP, nftables partitions and packet loss on this run's peer ports), their
# clients' histories judged by linearizability.py. test_faults_broken.py runs the same kind of
# scenario against the deliberately broken servers and must see the checker reject them: proof
# that the suite can fail. test_faults_transactions.py runs bank.py's transfers (WATCH +
# MULTI/EXEC, EVAL, CLIENT SESSION) under the same nemeses, judged by the bank checker, and
# against the broken servers too (under a minute of the budget). test_faults_tls.py runs the
# register workload over TLS clients on a --tls-only --tls-replication cluster under kills,
# pauses and partitions (about 25 s). Needs root for nftables. The
# default run is a representative subset that stays within about 5 minutes on 2 cores under
# ASan; RAFTKV_SOAK=1 (make soak) adds longer random runs on 3 and 5 nodes.
# RAFTKV_FAULTS_SEED=<n> replays a printed seed. It runs alone (RUN_SERIAL), like
# cluster_server: its failover bound is a timing.
set(raftkv_faults_broken "")
foreach(broken raftkv_broken_local_reads raftkv_broken_ack_before_commit)
  if(TARGET ${broken})
    list(APPEND raftkv_faults_broken "$<TARGET_FILE:${broken}>")
  endif()
endforeach()
# ':' joins the broken binaries in one variable (test_faults_broken.py splits on os.pathsep).
string(REPLACE ";" ":" raftkv_faults_broken "${raftkv_faults_broken}")

add_test(NAME cluster_faults
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_faults_crash.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_faults_partition.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_faults_mixed.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_faults_broken.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_faults_transactions.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_faults_tls.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set(raftkv_faults_environment "RAFTKV_BINARY=$<TARGET_FILE:raftkv>"
    "RAFTKV_BROKEN_BINARY=${raftkv_faults_broken}" "PYTHONDONTWRITEBYTECODE=1")
set_tests_properties(cluster_faults PROPERTIES
                     LABELS cluster TIMEOUT 900 RUN_SERIAL TRUE
                     ENVIRONMENT "${raftkv_faults_environment}")

# The fault suite without root (issue 15): partitions, one-way cuts, delay, loss and reordering
# made by the nodes' own fault point (--enable-fault-injection, RAFT.FAULT) instead of
# nftables, judged by the same checker; and the control surface (RAFT.FAULT, POST /api/fault)
# at its limits, refused on a node without the flag; and the broken server that reads without
# ReadIndex, which it must catch. About 60 s under ASan. Serial: its refusal bounds are timings.
add_test(NAME cluster_faults_injected
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_faults_injected.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_faults_injected PROPERTIES
                     LABELS cluster TIMEOUT 300 RUN_SERIAL TRUE
                     ENVIRONMENT "${raftkv_faults_environment}")
