/*
 * acl.c — ACL users as replicated state: `raft.acl.setuser <name> <rule>...` and
 * `raft.acl.deluser <name>...` change the "acl" database (name → the user's rules in
 * canonical form, as ACL LIST prints them after "user <name> "), in the same entry order on
 * every replica; the server compiles a user from those rules (kv_acl_user_get) and enforces
 * it on every command of a connection authenticated as that user.
 *
 * Rules, as Redis 7.0 reads them: on, off; >password and <password (the server turns them into
 * #sha256 and !sha256 before they reach the log, so no password is ever stored or replicated
 * in clear), #hash, !hash, nopass, resetpass; ~pattern, allkeys, resetkeys; &pattern,
 * allchannels, resetchannels (SUBSCRIBE and PUBLISH match channels against the patterns,
 * PSUBSCRIBE's patterns must be among them as written, as Redis 7.0);
 * +command, -command, +command|subcommand, +@category, -@category, allcommands,
 * nocommands; reset. A SETUSER applies its rules in order to the user as it is (a new user
 * starts as `off resetchannels -@all`) and changes nothing if one of them is invalid, with
 * Redis's error text. Selectors and %R~ / %W~ key permissions are refused, not half-done.
 *
 * Command rules are kept as given, after the last rule that sets every command (+@all,
 * -@all, allcommands, nocommands), which is how ACL GETUSER shows them; the permission of a
 * command is the result of applying them in order to the category table (acl_categories.h,
 * generated from Redis's own ACL CAT).
 */
#include <assert.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/acl.h"
#include "kv/acl_categories.h"

#define KV_ACL_BIT(name) (1u << KV_ACL_CATEGORY_##name)

enum kv_acl_category {
#define KV_ACL_CATEGORY_ENUM(name, text) KV_ACL_CATEGORY_##name,
    KV_ACL_CATEGORY_LIST(KV_ACL_CATEGORY_ENUM)
#undef KV_ACL_CATEGORY_ENUM
        KV_ACL_CATEGORY_COUNT
};

static const char *const kv_acl_category_names[] = {
#define KV_ACL_CATEGORY_NAME(name, text) text,
    KV_ACL_CATEGORY_LIST(KV_ACL_CATEGORY_NAME)
#undef KV_ACL_CATEGORY_NAME
};

static const struct {
    const char *name;
    uint32_t categories;
} kv_acl_commands[] = {
#define KV_ACL_COMMAND_ENTRY(name, bits) {name, bits},
    KV_ACL_COMMAND_LIST(KV_ACL_COMMAND_ENTRY)
#undef KV_ACL_COMMAND_ENTRY
};

#define KV_ACL_COMMAND_COUNT (sizeof kv_acl_commands / sizeof kv_acl_commands[0])
#define KV_ACL_RULES_BYTES   8192 /* a user's canonical rules */

struct kv_acl_user {
    char name[KV_ACL_NAME_MAX_BYTES + 1];
    bool on;
    bool nopass;
    uint8_t passwords[KV_ACL_MAX_PASSWORDS][KV_ACL_HASH_BYTES];
    size_t password_count;
    char keys[KV_ACL_RULES_BYTES];     /* "~a* ~b*", space-separated */
    char channels[KV_ACL_RULES_BYTES]; /* "&*", or "" (resetchannels) */
    char commands[KV_ACL_RULES_BYTES]; /* "-@all +@read -get" */
    bool all_keys;
    uint8_t allowed[(KV_ACL_COMMAND_COUNT + 7) / 8];
    bool all_allowed; /* every bit set: the fast path */
};

/* ---- the category table ---------------------------------------------------------------------- */

