/* API tokens: parse a tokens file into digests, and decide on an Authorization header in constant time. */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct auth_tokens {
    size_t n;
    unsigned char (*digest)[SHA256_DIGEST_LENGTH];
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* RFC 6750's b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Returns 1 when 's' ('n'
 * bytes) is one and not longer than AUTH_TOKEN_MAX. */
static int token_valid(const char *s, size_t n)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";
    size_t i = 0;
    if (n == 0 || n > AUTH_TOKEN_MAX)
        return 0;
    while (i < n && s[i] != '\0' && strchr(chars, s[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

struct auth_tokens *auth_tokens_parse(const char *text, size_t len, char *err)
{
    struct auth_tokens *t = calloc(1, sizeof *t);
    size_t cap = 0, line = 0;
    if (!t)
        goto oom;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, a = pos, b = end;
        line++;
        pos = end + 1;
        while (a < b && is_blank(text[a]))
            a++;
        while (b > a && is_blank(text[b - 1]))
            b--;
        if (a == b || text[a] == '#')
            continue;
        if (!token_valid(text + a, b - a)) {
            snprintf(err, AUTH_ERR_LEN, "line %zu is not a token (1 to %d characters of letters, digits and "
                     "-._~+/, optionally followed by '=')", line, AUTH_TOKEN_MAX);
            auth_tokens_free(t);
            return NULL;
        }
        if (t->n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            void *d = realloc(t->digest, ncap * sizeof *t->digest);
            if (!d)
                goto oom;
            t->digest = d;
            cap = ncap;
        }
        SHA256((const unsigned char *)text + a, b - a, t->digest[t->n++]);
    }
    if (t->n == 0) {
        snprintf(err, AUTH_ERR_LEN, "it holds no token");
        auth_tokens_free(t);
        return NULL;
    }
    return t;
oom:
    snprintf(err, AUTH_ERR_LEN, "out of memory");
    auth_tokens_free(t);
    return NULL;
}

void auth_tokens_free(struct auth_tokens *t)
{
    if (!t)
        return;
    if (t->digest)
        OPENSSL_cleanse(t->digest, t->n * sizeof *t->digest);
    free(t->digest);
    free(t);
}

size_t auth_tokens_count(const struct auth_tokens *t)
{
    return t ? t->n : 0;
}

enum auth_result auth_check(const struct auth_tokens *t, const char *header)
{
    static const char scheme[] = "Bearer";
    const size_t sn = sizeof scheme - 1;
    if (!header)
        return AUTH_MISSING;
    header += strspn(header, " \t");
    if (strncasecmp(header, scheme, sn) != 0 || (header[sn] != '\0' && !is_blank(header[sn])))
        return AUTH_SCHEME;
    const char *tok = header + sn;
    tok += strspn(tok, " \t");
    size_t n = strlen(tok);
    while (n > 0 && is_blank(tok[n - 1]))
        n--;
    if (!token_valid(tok, n))
        return AUTH_MALFORMED;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, n, digest);
    int found = 0;
    for (size_t i = 0; t && i < t->n; i++)
        found |= CRYPTO_memcmp(digest, t->digest[i], sizeof digest) == 0;
    OPENSSL_cleanse(digest, sizeof digest);
    return found ? AUTH_OK : AUTH_UNKNOWN;
}

int auth_exempt(const char *method, const char *url)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return 0;
    return strcmp(url, "/") == 0 || strcmp(url, "/metrics") == 0 || strcmp(url, "/dashboard") == 0;
}

const char *auth_reason(enum auth_result r)
{
    switch (r) {
    case AUTH_OK:
        return "authorized";
    case AUTH_MISSING:
        return "missing Authorization header (expected: Bearer <token>)";
    case AUTH_SCHEME:
        return "malformed Authorization header: the scheme must be Bearer (expected: Bearer <token>)";
    case AUTH_MALFORMED:
        return "malformed bearer token";
    case AUTH_UNKNOWN:
        break;
    }
    return "unknown token";
}

const char *auth_challenge(enum auth_result r)
{
    if (r == AUTH_MALFORMED || r == AUTH_UNKNOWN)
        return "Bearer realm=\"taskbus\", error=\"invalid_token\"";
    return "Bearer realm=\"taskbus\"";
}
