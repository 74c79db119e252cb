/* Unit tests of the API token decisions: the tokens file's syntax and the Authorization header's outcomes. */
#include <string.h>

#include "auth.h"
#include "check.h"

static struct auth_tokens *parse(const char *text, char *err)
{
    return auth_tokens_parse(text, strlen(text), err);
}

static void test_parse(void)
{
    char err[AUTH_ERR_LEN];
    struct auth_tokens *t = parse("# ops team\n\nalpha-1\r\n   \n  beta.2/+~_=  \n\t# old: gamma\ngamma==", err);
    CHECK(t != NULL);
    CHECK_INT_EQ(auth_tokens_count(t), 3);
    auth_tokens_free(t);

    CHECK(parse("", err) == NULL);
    CHECK(strstr(err, "no token") != NULL);
    CHECK(parse("# only comments\n\n", err) == NULL);
    err[0] = '\0';
    CHECK(parse("good\ntwo words\n", err) == NULL);
    CHECK(strstr(err, "line 2") != NULL);
    CHECK(strstr(err, "two") == NULL); /* the reason never repeats a line's content */
    CHECK(parse("=abc\n", err) == NULL);
    CHECK(parse("ab=c\n", err) == NULL);
    CHECK(parse("caf\xc3\xa9\n", err) == NULL);

    char longest[AUTH_TOKEN_MAX + 2];
    memset(longest, 'k', sizeof longest);
    longest[AUTH_TOKEN_MAX] = '\0';
    t = parse(longest, err);
    CHECK(t != NULL);
    auth_tokens_free(t);
    longest[AUTH_TOKEN_MAX] = 'k';
    longest[AUTH_TOKEN_MAX + 1] = '\0';
    CHECK(parse(longest, err) == NULL);

    /* Text need not be NUL-terminated: only 'len' bytes count. */
    t = auth_tokens_parse("first\nsecond", 5, err);
    CHECK_INT_EQ(auth_tokens_count(t), 1);
    CHECK(auth_check(t, "Bearer first") == AUTH_OK);
    CHECK(auth_check(t, "Bearer second") == AUTH_UNKNOWN);
    auth_tokens_free(t);
    auth_tokens_free(NULL);
}

static void test_check(void)
{
    char err[AUTH_ERR_LEN];
    struct auth_tokens *t = parse("alpha-1\nbeta.2/+~_=\n", err);
    CHECK(auth_check(t, NULL) == AUTH_MISSING);
    CHECK(auth_check(t, "Bearer alpha-1") == AUTH_OK);
    CHECK(auth_check(t, "bearer   beta.2/+~_=") == AUTH_OK); /* the scheme is case-insensitive */
    CHECK(auth_check(t, "BEARER\talpha-1 \t") == AUTH_OK);
    CHECK(auth_check(t, "Bearer Alpha-1") == AUTH_UNKNOWN);   /* the token is not */
    CHECK(auth_check(t, "Bearer alpha-") == AUTH_UNKNOWN);
    CHECK(auth_check(t, "Bearer alpha-12") == AUTH_UNKNOWN);
    CHECK(auth_check(t, "Basic YWxwaGEtMTo=") == AUTH_SCHEME);
    CHECK(auth_check(t, "alpha-1") == AUTH_SCHEME);
    CHECK(auth_check(t, "Beareralpha-1") == AUTH_SCHEME);
    CHECK(auth_check(t, "") == AUTH_SCHEME);
    CHECK(auth_check(t, "Bearer") == AUTH_MALFORMED);
    CHECK(auth_check(t, "Bearer   ") == AUTH_MALFORMED);
    CHECK(auth_check(t, "Bearer alpha-1 extra") == AUTH_MALFORMED);
    CHECK(auth_check(t, "Bearer alpha,1") == AUTH_MALFORMED);
    CHECK(auth_check(NULL, "Bearer alpha-1") == AUTH_UNKNOWN);
    auth_tokens_free(t);
}

static void test_answers(void)
{
    CHECK(auth_exempt("GET", "/"));
    CHECK(auth_exempt("HEAD", "/"));
    CHECK(auth_exempt("GET", "/metrics"));
    CHECK(auth_exempt("GET", "/dashboard"));
    CHECK(auth_exempt("HEAD", "/dashboard"));
    CHECK(!auth_exempt("GET", "/dashboard/stats"));
    CHECK(!auth_exempt("POST", "/dashboard"));
    CHECK(!auth_exempt("POST", "/"));
    CHECK(!auth_exempt("GET", "/task/abc"));
    CHECK(!auth_exempt("GET", "/tasks"));
    CHECK(!auth_exempt("POST", "/task"));
    CHECK(!auth_exempt("GET", "//"));
    CHECK_STR_EQ(auth_challenge(AUTH_MISSING), "Bearer realm=\"taskbus\"");
    CHECK_STR_EQ(auth_challenge(AUTH_SCHEME), "Bearer realm=\"taskbus\"");
    CHECK_STR_EQ(auth_challenge(AUTH_UNKNOWN), "Bearer realm=\"taskbus\", error=\"invalid_token\"");
    CHECK_STR_EQ(auth_challenge(AUTH_MALFORMED), "Bearer realm=\"taskbus\", error=\"invalid_token\"");
    CHECK(strstr(auth_reason(AUTH_MISSING), "missing") != NULL);
    CHECK(strstr(auth_reason(AUTH_SCHEME), "malformed") != NULL);
    CHECK(strstr(auth_reason(AUTH_MALFORMED), "malformed") != NULL);
    CHECK(strstr(auth_reason(AUTH_UNKNOWN), "unknown") != NULL);
}

int main(void)
{
    test_parse();
    test_check();
    test_answers();
    return check_finish();
}
