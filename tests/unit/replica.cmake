# The replica module's unit tests (the lecture's foil modes, src/replica): two or three
# replicas in one process, their messages delivered, dropped or reordered by hand.
raftkv_unit_test(test_replica SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_replica.c LIBS replica kv)
