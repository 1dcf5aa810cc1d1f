# kv's keys commands: RENAME, RENAMENX, COPY, TOUCH, RANDOMKEY, OBJECT, TIME.
raftkv_unit_test(test_kv_keys SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_keys.c LIBS kv)
