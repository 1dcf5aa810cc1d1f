# The sorted set commands (src/kv/zset*.c): every command, its errors and edge cases, against
# the real apply and read paths (test_kv_support.c).
raftkv_unit_test(test_kv_zset SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_zset.c LIBS kv)
