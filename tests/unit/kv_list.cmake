# The list commands (src/kv/list.c) against Redis 7.0's replies, and a random walk against a
# model list; test_kv_support.c is #included, not compiled alone.
raftkv_unit_test(test_kv_list SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_list.c LIBS kv)
