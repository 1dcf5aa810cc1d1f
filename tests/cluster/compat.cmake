# Side by side with Redis (compat.py): every test_compat_*.py runs the same commands against a
# private redis-server 7.0 (Debian's /usr/bin/redis-server, installed by install-deps.sh) and a
# 3-node raftkv cluster, one of each per test module, and compares the raw RESP2 replies byte
# for byte. The files are globbed by the shell when the test runs, so a new test_compat_*.py
# joins without reconfiguring. Needs the raftkv binary, so it is labelled cluster; it runs
# alone (RUN_SERIAL) like the other cluster suites, since its expiry tests sleep past short
# deadlines and compare TTLs within a tolerance. Well under three minutes on 2 cores.
add_test(NAME cluster_compat
         COMMAND sh -c [[exec /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX "$0"/test_compat_*.py]]
                 ${CMAKE_CURRENT_SOURCE_DIR}
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_compat PROPERTIES
                     LABELS cluster TIMEOUT 600 RUN_SERIAL TRUE
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
