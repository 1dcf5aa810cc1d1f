# fuzz_peer_codec: the peer frame decoder, with a re-encode and re-decode of every frame.
raftkv_fuzz_target(fuzz_peer_codec SOURCES fuzz_peer_codec.c LIBS proto)
