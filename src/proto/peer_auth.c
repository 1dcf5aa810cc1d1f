/*
 * peer_auth.c — the HMAC-SHA256 that proves a peer knows the cluster's shared secret.
 *
 * Happy path: the message is the verifier's challenge, then the prover's and the verifier's
 * node ids (u64, little-endian), then the cluster id; OpenSSL computes HMAC-SHA256 over it
 * with the secret as key. Verification recomputes it and compares with CRYPTO_memcmp, whose
 * time does not depend on where the bytes differ, so a forger learns nothing from timing.
 * Failure modes: an empty or oversized secret is a caller error (PROTO_ERROR_INVALID); an
 * OpenSSL failure is PROTO_ERROR_CRYPTO; a mismatch is PROTO_ERROR_AUTH. The recomputed MAC
 * is wiped from the stack after use.
 */
#include "proto/peer.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

enum {
    AUTH_MESSAGE_BYTES = PEER_CHALLENGE_BYTES + 8 + 8 + PEER_CLUSTER_ID_BYTES,
};

static void put_u64(uint8_t *out, uint64_t value)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

int peer_auth_compute(const uint8_t *secret, size_t secret_bytes,
                      const uint8_t challenge[PEER_CHALLENGE_BYTES], raft_node_id prover,
                      raft_node_id verifier, const uint8_t cluster_id[PEER_CLUSTER_ID_BYTES],
                      uint8_t mac[PEER_MAC_BYTES])
{
    if (secret == NULL || secret_bytes == 0 || secret_bytes > PEER_MAX_SECRET_BYTES) {
        return PROTO_ERROR_INVALID;
    }
    assert(challenge != NULL);
    assert(cluster_id != NULL);
    uint8_t message[AUTH_MESSAGE_BYTES];
    memcpy(message, challenge, PEER_CHALLENGE_BYTES);
    put_u64(message + PEER_CHALLENGE_BYTES, prover);
    put_u64(message + PEER_CHALLENGE_BYTES + 8, verifier);
    memcpy(message + PEER_CHALLENGE_BYTES + 16, cluster_id, PEER_CLUSTER_ID_BYTES);
    unsigned int mac_bytes = 0;
    if (HMAC(EVP_sha256(), secret, (int)secret_bytes, message, sizeof message, mac, &mac_bytes) ==
            NULL ||
        mac_bytes != PEER_MAC_BYTES) {
        return PROTO_ERROR_CRYPTO;
    }
    return PROTO_OK;
}

int peer_auth_verify(const uint8_t *secret, size_t secret_bytes,
                     const uint8_t challenge[PEER_CHALLENGE_BYTES], raft_node_id prover,
                     raft_node_id verifier, const uint8_t cluster_id[PEER_CLUSTER_ID_BYTES],
                     const uint8_t mac[PEER_MAC_BYTES])
{
    uint8_t expected[PEER_MAC_BYTES];
    int rc =
        peer_auth_compute(secret, secret_bytes, challenge, prover, verifier, cluster_id, expected);
    if (rc != PROTO_OK) {
        return rc;
    }
    rc = CRYPTO_memcmp(expected, mac, PEER_MAC_BYTES) == 0 ? PROTO_OK : PROTO_ERROR_AUTH;
    OPENSSL_cleanse(expected, sizeof expected);
    return rc;
}
