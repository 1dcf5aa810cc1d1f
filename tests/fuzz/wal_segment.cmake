# Arbitrary bytes as a WAL segment: the record decoder and the whole recovery (storage/).
raftkv_fuzz_target(fuzz_wal_segment SOURCES fuzz_wal_segment.c LIBS storage_memfs storage)
