# The server's Pub/Sub registry and output limits (server/pubsub.c), without sockets.
if(TARGET server)
  raftkv_unit_test(test_server_pubsub SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_server_pubsub.c
                   LIBS server)
endif()
