# Time to live on a real cluster (issue 12): expiry on every node, deadlines across failover and
# snapshot install, and a leader whose wall clock is shifted by minutes (libfaketime).
add_test(NAME cluster_expire
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_expire_cluster.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_expire PROPERTIES
                     LABELS cluster TIMEOUT 600
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
