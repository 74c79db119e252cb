/* Unit tests of the configuration table: loading through a stub getter, defaults, parse and range errors, and the
 * help text. config_init is not tested (it exits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

/* The stub environment: name=value pairs, NULL-terminated; set before each config_load. */
static const char *const *stub_env;
static int stub_calls;

static const char *stub_get(const char *name)
{
    size_t n = strlen(name);
    stub_calls++;
    for (const char *const *p = stub_env; p && *p; p++)
        if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
            return *p + n + 1;
    return NULL;
}

static long port, workers;
static const char *host, *prefix;

static const struct config_var vars[] = {
    { "TB_PORT", CONFIG_INT, "8080", 1, 65535, "HTTP port", &port },
    { "TB_WORKERS", CONFIG_INT, "-4", -10, 10, "worker count", &workers },
    { "TB_HOST", CONFIG_STRING, "localhost", 1, 0, "host name", &host },
    { "TB_PREFIX", CONFIG_STRING, "", 0, 0, "key prefix", &prefix },
};
#define NVARS (sizeof vars / sizeof vars[0])

static void reset(void)
{
    port = workers = 12345;
    host = prefix = "unset";
    stub_calls = 0;
}

/* Load 'vars' under 'env'; returns config_load's result and leaves its message in 'err'. */
static int load(const char *const *env, char *err)
{
    reset();
    stub_env = env;
    strcpy(err, "");
    return config_load(vars, NVARS, stub_get, err);
}

/* 'env' must fail with exactly 'want'. */
static void bad(const char *const *env, const char *want, int line)
{
    char err[CONFIG_ERR_LEN];

    check_int_eq(load(env, err), -1, __FILE__, line, "config_load", "-1");
    check_str_eq(err, want, __FILE__, line, "err", "want");
}

#define BAD(want, ...) bad((const char *const[]){ __VA_ARGS__, NULL }, (want), __LINE__)

static void test_defaults(void)
{
    char err[CONFIG_ERR_LEN];

    CHECK_INT_EQ(load((const char *const[]){ NULL }, err), 0);
    CHECK_STR_EQ(err, "");
    CHECK_INT_EQ(stub_calls, NVARS);
    CHECK_INT_EQ(port, 8080);
    CHECK_INT_EQ(workers, -4);
    CHECK_STR_EQ(host, "localhost");
    CHECK_STR_EQ(prefix, "");

    /* Empty values mean the default too. */
    CHECK_INT_EQ(load((const char *const[]){ "TB_PORT=", "TB_WORKERS=", "TB_HOST=", "TB_PREFIX=", NULL }, err), 0);
    CHECK_INT_EQ(port, 8080);
    CHECK_INT_EQ(workers, -4);
    CHECK_STR_EQ(host, "localhost");
    CHECK_STR_EQ(prefix, "");

    /* Unrelated and look-alike names are ignored. */
    CHECK_INT_EQ(load((const char *const[]){ "TB_PORTX=1", "TB_POR=2", "OTHER=3", NULL }, err), 0);
    CHECK_INT_EQ(port, 8080);
}

static void test_values(void)
{
    static const char *const env[] = { "TB_PORT=9000", "TB_WORKERS=7", "TB_HOST=redis.local", "TB_PREFIX=tb:",
                                       NULL };
    char err[CONFIG_ERR_LEN];

    CHECK_INT_EQ(load(env, err), 0);
    CHECK_INT_EQ(port, 9000);
    CHECK_INT_EQ(workers, 7);
    CHECK_STR_EQ(host, "redis.local");
    CHECK_STR_EQ(prefix, "tb:");
    /* Strings point into the environment, not a copy. */
    CHECK(host == env[2] + strlen("TB_HOST="));

    /* The bounds themselves are accepted, and signs are parsed. */
    CHECK_INT_EQ(load((const char *const[]){ "TB_PORT=1", "TB_WORKERS=-10", NULL }, err), 0);
    CHECK_INT_EQ(port, 1);
    CHECK_INT_EQ(workers, -10);
    CHECK_INT_EQ(load((const char *const[]){ "TB_PORT=65535", "TB_WORKERS=+10", NULL }, err), 0);
    CHECK_INT_EQ(port, 65535);
    CHECK_INT_EQ(workers, 10);
    CHECK_INT_EQ(load((const char *const[]){ "TB_PORT=0080", "TB_WORKERS=0", NULL }, err), 0);
    CHECK_INT_EQ(port, 80); /* decimal, not octal */
    CHECK_INT_EQ(workers, 0);
}

