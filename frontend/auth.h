/* API tokens: the set of accepted bearer tokens and the decision on a request's Authorization header. Pure: no I/O;
 * tokens are kept only as SHA-256 digests, and never logged or printed. */
#ifndef TASKBUS_AUTH_H
#define TASKBUS_AUTH_H

#include <stddef.h>

#define AUTH_ERR_LEN 256
#define AUTH_TOKEN_MAX 1024 /* longest accepted token, in characters */

struct auth_tokens;

enum auth_result {
    AUTH_OK,        /* a configured token */
    AUTH_MISSING,   /* no Authorization header */
    AUTH_SCHEME,    /* an Authorization header of another scheme than Bearer */
    AUTH_MALFORMED, /* Bearer, but no token or one that is not RFC 6750's b64token */
    AUTH_UNKNOWN,   /* a well-formed token that is not configured */
};

/* Parse the text of a tokens file ('len' bytes, need not be NUL-terminated): one token per line; blank lines, lines
 * of whitespace and lines whose first non-blank character is '#' are ignored; leading and trailing whitespace
 * (CR included) is dropped. Returns the set, or NULL with a reason in 'err' (AUTH_ERR_LEN bytes; names the line,
 * never its content) when a line is not a valid token, there is no token, or memory runs out. Free with
 * auth_tokens_free(). */
struct auth_tokens *auth_tokens_parse(const char *text, size_t len, char *err);

void auth_tokens_free(struct auth_tokens *t);

size_t auth_tokens_count(const struct auth_tokens *t);

/* Decide on the value of an Authorization header ('header' NULL when there is none). The presented token is hashed
 * and its digest compared with every configured one, without early exit, by CRYPTO_memcmp: the time taken depends
 * on the number of configured tokens and the presented token's length, not on any token's content. */
enum auth_result auth_check(const struct auth_tokens *t, const char *header);

/* Whether a request needs no token: GET or HEAD of "/" (the health check), of "/metrics", and of "/dashboard" (the
 * page alone, which holds no data: it reads a token from its URL's fragment and sends it with every fetch of its
 * data, GET /dashboard/stats and GET /tasks, which need one). */
int auth_exempt(const char *method, const char *url);

/* The client-readable reason for a refusal (the 401's "error"), and the WWW-Authenticate value to send with it
 * (RFC 6750: error="invalid_token" when a bearer token was given but is not accepted). Static strings. */
const char *auth_reason(enum auth_result r);
const char *auth_challenge(enum auth_result r);

#endif
