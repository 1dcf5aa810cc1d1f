# The decoder of a key's record in the state machine's database (a data file, a snapshot).
raftkv_fuzz_target(fuzz_kv_record SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_kv_record.c LIBS kv)
