# wal_bench: WAL appends and fsyncs per second for batches of 1, 16 and 256 entries, next to
# the raw write + fdatasync rate of the same disk. Usage: wal_bench [directory] [seconds/row]
add_executable(wal_bench ${CMAKE_CURRENT_SOURCE_DIR}/wal_bench.c)
target_link_libraries(wal_bench PRIVATE storage)
