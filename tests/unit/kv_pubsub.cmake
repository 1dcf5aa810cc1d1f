# PUBLISH and keyspace notifications in the state machine (kv/pubsub.c and the handlers'
# kv_notify calls).
find_package(Threads REQUIRED)
raftkv_unit_test(test_kv_pubsub SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_pubsub.c
                 LIBS kv Threads::Threads)
