# The server's end-to-end suite: real raftkv processes on loopback addresses 127.0.0.11.., driven
# through redis-py, redis-cli and redis-benchmark (test_server_*.py, with harness.py and
# conftest.py). Only the test_server_*.py files run here: the checker's tests run as
# cluster_checker and the fault suites (test_faults_*.py) register themselves, so nothing runs
# twice and this test stays near half a minute under ASan. -k "not checker" is kept as a guard.
# Needs the raftkv binary, so it is labelled cluster, not unit.
file(GLOB cluster_server_suites CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test_server_*.py)
add_test(NAME cluster_server
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${cluster_server_suites} -k "not checker"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_server PROPERTIES
                     LABELS cluster TIMEOUT 600 RUN_SERIAL TRUE
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
