# The set commands (src/kv/set.c) against Redis 7.0's replies; test_kv_support.c is #included.
raftkv_unit_test(test_kv_set SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_set.c LIBS kv)
