# The data model on a real cluster (issue 12): expiry on every node, deadlines across failover and
# snapshot install, a leader whose wall clock is shifted by minutes (libfaketime); blocking pops
# woken by the writes that feed them; redis-py's cluster client over every type; WATCH under
# contention; exactly-once writes of a session retried through faults; Pub/Sub through the log
# (subscribers on every node, restarts, slow subscribers at the output limits). And Debian's
# Redis libraries, unchanged, against the leader: rq, limits, redis-py's Lock and PubSub, kombu,
# Celery (test_libraries.py).
add_test(NAME cluster_datamodel
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_expire_cluster.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_blocking_cluster.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_client_library.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_libraries.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_sessions.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_pubsub_cluster.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_datamodel PROPERTIES
                     LABELS cluster TIMEOUT 600
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
