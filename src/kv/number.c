/*
 * number.c — floating-point arguments and replies as Redis 7.0 reads and writes them: scores and
 * INCRBYFLOAT increments parsed with strtod/strtold under Redis's rules (no leading space, the
 * whole argument, no NaN, no overflow), doubles replied with "%.17g" (ZSCORE and friends), and
 * the long doubles of INCRBYFLOAT and HINCRBYFLOAT written with "%.17Lf" and trailing zeros cut.
 * The same bytes on every replica: glibc's conversions are exact and deterministic.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

#define KV_MAX_FLOAT_TEXT_BYTES 5120 /* Redis's MAX_LONG_DOUBLE_CHARS */

/* Copies an argument into a NUL-terminated buffer for strtod; false when it cannot be one. */
static bool kv_float_text(const struct kv_arg *arg, char *text, size_t capacity)
{
    if (arg->data_bytes == 0 || arg->data_bytes >= capacity || isspace(arg->data[0]) ||
        memchr(arg->data, '\0', arg->data_bytes) != NULL) {
        return false;
    }
    memcpy(text, arg->data, arg->data_bytes);
    text[arg->data_bytes] = '\0';
    return true;
}

bool kv_parse_double(const struct kv_arg *arg, double *value)
{
    char text[KV_MAX_FLOAT_TEXT_BYTES];
    if (!kv_float_text(arg, text, sizeof text)) {
        return false;
    }
    char *end;
    errno = 0;
    double parsed = strtod(text, &end);
    if ((size_t)(end - text) != arg->data_bytes ||
        (errno == ERANGE && (parsed == HUGE_VAL || parsed == -HUGE_VAL || parsed == 0)) ||
        isnan(parsed)) {
        return false;
    }
    *value = parsed;
    return true;
}

bool kv_parse_long_double(const struct kv_arg *arg, long double *value)
{
    char text[KV_MAX_FLOAT_TEXT_BYTES];
    if (!kv_float_text(arg, text, sizeof text)) {
        return false;
    }
    char *end;
    errno = 0;
    long double parsed = strtold(text, &end);
    /* As Redis's string2ld: only overflow and underflow to zero are refused (a subnormal
     * result, ERANGE too, is a number). */
    if ((size_t)(end - text) != arg->data_bytes ||
        (errno == ERANGE && (parsed == HUGE_VALL || parsed == -HUGE_VALL || parsed == 0)) ||
        isnan(parsed)) {
        return false;
    }
    *value = parsed;
    return true;
}

size_t kv_format_double(double value, char text[KV_DOUBLE_TEXT_BYTES])
{
    if (isinf(value)) {
        return (size_t)snprintf(text, KV_DOUBLE_TEXT_BYTES, "%s", value > 0 ? "inf" : "-inf");
    }
    return (size_t)snprintf(text, KV_DOUBLE_TEXT_BYTES, "%.17g", value);
}

bool kv_long_double_add(long double value, long double increment,
                        char text[KV_LONG_DOUBLE_TEXT_BYTES], size_t *text_bytes)
{
    value += increment;
    if (isnan(value) || isinf(value)) {
        return false;
    }
    *text_bytes = kv_format_long_double(value, text, KV_LONG_DOUBLE_TEXT_BYTES);
    assert(*text_bytes > 0); /* any finite long double fits */
    return true;
}

size_t kv_format_long_double(long double value, char *text, size_t capacity)
{
    int length = snprintf(text, capacity, "%.17Lf", value);
    if (length < 0 || (size_t)length >= capacity) {
        return 0;
    }
    size_t used = (size_t)length;
    if (strchr(text, '.') != NULL) {
        while (used > 0 && text[used - 1] == '0') {
            used--;
        }
        if (used > 0 && text[used - 1] == '.') {
            used--;
        }
    }
    if (used == 2 && text[0] == '-' && text[1] == '0') {
        text[0] = '0';
        used = 1;
    }
    text[used] = '\0';
    return used;
}