static int kv_acl_find(const char *name, size_t bytes)
{
    size_t low = 0;
    size_t high = KV_ACL_COMMAND_COUNT;
    while (low < high) {
        size_t middle = (low + high) / 2;
        const char *candidate = kv_acl_commands[middle].name;
        int order = strncmp(candidate, name, bytes);
        if (order == 0) {
            order = candidate[bytes] == '\0' ? 0 : 1;
        }
        if (order == 0) {
            return (int)middle;
        }
        if (order < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return -1;
}

static int kv_acl_category_find(const char *name, size_t bytes)
{
    for (int i = 0; i < KV_ACL_CATEGORY_COUNT; i++) {
        if (strlen(kv_acl_category_names[i]) == bytes &&
            strncmp(kv_acl_category_names[i], name, bytes) == 0) {
            return i;
        }
    }
    return -1;
}

static void kv_acl_set(struct kv_acl_user *user, size_t entry, bool allow)
{
    if (allow) {
        user->allowed[entry / 8] |= (uint8_t)(1u << (entry % 8));
    } else {
        user->allowed[entry / 8] &= (uint8_t) ~(1u << (entry % 8));
    }
}

static bool kv_acl_get_bit(const struct kv_acl_user *user, size_t entry)
{
    return (user->allowed[entry / 8] >> (entry % 8)) & 1u;
}

/* ---- text helpers ------------------------------------------------------------------------------
 */

static bool kv_acl_append(char *text, const char *word, size_t word_bytes)
{
    size_t used = strlen(text);
    if (used + (used > 0 ? 1 : 0) + word_bytes + 1 > KV_ACL_RULES_BYTES) {
        return false;
    }
    if (used > 0) {
        text[used++] = ' ';
    }
    memcpy(text + used, word, word_bytes);
    text[used + word_bytes] = '\0';
    return true;
}

static void kv_acl_hex(const uint8_t *hash, char out[2 * KV_ACL_HASH_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < KV_ACL_HASH_BYTES; i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 15];
    }
    out[2 * KV_ACL_HASH_BYTES] = '\0';
}

static bool kv_acl_unhex(const char *text, size_t bytes, uint8_t hash[KV_ACL_HASH_BYTES])
{
    if (bytes != 2 * KV_ACL_HASH_BYTES) {
        return false;
    }
    for (size_t i = 0; i < bytes; i++) {
        char c = text[i];
        int value = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (value < 0) {
            return false;
        }
        if (i % 2 == 0) {
            hash[i / 2] = (uint8_t)(value << 4);
        } else {
            hash[i / 2] |= (uint8_t)value;
        }
    }
    return true;
}

void kv_acl_password_hash(const uint8_t *password, size_t bytes, uint8_t hash[KV_ACL_HASH_BYTES])
{
    unsigned int length = 0;
    int ok = EVP_Digest(password, bytes, hash, &length, EVP_sha256(), NULL);
    assert(ok == 1 && length == KV_ACL_HASH_BYTES);
    (void)ok;
}

/* ---- applying rules -------------------------------------------------------------------------- */

static void kv_acl_user_init(struct kv_acl_user *user, const char *name, size_t name_bytes)
{
    memset(user, 0, sizeof *user);
    memcpy(user->name, name, name_bytes);
    snprintf(user->commands, sizeof user->commands, "-@all");
}

static void kv_acl_refresh_fast_path(struct kv_acl_user *user)
{
    user->all_allowed = true;
    for (size_t i = 0; i < KV_ACL_COMMAND_COUNT && user->all_allowed; i++) {
        user->all_allowed = kv_acl_get_bit(user, i);
    }
}

static void kv_acl_all_commands(struct kv_acl_user *user, bool allow)
{
    memset(user->allowed, allow ? 0xff : 0, sizeof user->allowed);
    snprintf(user->commands, sizeof user->commands, allow ? "+@all" : "-@all");
}

/* +name, -name, +name|sub, +@category, -@category. */
static const char *kv_acl_command_rule(struct kv_acl_user *user, const char *rule, size_t bytes)
{
    bool allow = rule[0] == '+';
    const char *name = rule + 1;
    size_t name_bytes = bytes - 1;
    if (name_bytes > 0 && name[0] == '@') {
        if (name_bytes == 4 && strncmp(name, "@all", 4) == 0) {
            kv_acl_all_commands(user, allow);
            return NULL;
        }
        int category = kv_acl_category_find(name + 1, name_bytes - 1);
        if (category < 0) {
            return "Unknown command or category name in ACL";
        }
        for (size_t i = 0; i < KV_ACL_COMMAND_COUNT; i++) {
            if (kv_acl_commands[i].categories & (1u << category)) {
                kv_acl_set(user, i, allow);
            }
        }
    } else {
        char lower[128];
        if (name_bytes == 0 || name_bytes >= sizeof lower) {
            return "Unknown command or category name in ACL";
        }
        for (size_t i = 0; i < name_bytes; i++) {
            lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
        }
        lower[name_bytes] = '\0';
        int found = kv_acl_find(lower, name_bytes);
        if (found < 0) {
            return "Unknown command or category name in ACL";
        }
        kv_acl_set(user, (size_t)found, allow);
        /* A container (CLIENT) with its subcommands (client|kill, ...). */
        for (size_t i = (size_t)found + 1;
             i < KV_ACL_COMMAND_COUNT && strncmp(kv_acl_commands[i].name, lower, name_bytes) == 0 &&
             kv_acl_commands[i].name[name_bytes] == '|';
             i++) {
            kv_acl_set(user, i, allow);
        }
    }
    if (!kv_acl_append(user->commands, rule, bytes)) {
        return "Too many command rules";
    }
    return NULL;
}

static const char *kv_acl_password_rule(struct kv_acl_user *user, const char *rule, size_t bytes)
{
    uint8_t hash[KV_ACL_HASH_BYTES];
    bool add = rule[0] == '>' || rule[0] == '#';
    if (rule[0] == '>' || rule[0] == '<') {
        kv_acl_password_hash((const uint8_t *)rule + 1, bytes - 1, hash);
    } else if (!kv_acl_unhex(rule + 1, bytes - 1, hash)) {
        return "The password hash must be exactly 64 characters and contain only lowercase "
               "hexadecimal characters";
    }
    size_t at = 0;
    while (at < user->password_count && memcmp(user->passwords[at], hash, sizeof hash) != 0) {
        at++;
    }
    if (add) {
        if (at == user->password_count) {
            if (user->password_count == KV_ACL_MAX_PASSWORDS) {
                return "Too many passwords for one user";
            }
            memcpy(user->passwords[user->password_count++], hash, sizeof hash);
        }
        user->nopass = false;
    } else if (at == user->password_count) {
        return "The password you are trying to remove from the user does not exist";
    } else {
        memmove(user->passwords[at], user->passwords[at + 1],
                (user->password_count - at - 1) * sizeof hash);
        user->password_count--;
    }
    return NULL;
}

static bool kv_acl_word(const char *rule, size_t bytes, const char *word)
{
    if (strlen(word) != bytes) {
        return false;
    }
    for (size_t i = 0; i < bytes; i++) {
        char c = rule[i] >= 'A' && rule[i] <= 'Z' ? (char)(rule[i] + 32) : rule[i];
        if (c != word[i]) {
            return false;
        }
    }
    return true;
}

/* Applies one rule; NULL, or the reason it is invalid (Redis's text where Redis has one). */
static const char *kv_acl_rule(struct kv_acl_user *user, const char *rule, size_t bytes)
{
    if (bytes == 0) {
        return "Syntax error";
    }
    if (memchr(rule, ' ', bytes) != NULL || memchr(rule, '\0', bytes) != NULL) {
        return "Syntax error";
    }
    if (kv_acl_word(rule, bytes, "on") || kv_acl_word(rule, bytes, "off")) {
        user->on = bytes == 2;
    } else if (kv_acl_word(rule, bytes, "nopass")) {
        user->nopass = true;
        user->password_count = 0;
    } else if (kv_acl_word(rule, bytes, "resetpass")) {
        user->nopass = false;
        user->password_count = 0;
    } else if (kv_acl_word(rule, bytes, "allkeys")) {
        return kv_acl_rule(user, "~*", 2);
    } else if (kv_acl_word(rule, bytes, "resetkeys")) {
        user->all_keys = false;
        user->keys[0] = '\0';
    } else if (kv_acl_word(rule, bytes, "allchannels")) {
        return kv_acl_rule(user, "&*", 2);
    } else if (kv_acl_word(rule, bytes, "resetchannels")) {
        user->channels[0] = '\0';
    } else if (kv_acl_word(rule, bytes, "allcommands")) {
        kv_acl_all_commands(user, true);
    } else if (kv_acl_word(rule, bytes, "nocommands")) {
        kv_acl_all_commands(user, false);
    } else if (kv_acl_word(rule, bytes, "reset")) {
        char name[KV_ACL_NAME_MAX_BYTES + 1];
        memcpy(name, user->name, sizeof name);
        kv_acl_user_init(user, name, strlen(name));
    } else if (rule[0] == '>' || rule[0] == '<' || rule[0] == '#' || rule[0] == '!') {
        return kv_acl_password_rule(user, rule, bytes);
    } else if (rule[0] == '~') {
        if (user->all_keys) {
            return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and "
                   "does not have any effect. Try 'resetkeys' to start with an empty list of "
                   "patterns";
        }
        if (bytes == 2 && rule[1] == '*') {
            user->all_keys = true;
            user->keys[0] = '\0';
        }
        if (!kv_acl_append(user->keys, rule, bytes)) {
            return "Too many key patterns";
        }
    } else if (rule[0] == '&') {
        if (strcmp(user->channels, "&*") == 0) {
            return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not "
                   "valid and does not have any effect. Try 'resetchannels' to start with an "
                   "empty list of channels";
        }
        if (bytes == 2 && rule[1] == '*') {
            user->channels[0] = '\0';
        }
        if (!kv_acl_append(user->channels, rule, bytes)) {
            return "Too many channel patterns";
        }
    } else if (rule[0] == '%' || rule[0] == '(') {
        return "raftkv supports no selectors nor read/write key permissions (yet)";
    } else if (rule[0] == '+' || rule[0] == '-') {
        return kv_acl_command_rule(user, rule, bytes);
    } else {
        return "Syntax error";
    }
    return NULL;
}

static void kv_acl_format(const struct kv_acl_user *user, char *out, size_t out_bytes)
{
    size_t used = (size_t)snprintf(out, out_bytes, "%s", user->on ? "on" : "off");
    if (user->nopass) {
        used += (size_t)snprintf(out + used, out_bytes - used, " nopass");
    }
    for (size_t i = 0; i < user->password_count && used < out_bytes; i++) {
        char hex[2 * KV_ACL_HASH_BYTES + 1];
        kv_acl_hex(user->passwords[i], hex);
        used += (size_t)snprintf(out + used, out_bytes - used, " #%s", hex);
    }
    if (used < out_bytes && user->keys[0] != '\0') {
        used += (size_t)snprintf(out + used, out_bytes - used, " %s", user->keys);
    }
    if (used < out_bytes) {
        bool all = strcmp(user->channels, "&*") == 0;
        used +=
            (size_t)snprintf(out + used, out_bytes - used, "%s%s%s", all ? "" : " resetchannels",
                             user->channels[0] != '\0' ? " " : "", user->channels);
    }
    if (used < out_bytes) {
        snprintf(out + used, out_bytes - used, " %s", user->commands);
    }
}

/* Compiles a user from its canonical rules (or any rules: the same parser). */
static const char *kv_acl_compile(struct kv_acl_user *user, const char *name, size_t name_bytes,
                                  const char *rules, size_t rules_bytes)
{
    kv_acl_user_init(user, name, name_bytes);
    size_t at = 0;
    while (at < rules_bytes) {
        size_t end = at;
        while (end < rules_bytes && rules[end] != ' ') {
            end++;
        }
        if (end > at) {
            const char *reason = kv_acl_rule(user, rules + at, end - at);
            if (reason != NULL) {
                return reason;
            }
        }
        at = end + 1;
    }
    kv_acl_refresh_fast_path(user);
    return NULL;
}

int kv_acl_canonical(const char *rules, size_t rules_bytes, char *out, size_t out_bytes)
{
    struct kv_acl_user *user = malloc(sizeof *user);
    if (user == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    const char *reason = kv_acl_compile(user, "fuzz", 4, rules, rules_bytes);
    if (reason == NULL) {
        kv_acl_format(user, out, out_bytes);
    }
    free(user);
    return reason == NULL ? 0 : KV_ERROR_INVALID;
}

/* ---- storage ----------------------------------------------------------------------------------
 */

static int kv_acl_stored(MDB_txn *txn, struct kv *kv, const char *name, size_t name_bytes,
                         MDB_val *rules, bool *found)
{
    MDB_val key = {.mv_size = name_bytes, .mv_data = (void *)name};
    int rc = mdb_get(txn, kv->acl_dbi, &key, rules);
    *found = rc == 0;
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return kv_storage_error(kv, rc, "mdb_get (acl)");
    }
    return 0;
}

static bool kv_acl_name_valid(const struct kv_arg *name)
{
    return name->data_bytes > 0 && name->data_bytes <= KV_ACL_NAME_MAX_BYTES &&
           memchr(name->data, ' ', name->data_bytes) == NULL &&
           memchr(name->data, '\0', name->data_bytes) == NULL;
}

KV_HANDLER(kv_command_raft_acl_setuser)
{
    const struct kv_arg *name = &argv[1];
    if (!kv_acl_name_valid(name)) {
        kv_reply_text_error(exec, "ERR Usernames can't contain spaces or null characters");
        return 0;
    }
    struct kv_acl_user *user = malloc(sizeof *user);
    char *text = malloc(KV_ACL_RULES_BYTES * 4);
    if (user == NULL || text == NULL) {
        free(user);
        free(text);
        return KV_ERROR_NO_MEMORY;
    }
    MDB_val stored;
    bool found;
    int result = kv_acl_stored(exec->txn, exec->kv, (const char *)name->data, name->data_bytes,
                               &stored, &found);
    const char *reason = NULL;
    if (result == 0) {
        reason = kv_acl_compile(user, (const char *)name->data, name->data_bytes,
                                found ? stored.mv_data : "", found ? stored.mv_size : 0);
        assert(reason == NULL); /* what was stored was valid */
    }
    for (size_t i = 2; i < argc && result == 0 && reason == NULL; i++) {
        reason = kv_acl_rule(user, (const char *)argv[i].data, argv[i].data_bytes);
        if (reason != NULL) {
            char error[KV_ERROR_MESSAGE_BYTES + 128];
            snprintf(error, sizeof error, "ERR Error in ACL SETUSER modifier '%.*s': %s",
                     (int)(argv[i].data_bytes < 128 ? argv[i].data_bytes : 128),
                     (const char *)argv[i].data, reason);
            kv_reply_text_error(exec, error);
        }
    }
    if (result == 0 && reason == NULL) {
        kv_acl_format(user, text, KV_ACL_RULES_BYTES * 4);
        MDB_val key = {.mv_size = name->data_bytes, .mv_data = (void *)name->data};
        MDB_val value = {.mv_size = strlen(text), .mv_data = text};
        int rc = mdb_put(exec->txn, exec->kv->acl_dbi, &key, &value, 0);
        if (rc != 0) {
            result = kv_storage_error(exec->kv, rc, "mdb_put (acl)");
        } else {
            exec->kv->acl_generation++;
            kv_reply_ok(exec);
        }
    }
    free(user);
    free(text);
    return result;
}

KV_HANDLER(kv_command_raft_acl_deluser)
{
    int64_t deleted = 0;
    for (size_t i = 1; i < argc; i++) {
        if (argv[i].data_bytes == 7 && memcmp(argv[i].data, "default", 7) == 0) {
            kv_reply_text_error(exec, "ERR The 'default' user cannot be removed");
            return 0;
        }
    }
    for (size_t i = 1; i < argc; i++) {
        MDB_val key = {.mv_size = argv[i].data_bytes, .mv_data = (void *)argv[i].data};
        int rc = argv[i].data_bytes > 0 ? mdb_del(exec->txn, exec->kv->acl_dbi, &key, NULL)
                                        : MDB_NOTFOUND;
        if (rc == 0) {
            deleted++;
        } else if (rc != MDB_NOTFOUND) {
            return kv_storage_error(exec->kv, rc, "mdb_del (acl)");
        }
    }
    exec->kv->acl_generation++;
    exec->reply->integer(exec->reply->context, deleted);
    return 0;
}

/* ---- what the server asks -------------------------------------------------------------------- */

int kv_acl_user_get(struct kv *kv, const struct kv_arg *name, const char *default_rules,
                    struct kv_acl_user **out)
{
    *out = NULL;
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    if (!kv_acl_name_valid(name)) {
        return 0;
    }
    int rc = mdb_txn_renew(kv->read_txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_renew");
    }
    MDB_val stored;
    bool found;
    int result = kv_acl_stored(kv->read_txn, kv, (const char *)name->data, name->data_bytes,
                               &stored, &found);
    bool is_default = name->data_bytes == 7 && memcmp(name->data, "default", 7) == 0;
    if (result == 0 && (found || is_default)) {
        struct kv_acl_user *user = malloc(sizeof *user);
        if (user == NULL) {
            result = KV_ERROR_NO_MEMORY;
        } else {
            const char *rules = found ? stored.mv_data : default_rules;
            size_t rules_bytes = found ? stored.mv_size : strlen(default_rules);
            if (kv_acl_compile(user, (const char *)name->data, name->data_bytes, rules,
                               rules_bytes) != NULL) {
                free(user);
                snprintf(kv->error_message, sizeof kv->error_message,
                         "the stored rules of an ACL user do not parse");
                result = KV_ERROR_CORRUPT;
            } else {
                *out = user;
            }
        }
    }
    mdb_txn_reset(kv->read_txn);
    return result;
}

int kv_acl_user_compile(const struct kv_arg *name, const char *rules, struct kv_acl_user **out)
{
    *out = NULL;
    if (!kv_acl_name_valid(name)) {
        return KV_ERROR_INVALID;
    }
    struct kv_acl_user *user = malloc(sizeof *user);
    if (user == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    if (kv_acl_compile(user, (const char *)name->data, name->data_bytes, rules, strlen(rules)) !=
        NULL) {
        free(user);
        return KV_ERROR_INVALID;
    }
    *out = user;
    return 0;
}

void kv_acl_user_free(struct kv_acl_user *user)
{
    free(user);
}

int kv_acl_users(struct kv *kv, kv_acl_user_fn visit, void *context)
{
    if (kv->env == NULL) {
        return KV_ERROR_CLOSED;
    }
    int rc = mdb_txn_renew(kv->read_txn);
    if (rc != 0) {
        return kv_storage_error(kv, rc, "mdb_txn_renew");
    }
    MDB_cursor *cursor;
    rc = mdb_cursor_open(kv->read_txn, kv->acl_dbi, &cursor);
    if (rc == 0) {
        MDB_val key, value;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
        while (rc == 0) {
            visit(context, key.mv_data, key.mv_size, value.mv_data, value.mv_size);
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
        }
        mdb_cursor_close(cursor);
    }
    mdb_txn_reset(kv->read_txn);
    return rc == MDB_NOTFOUND ? 0 : kv_storage_error(kv, rc, "walking the acl users");
}

uint64_t kv_acl_generation(const struct kv *kv)
{
    return kv->acl_generation;
}

bool kv_acl_user_on(const struct kv_acl_user *user)
{
    return user->on;
}

bool kv_acl_user_nopass(const struct kv_acl_user *user)
{
    return user->nopass;
}

bool kv_acl_password_matches(const struct kv_acl_user *user, const uint8_t *password, size_t bytes)
{
    if (user->nopass) {
        return true;
    }
    uint8_t hash[KV_ACL_HASH_BYTES];
    kv_acl_password_hash(password, bytes, hash);
    bool matches = false;
    for (size_t i = 0; i < user->password_count; i++) {
        unsigned char difference = 0; /* in constant time */
        for (size_t b = 0; b < KV_ACL_HASH_BYTES; b++) {
            difference |= (unsigned char)(user->passwords[i][b] ^ hash[b]);
        }
        matches = matches || difference == 0;
    }
    return matches;
}

bool kv_acl_user_unrestricted(const struct kv_acl_user *user)
{
    return user->all_allowed && user->all_keys && strcmp(user->channels, "&*") == 0;
}

bool kv_acl_channel_allowed(const struct kv_acl_user *user, const struct kv_arg *channel,
                            bool literal)
{
    if (strcmp(user->channels, "&*") == 0) {
        return true;
    }
    const char *at = user->channels;
    while (*at != '\0') {
        const char *end = strchr(at, ' ');
        size_t bytes = end != NULL ? (size_t)(end - at) : strlen(at);
        /* each pattern is "&glob"; a PSUBSCRIBE pattern must be one of them, as written */
        const uint8_t *pattern = (const uint8_t *)at + 1;
        bool matches = bytes > 1 && (literal ? channel->data_bytes == bytes - 1 &&
                                                   memcmp(pattern, channel->data, bytes - 1) == 0
                                             : kv_glob_match(pattern, bytes - 1, channel->data,
                                                             channel->data_bytes));
        if (matches) {
            return true;
        }
        at += bytes + (end != NULL ? 1 : 0);
    }
    return false;
}

bool kv_acl_command_allowed(const struct kv_acl_user *user, const struct kv_arg *name,
                            const struct kv_arg *subcommand)
{
    if (user->all_allowed) {
        return true;
    }
    char lower[160];
    size_t used = 0;
    for (size_t i = 0; i < name->data_bytes && used + 1 < sizeof lower; i++) {
        char c = (char)name->data[i];
        lower[used++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    int found = -1;
    if (subcommand != NULL && used + 1 + subcommand->data_bytes < sizeof lower) {
        size_t full = used;
        lower[full++] = '|';
        for (size_t i = 0; i < subcommand->data_bytes; i++) {
            char c = (char)subcommand->data[i];
            lower[full++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        found = kv_acl_find(lower, full);
    }
    if (found < 0) {
        found = kv_acl_find(lower, used);
    }
    return found >= 0 && kv_acl_get_bit(user, (size_t)found);
}

bool kv_acl_key_allowed(const struct kv_acl_user *user, const struct kv_arg *key)
{
    if (user->all_keys) {
        return true;
    }
    const char *at = user->keys;
    while (*at != '\0') {
        const char *end = strchr(at, ' ');
        size_t bytes = end != NULL ? (size_t)(end - at) : strlen(at);
        /* each pattern is "~glob" */
        if (bytes > 1 &&
            kv_glob_match((const uint8_t *)at + 1, bytes - 1, key->data, key->data_bytes)) {
            return true;
        }
        at += bytes + (end != NULL ? 1 : 0);
    }
    return false;
}

void kv_acl_user_describe(const struct kv_acl_user *user, struct kv_acl_description *out)
{
    out->on = user->on;
    out->nopass = user->nopass;
    out->password_count = user->password_count;
    for (size_t i = 0; i < user->password_count; i++) {
        kv_acl_hex(user->passwords[i], out->passwords[i]);
    }
    out->keys = user->all_keys ? "~*" : user->keys;
    out->channels = user->channels;
    out->commands = user->commands;
}

bool kv_acl_is_container(const struct kv_arg *name)
{
    char lower[128];
    if (name->data_bytes + 2 > sizeof lower) {
        return false;
    }
    for (size_t i = 0; i < name->data_bytes; i++) {
        char c = (char)name->data[i];
        lower[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    lower[name->data_bytes] = '|';
    int found = kv_acl_find(lower, name->data_bytes);
    size_t next = found >= 0 ? (size_t)found + 1 : KV_ACL_COMMAND_COUNT;
    return next < KV_ACL_COMMAND_COUNT &&
           strncmp(kv_acl_commands[next].name, lower, name->data_bytes + 1) == 0;
}

size_t kv_acl_category_count(void)
{
    return KV_ACL_CATEGORY_COUNT;
}

const char *kv_acl_category_name(size_t category)
{
    return category < KV_ACL_CATEGORY_COUNT ? kv_acl_category_names[category] : NULL;
}

void kv_acl_category_commands(size_t category, kv_acl_name_fn visit, void *context)
{
    for (size_t i = 0; i < KV_ACL_COMMAND_COUNT; i++) {
        if (kv_acl_commands[i].categories & (1u << category)) {
            visit(context, kv_acl_commands[i].name);
        }
    }
}
