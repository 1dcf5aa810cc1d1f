# kv's unit tests: the commands (test_kv_commands), the state machine's batches, persistence
# and snapshots (test_kv_machine), and the entry codec and glob matcher (test_kv_codec).
# test_kv_support.c is #included by each, not compiled alone.
find_package(Threads REQUIRED)
raftkv_unit_test(test_kv_commands SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_commands.c LIBS kv)
raftkv_unit_test(test_kv_machine SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_machine.c
                 LIBS kv Threads::Threads)
raftkv_unit_test(test_kv_codec SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_codec.c LIBS kv)
raftkv_unit_test(test_kv_expire SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_expire.c LIBS kv)
raftkv_unit_test(test_kv_replicas SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_replicas.c LIBS kv)
