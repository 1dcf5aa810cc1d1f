# fuzz_backup: the header of a backup file (raftkv --restore reads files it did not write).
raftkv_fuzz_target(fuzz_backup SOURCES fuzz_backup.c LIBS proto)
