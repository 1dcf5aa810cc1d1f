# ACL rules as clients send them to ACL SETUSER (kv/acl.c), canonicalized at apply.
raftkv_fuzz_target(fuzz_kv_acl SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_kv_acl.c LIBS kv)
