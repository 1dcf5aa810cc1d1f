raftkv_unit_test(test_kv_acl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_acl.c LIBS kv)
