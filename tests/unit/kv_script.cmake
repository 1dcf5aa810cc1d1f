raftkv_unit_test(test_kv_script SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_script.c LIBS kv)
