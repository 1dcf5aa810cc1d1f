# A full disk under a running cluster (test_faults_disk.py): the nodes' data on a small tmpfs in
# a mount namespace the test creates, filled by a ballast file and then freed. Needs root; it
# runs alone (RUN_SERIAL) since its bounds are timings of a busy cluster.
add_test(NAME cluster_disk
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_faults_disk.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_disk PROPERTIES
                     LABELS cluster TIMEOUT 600 RUN_SERIAL TRUE
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
