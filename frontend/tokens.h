/* The API tokens file (API_TOKENS_FILE): read at start, re-read on SIGHUP. Loop thread only. */
#ifndef TASKBUS_TOKENS_H
#define TASKBUS_TOKENS_H

#include "auth.h"

struct tokens;

/* Read the tokens file at 'path' (the string must outlive the object). Returns the object, or NULL with a reason in
 * 'err' (AUTH_ERR_LEN bytes; never a token's text) when the file cannot be read or holds no valid token list. */
struct tokens *tokens_load(const char *path, char *err);

/* Read the file again. On success the new set replaces the old one and 0 is returned; on failure the old set stays
 * in force and -1 is returned with a reason in 'err'. */
int tokens_reload(struct tokens *t, char *err);

/* The tokens in force, valid until the next tokens_reload or tokens_free. */
const struct auth_tokens *tokens_current(const struct tokens *t);

const char *tokens_path(const struct tokens *t);

void tokens_free(struct tokens *t);

#endif
