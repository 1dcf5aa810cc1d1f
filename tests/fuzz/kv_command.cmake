# The decoder of Raft entries holding kv commands (bytes from disk and from peers).
raftkv_fuzz_target(fuzz_kv_command SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_kv_command.c LIBS kv)
