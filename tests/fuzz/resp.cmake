# fuzz_resp: the RESP request parser, split parse against one-shot parse.
raftkv_fuzz_target(fuzz_resp SOURCES fuzz_resp.c LIBS proto)