static void test_parse_errors(void)
{
    BAD("TB_PORT=abc is not an integer", "TB_PORT=abc");
    BAD("TB_PORT=12x is not an integer", "TB_PORT=12x");
    BAD("TB_PORT=12  is not an integer", "TB_PORT=12 ");
    BAD("TB_PORT=1.5 is not an integer", "TB_PORT=1.5");
    BAD("TB_PORT=0x10 is not an integer", "TB_PORT=0x10");
    BAD("TB_PORT=- is not an integer", "TB_PORT=-");
    BAD("TB_PORT=99999999999999999999999 is not an integer", "TB_PORT=99999999999999999999999");
    BAD("TB_WORKERS=-99999999999999999999999 is not an integer", "TB_WORKERS=-99999999999999999999999");
    /* The first variable is fine, the second is not: its name is the one reported. */
    BAD("TB_WORKERS=x is not an integer", "TB_PORT=80", "TB_WORKERS=x");
}

static void test_range_errors(void)
{
    BAD("TB_PORT=0 is out of range [1, 65535]", "TB_PORT=0");
    BAD("TB_PORT=65536 is out of range [1, 65535]", "TB_PORT=65536");
    BAD("TB_PORT=-1 is out of range [1, 65535]", "TB_PORT=-1");
    BAD("TB_WORKERS=11 is out of range [-10, 10]", "TB_WORKERS=11");
    BAD("TB_WORKERS=-11 is out of range [-10, 10]", "TB_WORKERS=-11");
    BAD("TB_PORT=9223372036854775807 is out of range [1, 65535]", "TB_PORT=9223372036854775807");
}

static void test_strings(void)
{
    /* A string variable with min > 0 must not end up empty, even through its default. */
    static long n;
    static const char *s;
    const struct config_var req[] = {
        { "TB_N", CONFIG_INT, "3", 0, 5, "n", &n },
        { "TB_REQ", CONFIG_STRING, "", 1, 0, "required", &s },
    };
    char err[CONFIG_ERR_LEN] = "";

    stub_env = (const char *const[]){ "TB_REQ=x", NULL };
    s = NULL;
    CHECK_INT_EQ(config_load(req, 2, stub_get, err), 0);
    CHECK_STR_EQ(s, "x");
    CHECK_INT_EQ(n, 3);

    stub_env = (const char *const[]){ "TB_REQ=", NULL };
    CHECK_INT_EQ(config_load(req, 2, stub_get, err), -1);
    CHECK_STR_EQ(err, "TB_REQ must not be empty");

    stub_env = NULL;
    CHECK_INT_EQ(config_load(req, 2, stub_get, err), -1);
    CHECK_STR_EQ(err, "TB_REQ must not be empty");

    /* Strings are taken as they are: spaces and '=' included. */
    char err2[CONFIG_ERR_LEN];
    CHECK_INT_EQ(load((const char *const[]){ "TB_HOST= a=b ", NULL }, err2), 0);
    CHECK_STR_EQ(host, " a=b ");

    /* An empty table loads nothing and succeeds. */
    CHECK_INT_EQ(config_load(vars, 0, stub_get, err), 0);
}

