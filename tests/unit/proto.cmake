# The proto module's unit tests: the RESP parser, the RESP encoder, the peer codec and HMAC,
# the backup format.
raftkv_unit_test(test_proto_resp SOURCES test_proto_resp.c LIBS proto)
raftkv_unit_test(test_proto_encode SOURCES test_proto_encode.c LIBS proto m)
raftkv_unit_test(test_proto_peer SOURCES test_proto_peer.c LIBS proto)
raftkv_unit_test(test_proto_backup SOURCES test_proto_backup.c LIBS proto)
