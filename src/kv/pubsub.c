/*
 * pubsub.c — PUBLISH and keyspace notifications on the state machine's side: the messages a
 * batch publishes, kept for the host (kv_take_messages), and the notify-keyspace-events
 * setting, which is replicated state.
 *
 * Happy path: PUBLISH's entry applies on every replica; kv asks the host how many subscribers
 * on this node the channel reaches, replies that number, and keeps a copy of the message if
 * it reaches any. A write that changes a key calls kv_notify(), which, when the setting
 * enables the event's class, publishes Redis's two notifications the same way. After
 * kv_apply_batch the host drains the messages in log order and fans them out. Nothing here
 * touches LMDB except the setting's own entry: whatever the host answers, every replica stores
 * the same thing.
 *
 * Failure modes: a message that cannot be kept (out of memory) is dropped on this node only —
 * Pub/Sub promises at most once, and the data is unaffected; a batch that fails forgets the
 * messages it kept (apply.c), so a batch applied again later does not deliver twice. An
 * invalid setting in a raft.config.notify entry (only a broken server proposes one) replies
 * Redis's error and changes nothing.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "kv/pubsub.h"

#define KV_MESSAGE_HEADER_BYTES 8
#define KV_KEYSPACE_PREFIX      "__keyspace@0__:"
#define KV_KEYEVENT_PREFIX      "__keyevent@0__:"
/* The drained buffer is kept up to this size between batches, freed above it. */
#define KV_MESSAGES_RETAIN_BYTES (1024 * 1024)

static void kv_put_u32_le(uint8_t *out, uint32_t value)
{
    for (size_t i = 0; i < 4; i++) {
        out[i] = (uint8_t)(value >> (8 * i));
    }
}

static uint32_t kv_get_u32_le(const uint8_t *in)
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
}

void kv_set_receivers(struct kv *kv, kv_receivers_fn receivers, void *context)
{
    kv->receivers = receivers;
    kv->receivers_context = context;
}

void kv_messages_truncate(struct kv *kv, size_t used)
{
    assert(used <= kv->messages_used);
    kv->messages_used = used;
}

/*
 * Publishes channel = prefix + name, carrying message, and returns the receivers the host
 * counts for it. The channel is assembled in place at the end of the buffer, so the count is
 * asked on the exact bytes that would be kept, and kept only when it is not 0.
 */
static uint64_t kv_publish_parts(struct kv *kv, const char *prefix, const uint8_t *name,
                                 size_t name_bytes, const uint8_t *message, size_t message_bytes)
{
    if (kv->receivers == NULL) {
        return 0;
    }
    size_t prefix_bytes = prefix != NULL ? strlen(prefix) : 0;
    size_t channel_bytes = prefix_bytes + name_bytes;
    if (channel_bytes > UINT32_MAX || message_bytes > UINT32_MAX) {
        return 0; /* never: both come from one entry, whose size is a u32 */
    }
    size_t needed = kv->messages_used + KV_MESSAGE_HEADER_BYTES + channel_bytes + message_bytes;
    if (kv_buffer_reserve(&kv->messages, needed) != 0) {
        return 0;
    }
    uint8_t *out = kv->messages.data + kv->messages_used;
    uint8_t *channel = out + KV_MESSAGE_HEADER_BYTES;
    if (prefix_bytes > 0) {
        memcpy(channel, prefix, prefix_bytes);
    }
    if (name_bytes > 0) {
        memcpy(channel + prefix_bytes, name, name_bytes);
    }
    uint64_t receivers = kv->receivers(kv->receivers_context, channel, channel_bytes);
    if (receivers == 0) {
        return 0;
    }
    kv_put_u32_le(out, (uint32_t)channel_bytes);
    kv_put_u32_le(out + 4, (uint32_t)message_bytes);
    if (message_bytes > 0) {
        memcpy(channel + channel_bytes, message, message_bytes);
    }
    kv->messages_used = needed;
    return receivers;
}

void kv_take_messages(struct kv *kv, kv_message_fn published, void *context)
{
    size_t offset = 0;
    while (published != NULL && offset < kv->messages_used) {
        const uint8_t *in = kv->messages.data + offset;
        size_t channel_bytes = kv_get_u32_le(in);
        size_t message_bytes = kv_get_u32_le(in + 4);
        const uint8_t *channel = in + KV_MESSAGE_HEADER_BYTES;
        assert(offset + KV_MESSAGE_HEADER_BYTES + channel_bytes + message_bytes <=
               kv->messages_used);
        published(context, channel, channel_bytes, channel + channel_bytes, message_bytes);
        offset += KV_MESSAGE_HEADER_BYTES + channel_bytes + message_bytes;
    }
    kv->messages_used = 0;
    if (kv->messages.capacity_bytes > KV_MESSAGES_RETAIN_BYTES) {
        free(kv->messages.data);
        kv->messages.data = NULL;
        kv->messages.capacity_bytes = 0;
    }
}

