raftkv_unit_test(test_kv_blocking SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_blocking.c LIBS kv)
