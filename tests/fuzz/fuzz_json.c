/* libFuzzer harness for jsonread (common/jsonread.c), differential against cJSON 1.7.15 with task_json_scan, which
 * msg_decode used before: whatever jsonread accepts, cJSON accepts with the same member values; whatever cJSON
 * accepts and jsonread refuses holds one of cJSON's known leniencies (the numbers strtod takes beyond RFC 8259's
 * grammar, a \u escape that is not four hex digits, a byte order mark, nesting past jsonread's limit). */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "jsonread.h"

static const char *const names[] = { "a", "b", "kind", "id", "operands" };
#define NAMES (sizeof names / sizeof names[0])

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* 1 when the text holds a spot where cJSON is laxer than RFC 8259 (it may be inside a string: then the check is
 * only weaker for that input). */
static int lenient_spot(const unsigned char *s, size_t n)
{
    if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        int before_digit = i > 0 && (is_digit(s[i - 1]) || s[i - 1] == '.');
        if (s[i] == '0' && i + 1 < n && (is_digit(s[i + 1])) && !before_digit)
            return 1; /* a leading zero */
        if (s[i] == '.' && (i + 1 == n || !is_digit(s[i + 1]) || i == 0 || !is_digit(s[i - 1])))
            return 1; /* a point without digits after it or before it */
        if (s[i] == '\\' && i + 1 < n && s[i + 1] == 'u')
            return 1; /* cJSON reads \u escapes with bad hex digits as U+0000 */
        if (s[i] == '[' || s[i] == '{')
            if (i + JSONREAD_MAX_DEPTH <= n)
                for (size_t k = i, depth = 0; k < n && (s[k] == '[' || s[k] == '{' || s[k] == ' '); k++)
                    if (s[k] != ' ' && ++depth >= JSONREAD_MAX_DEPTH)
                        return 1;
    }
    return 0;
}

/* 1 when cJSON's 'c' holds the same value as jsonread's 'v'. */
static int same_value(const struct jsonread_value *v, const cJSON *c)
{
    switch (v->type) {
    case JSONREAD_ABSENT:
        return c == NULL;
    case JSONREAD_STRING: {
        size_t n;
        char *s = jsonread_string_dup(v, &n);
        int ok = cJSON_IsString(c) && s && strlen(c->valuestring) == n && memcmp(s, c->valuestring, n) == 0;
        free(s);
        return ok;
    }
    case JSONREAD_NUMBER: {
        double x = jsonread_number(v);
        return cJSON_IsNumber(c) && (x == c->valuedouble || (isnan(x) && isnan(c->valuedouble)));
    }
    case JSONREAD_TRUE:
        return cJSON_IsTrue(c);
    case JSONREAD_FALSE:
        return cJSON_IsFalse(c);
    case JSONREAD_NULL:
        return cJSON_IsNull(c);
    case JSONREAD_OBJECT:
        return cJSON_IsObject(c);
    case JSONREAD_ARRAY: {
        struct jsonread_value items[4];
        size_t n = jsonread_array(v, items, 4);
        int ok = cJSON_IsArray(c) && (int)n == cJSON_GetArraySize(c);
        for (size_t i = 0; ok && i < n && i < 4; i++)
            ok = same_value(&items[i], cJSON_GetArrayItem(c, (int)i));
        return ok;
    }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *end = NULL;
    struct jsonread_value out[NAMES];
    enum jsonread_error e = jsonread_object(text, size, names, NAMES, out);
    cJSON *root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    int scan = task_json_scan(text, size);

    while (root && end < text + size && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    int cjson_ok = root && end == text + size && scan == TASK_SCAN_OK;

    if (e == JSONREAD_OK) {
        FUZZ_CHECK(cjson_ok && cJSON_IsObject(root));
        for (size_t i = 0; i < NAMES; i++)
            FUZZ_CHECK(same_value(&out[i], cJSON_GetObjectItemCaseSensitive(root, names[i])));
    } else if (e == JSONREAD_NOT_OBJECT) {
        FUZZ_CHECK(!cjson_ok || !cJSON_IsObject(root));
    } else if (cjson_ok) {
        FUZZ_CHECK(e == JSONREAD_NUMBER_LONG || lenient_spot(data, size));
    }
    if (e == JSONREAD_UTF8)
        FUZZ_CHECK(!fuzz_valid_utf8(text, size));
    if (e == JSONREAD_NUL)
        FUZZ_CHECK(memmem(text, size, "\\u0000", 6) != NULL);
    cJSON_Delete(root);
    return 0;
}