void kv_notify(struct kv_exec *exec, unsigned class, const char *event, const struct kv_arg *key)
{
    struct kv *kv = exec->kv;
    assert(exec->writable); /* events come from applied entries only */
    assert(class != 0 && (class & (KV_NOTIFY_KEYSPACE | KV_NOTIFY_KEYEVENT)) == 0);
    if ((kv->notify_flags & class) == 0) {
        return;
    }
    size_t event_bytes = strlen(event);
    if (kv->notify_flags & KV_NOTIFY_KEYSPACE) {
        kv_publish_parts(kv, KV_KEYSPACE_PREFIX, key->data, key->data_bytes, (const uint8_t *)event,
                         event_bytes);
    }
    if (kv->notify_flags & KV_NOTIFY_KEYEVENT) {
        kv_publish_parts(kv, KV_KEYEVENT_PREFIX, (const uint8_t *)event, event_bytes, key->data,
                         key->data_bytes);
    }
}

void kv_notify_removal(struct kv_exec *exec, unsigned class, const char *event,
                       const struct kv_arg *key, bool emptied)
{
    kv_notify(exec, class, event, key);
    if (emptied) {
        kv_notify(exec, KV_NOTIFY_GENERIC, "del", key);
    }
}

/* PUBLISH channel message: the receivers on this node (0 where the reply feeds state). */
KV_HANDLER(kv_command_publish)
{
    (void)argc;
    assert(exec->writable);
    uint64_t receivers = kv_publish_parts(exec->kv, NULL, argv[1].data, argv[1].data_bytes,
                                          argv[2].data, argv[2].data_bytes);
    if (exec->hide_receivers) {
        receivers = 0;
    }
    exec->reply->integer(exec->reply->context,
                         receivers > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)receivers);
    return 0;
}

/* ---- notify-keyspace-events ---------------------------------------------------------------- */

static const struct {
    char letter;
    unsigned flags;
} kv_notify_letters[] = {
    {'A', KV_NOTIFY_ALL},      {'g', KV_NOTIFY_GENERIC},  {'$', KV_NOTIFY_STRING},
    {'l', KV_NOTIFY_LIST},     {'s', KV_NOTIFY_SET},      {'h', KV_NOTIFY_HASH},
    {'z', KV_NOTIFY_ZSET},     {'x', KV_NOTIFY_EXPIRED},  {'e', KV_NOTIFY_EVICTED},
    {'K', KV_NOTIFY_KEYSPACE}, {'E', KV_NOTIFY_KEYEVENT}, {'t', KV_NOTIFY_STREAM},
    {'m', KV_NOTIFY_KEY_MISS}, {'d', KV_NOTIFY_MODULE},   {'n', KV_NOTIFY_NEW},
};

bool kv_notify_flags_parse(const uint8_t *text, size_t text_bytes, unsigned *flags)
{
    unsigned parsed = 0;
    for (size_t i = 0; i < text_bytes; i++) {
        bool known = false;
        for (size_t l = 0; l < sizeof kv_notify_letters / sizeof kv_notify_letters[0]; l++) {
            if (text[i] == (uint8_t)kv_notify_letters[l].letter) {
                parsed |= kv_notify_letters[l].flags;
                known = true;
                break;
            }
        }
        if (!known) {
            return false;
        }
    }
    *flags = parsed;
    return true;
}

size_t kv_notify_flags_format(unsigned flags, char text[KV_NOTIFY_FLAGS_TEXT_BYTES])
{
    /* Redis's order, and its quirk: with every class of A set, "A" stands for them and n is
     * not printed. */
    static const struct {
        char letter;
        unsigned flag;
    } classes[] = {
        {'g', KV_NOTIFY_GENERIC}, {'$', KV_NOTIFY_STRING},  {'l', KV_NOTIFY_LIST},
        {'s', KV_NOTIFY_SET},     {'h', KV_NOTIFY_HASH},    {'z', KV_NOTIFY_ZSET},
        {'x', KV_NOTIFY_EXPIRED}, {'e', KV_NOTIFY_EVICTED}, {'t', KV_NOTIFY_STREAM},
        {'d', KV_NOTIFY_MODULE},  {'n', KV_NOTIFY_NEW},
    };
    size_t used = 0;
    if ((flags & KV_NOTIFY_ALL) == KV_NOTIFY_ALL) {
        text[used++] = 'A';
    } else {
        for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
            if (flags & classes[i].flag) {
                text[used++] = classes[i].letter;
            }
        }
    }
    if (flags & KV_NOTIFY_KEYSPACE) {
        text[used++] = 'K';
    }
    if (flags & KV_NOTIFY_KEYEVENT) {
        text[used++] = 'E';
    }
    if (flags & KV_NOTIFY_KEY_MISS) {
        text[used++] = 'm';
    }
    assert(used < KV_NOTIFY_FLAGS_TEXT_BYTES);
    text[used] = '\0';
    return used;
}

unsigned kv_notify_flags(const struct kv *kv)
{
    return kv->notify_flags;
}

/* raft.config.notify <flags>: CONFIG SET notify-keyspace-events, applied on every replica. */
KV_HANDLER(kv_command_raft_config_notify)
{
    (void)argc;
    unsigned flags;
    if (!kv_notify_flags_parse(argv[1].data, argv[1].data_bytes, &flags)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOTIFY_FLAGS);
        return 0;
    }
    int rc = kv_meta_write_notify(exec->txn, exec->kv->meta_dbi, flags);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "storing notify-keyspace-events");
    }
    exec->kv->notify_flags = flags;
    kv_reply_ok(exec);
    return 0;
}
