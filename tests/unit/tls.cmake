# The TLS layer's unit tests: two sessions talking through memory only, with certificates the
# test makes with OpenSSL's API (test_tls.c). tls.c lives in the transport library.
raftkv_unit_test(test_tls SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_tls.c LIBS transport)
