/*
 * config_document.c — the two documents generated from config.c's table of settings: the
 * commented config file that `make install` and the Debian package ship as raftkv.conf, and
 * the settings part of the raftkv(1) man page (docs/man/raftkv.1.in). The build writes both
 * with `raftkv --print-config-template DIR` and `raftkv --print-man-settings`, so a setting
 * added to the table is documented in both without anyone editing either.
 *
 * Each setting appears with its help sentence and its default, the value config_default()
 * gives it, formatted as CONFIG GET would; a setting with no default (or one that must be
 * chosen, like id) is shown with an example value from the small table below. Everything is
 * commented out: the file as shipped sets nothing, so raftkv refuses to start from it until the
 * operator has set id, member and data-dir (config.c says so in one sentence).
 */
#include <stdio.h>
#include <string.h>

#include "server/config.h"
#include "server/version.h"

enum {
    COMMENT_COLUMNS = 96,
};

struct example {
    const char *name;
    const char *value;
};

/* Example values, for the settings whose default says nothing useful. The addresses are from
 * the documentation range (RFC 5737): a copied example can never reach a real machine. */
static const struct example examples[] = {
    {"id", "1"},
    {"member", "1=192.0.2.1:6379,192.0.2.1:7379"},
    {"member", "2=192.0.2.2:6379,192.0.2.2:7379"},
    {"member", "3=192.0.2.3:6379,192.0.2.3:7379"},
    {"join", "192.0.2.1:6379"},
    {"restore", "/var/backups/raftkv.backup"},
    {"metrics-addr", "127.0.0.1:9121"},
    {"tls-cert-file", "/etc/raftkv/tls/node.crt"},
    {"tls-key-file", "/etc/raftkv/tls/node.key"},
    {"tls-ca-cert-file", "/etc/raftkv/tls/ca.crt"},
};

/* "# " and the help, wrapped at word boundaries. */
static void print_comment(const char *name, const char *help)
{
    char text[2048];
    snprintf(text, sizeof text, "%s: %s", name, help);
    const char *cursor = text;
    while (*cursor != '\0') {
        size_t length = strlen(cursor);
        size_t take = length;
        if (length > COMMENT_COLUMNS - 2) {
            take = COMMENT_COLUMNS - 2;
            while (take > 0 && cursor[take] != ' ') {
                take--;
            }
            if (take == 0) {
                take = COMMENT_COLUMNS - 2;
            }
        }
        printf("# %.*s\n", (int)take, cursor);
        cursor += take;
        cursor += strspn(cursor, " ");
    }
}

static void print_setting(const struct server_config *defaults,
                          const struct config_setting_info *info, const char *data_directory)
{
    print_comment(info->name, info->help);
    if (strcmp(info->name, "data-dir") == 0) {
        printf("#%s %s\n\n", info->name, data_directory);
        return;
    }
    bool printed = false;
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        if (strcmp(examples[i].name, info->name) == 0) {
            printf("#%s %s\n", info->name, examples[i].value);
            printed = true;
        }
    }
    char value[4096];
    if (!printed && config_format_value(defaults, info->name, value, sizeof value) == 0) {
        printf("#%s%s%s\n", info->name, value[0] != '\0' ? " " : "", value);
    }
    printf("\n");
}

void config_print_template(const char *data_directory)
{
    struct server_config defaults;
    config_default(&defaults);
    printf("# raftkv.conf: the settings of one raftkv node, raftkv(1). Written by raftkv %s\n"
           "# from its own table of settings: every setting is below, commented out, with its\n"
           "# help and its default. One setting a line, \"name value\"; '#' starts a comment;\n"
           "# member repeats, one line per node; a flag --name value on the command line wins\n"
           "# over the line here.\n"
           "#\n"
           "# A node needs three settings that no default can guess: uncomment and edit id\n"
           "# (different on every machine), the member lines (the same on every machine of the\n"
           "# cluster) and data-dir. Until then raftkv refuses to start and says why. The\n"
           "# walkthrough: docs/operations.md, \"Installing from the Debian package\".\n"
           "#\n"
           "# secret and requirepass make this file confidential: keep it readable only by root\n"
           "# and the user raftkv runs as (the package installs it root:raftkv, mode 0640).\n\n",
           version_number());
    size_t count = config_setting_count();
    for (size_t i = 0; i < count; i++) {
        struct config_setting_info info;
        config_setting_describe(i, &info);
        print_setting(&defaults, &info, data_directory);
    }
}

/* roff text: hyphens as \-, backslashes as \e, the em dash as \(em, and no line that starts
 * with a control character. */
static void print_roff_text(const char *text)
{
    if (text[0] == '.' || text[0] == '\'') {
        printf("\\&");
    }
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '-') {
            printf("\\-");
        } else if (*c == '\\') {
            printf("\\e");
        } else if (strncmp(c, "\xe2\x80\x94", 3) == 0) {
            printf("\\(em");
            c += 2;
        } else {
            putchar(*c);
        }
    }
}

/* A string setting's placeholder: the help's own leading word when it names the form
 * ("HOST:PORT, the client address ...", "FILE: start ..."), FILE or DIR for paths. */
static void value_name(const struct config_setting_info *info, char *out, size_t out_bytes)
{
    size_t name_length = strlen(info->name);
    size_t form = strspn(info->help, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_:");
    if (strcmp(info->value_name, "VALUE") != 0) {
        snprintf(out, out_bytes, "%s", info->value_name);
    } else if (form > 1 && info->help[form - 1] != ':' &&
               (info->help[form] == ',' || memchr(info->help, ':', form) != NULL)) {
        snprintf(out, out_bytes, "%.*s", (int)form, info->help);
    } else if (form > 1 && info->help[form - 1] == ':' && info->help[form] == ' ') {
        snprintf(out, out_bytes, "%.*s", (int)form - 1, info->help);
    } else if (name_length > 5 && strcmp(info->name + name_length - 5, "-file") == 0) {
        snprintf(out, out_bytes, "FILE");
    } else if (name_length > 4 && strcmp(info->name + name_length - 4, "-dir") == 0) {
        snprintf(out, out_bytes, "DIR");
    } else {
        snprintf(out, out_bytes, "%s", info->value_name);
    }
}

void config_print_man_settings(void)
{
    size_t count = config_setting_count();
    for (size_t i = 0; i < count; i++) {
        struct config_setting_info info;
        config_setting_describe(i, &info);
        printf(".TP\n\\fB\\-\\-");
        print_roff_text(info.name);
        printf("\\fR \\fI");
        char placeholder[64];
        value_name(&info, placeholder, sizeof placeholder);
        print_roff_text(placeholder);
        printf("\\fR\n");
        print_roff_text(info.help);
        printf("\n");
    }
}
