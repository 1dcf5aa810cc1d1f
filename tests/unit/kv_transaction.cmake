raftkv_unit_test(test_kv_transaction SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_transaction.c LIBS kv)
