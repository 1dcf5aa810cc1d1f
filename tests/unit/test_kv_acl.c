/*
 * test_kv_acl.c — ACL users in the state machine (kv/acl.c): SETUSER applies its rules in
 * order to the stored user and stores the canonical form (or changes nothing and answers
 * Redis's error); the compiled user permits exactly what its rules say, commands, categories,
 * subcommands and keys; passwords are kept as SHA-256 only; DELUSER; the default user's
 * fallback; all of it survives a reopen and a snapshot.
 */
#include "test_kv_support.c"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

static struct kv_arg arg(const char *text)
{
    return (struct kv_arg){.data = (const uint8_t *)text, .data_bytes = strlen(text)};
}

static struct kv_acl_user *user_named(struct fixture *fixture, const char *name)
{
    struct kv_acl_user *user;
    struct kv_arg key = arg(name);
    assert_int_equal(kv_acl_user_get(fixture->kv, &key, "on nopass ~* &* +@all", &user), 0);
    return user;
}

static bool allowed(const struct kv_acl_user *user, const char *command, const char *sub)
{
    struct kv_arg name = arg(command);
    struct kv_arg subcommand = sub != NULL ? arg(sub) : arg("");
    return kv_acl_command_allowed(user, &name, sub != NULL ? &subcommand : NULL);
}

static bool key_allowed(const struct kv_acl_user *user, const char *key)
{
    struct kv_arg k = arg(key);
    return kv_acl_key_allowed(user, &k);
}

static void test_rules_apply_in_order_and_are_enforced(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.acl.setuser alice on ~cache:* +@read -keys +set +client|id", "+OK");
    struct kv_acl_user *alice = user_named(fixture, "alice");
    assert_non_null(alice);
    assert_true(kv_acl_user_on(alice));
    assert_true(allowed(alice, "GET", NULL));
    assert_true(allowed(alice, "hgetall", NULL));
    assert_false(allowed(alice, "keys", NULL));
    assert_true(allowed(alice, "set", NULL));
    assert_false(allowed(alice, "del", NULL));
    assert_true(allowed(alice, "client", "ID"));
    assert_false(allowed(alice, "client", "kill"));
    assert_true(key_allowed(alice, "cache:1"));
    assert_false(key_allowed(alice, "other"));
    assert_false(kv_acl_user_unrestricted(alice));
    kv_acl_user_free(alice);
    /* Rules apply to the user as stored. */
    EXPECT("raft.acl.setuser alice -@read allkeys", "+OK");
    alice = user_named(fixture, "alice");
    assert_false(allowed(alice, "get", NULL));
    assert_true(allowed(alice, "set", NULL));
    assert_true(key_allowed(alice, "anything"));
    kv_acl_user_free(alice);
    /* A container rule covers its subcommands; a category its commands. */
    EXPECT("raft.acl.setuser bob on +client -client|kill +@all -@dangerous", "+OK");
    struct kv_acl_user *bob = user_named(fixture, "bob");
    assert_true(allowed(bob, "get", NULL));
    assert_false(allowed(bob, "flushall", NULL));
    assert_false(allowed(bob, "client", "kill"));
    assert_true(allowed(bob, "client", "setname"));
    assert_false(key_allowed(bob, "k")); /* no key pattern yet */
    kv_acl_user_free(bob);
}

static void test_channel_patterns_are_enforced(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.acl.setuser chan on +@all ~* &news.* &exact", "+OK");
    struct kv_acl_user *chan = user_named(fixture, "chan");
    struct kv_arg news = arg("news.today"), other = arg("other"), exact = arg("exact");
    struct kv_arg same = arg("news.*"), narrower = arg("news.t*");
    assert_true(kv_acl_channel_allowed(chan, &news, false));
    assert_false(kv_acl_channel_allowed(chan, &other, false));
    assert_true(kv_acl_channel_allowed(chan, &exact, false));
    assert_true(kv_acl_channel_allowed(chan, &same, true));      /* PSUBSCRIBE news.* */
    assert_false(kv_acl_channel_allowed(chan, &narrower, true)); /* not as written */
    assert_false(kv_acl_user_unrestricted(chan));
    kv_acl_user_free(chan);
    EXPECT("raft.acl.setuser chan allchannels", "+OK");
    chan = user_named(fixture, "chan");
    assert_true(kv_acl_channel_allowed(chan, &other, false));
    assert_true(kv_acl_user_unrestricted(chan));
    kv_acl_user_free(chan);
}

