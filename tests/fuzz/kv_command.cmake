# The decoder of Raft entries holding kv commands (bytes from disk and from peers).
#
# With RAFTKV_FUZZ the target links kv_fuzz, a copy of the kv library compiled with
# -fsanitize=fuzzer-no-link: raftkv_fuzz_target() instruments only the target's own sources,
# and libFuzzer cannot steer toward code it does not see (the decoder lives in the library).
if(RAFTKV_FUZZ)
  file(GLOB KV_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/kv/*.c)
  add_library(kv_fuzz STATIC ${KV_FUZZ_SOURCES})
  target_compile_options(kv_fuzz PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
  target_link_libraries(kv_fuzz PUBLIC lmdb xxhash)
  raftkv_fuzz_target(fuzz_kv_command SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_kv_command.c
                     LIBS kv_fuzz)
else()
  raftkv_fuzz_target(fuzz_kv_command SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_kv_command.c
                     LIBS kv)
endif()
