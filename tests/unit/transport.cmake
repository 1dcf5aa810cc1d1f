# The peer transport's unit tests: real TCP on 127.0.0.1 inside one libuv loop, with raw
# sockets playing strangers and impostors (test_transport.c).
raftkv_unit_test(test_transport SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_transport.c
  LIBS transport)
