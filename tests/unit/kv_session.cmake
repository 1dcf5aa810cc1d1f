raftkv_unit_test(test_kv_session SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_session.c LIBS kv)
