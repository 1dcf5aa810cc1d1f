# kv's bit and remaining string commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, INCRBYFLOAT,
# LCS.
raftkv_unit_test(test_kv_bits SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_bits.c LIBS kv)
