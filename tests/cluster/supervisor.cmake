# scripts/supervisor.py, the demo cluster of `make run` (issue 15): started on free ports with a
# temporary data directory, its control API kills the leader (another takes over), restarts,
# pauses and resumes nodes, and SIGINT leaves no process behind. About 5 s under ASan.
add_test(NAME cluster_supervisor
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_supervisor.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_supervisor PROPERTIES
                     LABELS cluster TIMEOUT 300
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
