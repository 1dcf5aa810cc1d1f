# A session's kept reply as read back from the state machine's database (kv/session.c).
raftkv_fuzz_target(fuzz_kv_session_reply SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_kv_session_reply.c
                   LIBS kv)
