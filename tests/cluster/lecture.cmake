# The lecture's quick run (tests/lecture/lecture.py --quick --check): the partition scenario
# against --replication naive, lww and raft on real processes, asserting the lecture's outcome —
# naive splits and never converges, lww converges but is not linearizable (stale reads, lost
# updates), Raft stays linearizable, converges and refuses in the minority. These claims can
# fail: if naive ever looked linearizable here, the scenario would be broken. About half a
# minute under ASan; its faults are the nodes' own (--enable-fault-injection), no root. test_replication_modes.py pins the modes' rules (Raft is the
# default, the foils warn in INFO, a data directory or a peer of another mode is refused).
add_test(NAME cluster_lecture
         COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/lecture/lecture.py --quick --check
                 --out ${CMAKE_CURRENT_BINARY_DIR}/lecture
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_lecture PROPERTIES
                     LABELS cluster TIMEOUT 400 RUN_SERIAL TRUE
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
add_test(NAME cluster_replication_modes
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_replication_modes.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_replication_modes PROPERTIES
                     LABELS cluster TIMEOUT 300
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
