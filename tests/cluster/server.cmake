# The server's end-to-end suite: real raftkv processes on loopback addresses 127.0.0.11.., driven
# through redis-py, redis-cli and redis-benchmark (test_server_*.py, harness.py, conftest.py).
# The checker's own tests run separately (cluster_checker), hence -k "not checker". Needs the
# raftkv binary, so it is labelled cluster, not unit.
add_test(NAME cluster_server
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR} -k "not checker"
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_server PROPERTIES
                     LABELS cluster TIMEOUT 600
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
