# The storage module's unit tests and its crash test (every write/sync point of a scripted
# workload, on the crash-simulating memfs).
find_package(Threads REQUIRED)
raftkv_unit_test(test_storage_wal SOURCES test_storage_wal.c
                 LIBS storage_memfs storage Threads::Threads)
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_storage_crash.c)
  raftkv_unit_test(test_storage_crash SOURCES test_storage_crash.c LIBS storage_memfs storage)
endif()