static void test_bool(void)
{
    static long flag;
    const struct config_var v[] = { { "TB_FLAG", CONFIG_BOOL, "on", 0, 0, "a switch", &flag } };
    char err[CONFIG_ERR_LEN] = "";

    stub_env = NULL;
    flag = -1;
    CHECK_INT_EQ(config_load(v, 1, stub_get, err), 0);
    CHECK_INT_EQ(flag, 1);
    stub_env = (const char *const[]){ "TB_FLAG=off", NULL };
    CHECK_INT_EQ(config_load(v, 1, stub_get, err), 0);
    CHECK_INT_EQ(flag, 0);
    stub_env = (const char *const[]){ "TB_FLAG=on", NULL };
    CHECK_INT_EQ(config_load(v, 1, stub_get, err), 0);
    CHECK_INT_EQ(flag, 1);
    /* Only the two words: anything else names the variable. */
    static const char *const bad[] = { "TB_FLAG=ON", "TB_FLAG=1", "TB_FLAG=true", "TB_FLAG=of", "TB_FLAG=on " };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        stub_env = (const char *const[]){ bad[i], NULL };
        CHECK_INT_EQ(config_load(v, 1, stub_get, err), -1);
        char want[CONFIG_ERR_LEN];
        snprintf(want, sizeof want, "%s is not on or off", bad[i]);
        CHECK_STR_EQ(err, want);
    }
    /* The help line shows the default and the choice. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (CHECK(f != NULL)) {
        config_print_help(f, "d", "p", v, 1);
        fclose(f);
        CHECK(strstr(buf, "TB_FLAG") != NULL && strstr(buf, "[on|off]") != NULL && strstr(buf, "a switch") != NULL);
        free(buf);
    }
}

/* Run config_print_help into memory; the caller frees the text. */
static char *help_text(const struct config_var *v, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f) {
        perror("open_memstream");
        exit(2);
    }
    config_print_help(f, "tb-frontend", "accepts tasks over HTTP", v, n);
    fclose(f);
    return buf;
}

/* The line of 'text' that mentions 'name' as a whole word after the indent, or NULL. */
static const char *line_of(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; (p = strstr(p, name)); p++)
        if (p >= text + 2 && p[-1] == ' ' && p[-2] == ' ' && p[n] == ' ')
            return p;
    return NULL;
}

static void test_help(void)
{
    char *text = help_text(vars, NVARS);
    const char *l;

    if (!CHECK(text != NULL))
        return;
    CHECK(strncmp(text, "tb-frontend: accepts tasks over HTTP\n", 37) == 0);
    CHECK(strstr(text, "environment variables") != NULL);

    /* Each name on its own line, with its default, bounds (integers) and help. */
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK_INT_EQ(lines, 3 + NVARS);
    for (size_t i = 0; i < NVARS; i++) {
        l = line_of(text, vars[i].name);
        if (!CHECK(l != NULL)) {
            fprintf(stderr, "    %s missing from:\n%s", vars[i].name, text);
            continue;
        }
        const char *eol = strchr(l, '\n');
        size_t n = eol ? (size_t)(eol - l) : strlen(l);
        char line[256];
        snprintf(line, sizeof line, "%.*s", (int)n, l);
        CHECK(strstr(line, vars[i].help) != NULL);
        CHECK(strstr(line, "default") != NULL);
        if (vars[i].type == CONFIG_INT) {
            char bounds[64];
            snprintf(bounds, sizeof bounds, "[%ld..%ld]", vars[i].min, vars[i].max);
            CHECK(strstr(line, vars[i].def) != NULL);
            CHECK(strstr(line, bounds) != NULL);
        } else if (*vars[i].def) {
            CHECK(strstr(line, vars[i].def) != NULL);
        } else {
            CHECK(strstr(line, "(empty)") != NULL);
        }
    }
    free(text);

    /* The same through a real FILE (tmpfile), and an empty table prints just the heading. */
    FILE *f = tmpfile();
    if (CHECK(f != NULL)) {
        char buf[1024];
        config_print_help(f, "d", "p", vars, 1);
        rewind(f);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        CHECK(strncmp(buf, "d: p\n", 5) == 0);
        CHECK(line_of(buf, "TB_PORT") != NULL);
        CHECK(strstr(buf, "TB_WORKERS") == NULL);
    }
    text = help_text(vars, 0);
    CHECK_STR_EQ(text, "tb-frontend: accepts tasks over HTTP\n\nConfiguration (environment variables):\n");
    free(text);
}

int main(void)
{
    test_defaults();
    test_values();
    test_parse_errors();
    test_range_errors();
    test_strings();
    test_bool();
    test_help();
    return check_finish();
}