static void test_invalid_rules_change_nothing(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.acl.setuser carol on +get ~a*", "+OK");
    EXPECT("raft.acl.setuser carol off +nosuch",
           "-ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in "
           "ACL");
    EXPECT("raft.acl.setuser carol off bad",
           "-ERR Error in ACL SETUSER modifier 'bad': Syntax error");
    EXPECT("raft.acl.setuser carol #abc",
           "-ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 "
           "characters and contain only lowercase hexadecimal characters");
    EXPECT("raft.acl.setuser carol %R~x",
           "-ERR Error in ACL SETUSER modifier '%R~x': raftkv supports no selectors nor "
           "read/write key permissions (yet)");
    struct kv_acl_user *carol = user_named(fixture, "carol");
    assert_true(kv_acl_user_on(carol)); /* the failed SETUSERs did not switch it off */
    kv_acl_user_free(carol);
    struct kv_arg spaced[] = {arg("raft.acl.setuser"), arg("a b"), arg("on")};
    assert_string_equal(run_argv(fixture, 3, spaced),
                        "-ERR Usernames can't contain spaces or null characters");
}

static void test_passwords_are_kept_hashed(void **state)
{
    struct fixture *fixture = *state;
    uint8_t hash[KV_ACL_HASH_BYTES];
    kv_acl_password_hash((const uint8_t *)"pw", 2, hash);
    char line[200];
    int used = snprintf(line, sizeof line, "raft.acl.setuser dave on #");
    for (size_t i = 0; i < KV_ACL_HASH_BYTES; i++) {
        used += snprintf(line + used, sizeof line - (size_t)used, "%02x", hash[i]);
    }
    EXPECT(line, "+OK");
    struct kv_acl_user *dave = user_named(fixture, "dave");
    assert_true(kv_acl_password_matches(dave, (const uint8_t *)"pw", 2));
    assert_false(kv_acl_password_matches(dave, (const uint8_t *)"px", 2));
    assert_false(kv_acl_user_nopass(dave));
    kv_acl_user_free(dave);
    EXPECT("raft.acl.setuser dave nopass", "+OK");
    dave = user_named(fixture, "dave");
    assert_true(kv_acl_password_matches(dave, (const uint8_t *)"anything", 8));
    kv_acl_user_free(dave);
}

struct listing {
    char text[2048];
};

static void list_user(void *context, const char *name, size_t name_bytes, const char *rules,
                      size_t rules_bytes)
{
    struct listing *listing = context;
    size_t used = strlen(listing->text);
    snprintf(listing->text + used, sizeof listing->text - used, "%.*s: %.*s\n", (int)name_bytes,
             name, (int)rules_bytes, rules);
}

static void test_deluser_default_and_persistence(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("raft.acl.setuser erin ~a* &ch -@all +get", "+OK");
    EXPECT("raft.acl.setuser frank", "+OK");
    struct listing listing = {{0}};
    assert_int_equal(kv_acl_users(fixture->kv, list_user, &listing), 0);
    assert_string_equal(listing.text, "erin: off ~a* resetchannels &ch -@all +get\n"
                                      "frank: off resetchannels -@all\n");
    EXPECT("raft.acl.deluser default", "-ERR The 'default' user cannot be removed");
    EXPECT("raft.acl.deluser frank nobody", ":1");
    /* "default", never stored, is the fallback; once stored, itself. */
    struct kv_acl_user *fallback = user_named(fixture, "default");
    assert_true(kv_acl_user_unrestricted(fallback));
    kv_acl_user_free(fallback);
    EXPECT("raft.acl.setuser default -flushall", "+OK");
    uint64_t generation = kv_acl_generation(fixture->kv);
    fixture_reopen(fixture);
    assert_true(kv_acl_generation(fixture->kv) != generation || generation == 0);
    struct kv_acl_user *stored = user_named(fixture, "default");
    assert_false(allowed(stored, "flushall", NULL));
    kv_acl_user_free(stored);
    assert_null(user_named(fixture, "frank"));
    char path[300];
    snprintf(path, sizeof path, "%s.snapshot", fixture->directory);
    uint64_t index, term;
    assert_int_equal(kv_snapshot_export(fixture->kv, path, &index, &term), 0);
    EXPECT("raft.acl.deluser erin", ":1");
    assert_int_equal(kv_snapshot_import(fixture->kv, path, &index, &term), 0);
    fixture->next_index = index + 1;
    struct kv_acl_user *erin = user_named(fixture, "erin");
    assert_non_null(erin);
    kv_acl_user_free(erin);
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_rules_apply_in_order_and_are_enforced),
        FIXTURE_TEST(test_channel_patterns_are_enforced),
        FIXTURE_TEST(test_invalid_rules_change_nothing),
        FIXTURE_TEST(test_passwords_are_kept_hashed),
        FIXTURE_TEST(test_deluser_default_and_persistence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
