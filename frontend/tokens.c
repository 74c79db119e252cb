/* The API tokens file: reading it, and swapping in a new set when it is re-read. */
#include "tokens.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define TOKENS_FILE_MAX (4 * 1024 * 1024) /* a tokens file larger than this is refused rather than read */

struct tokens {
    const char *path;
    struct auth_tokens *set;
};

/* Read and parse the whole file. Returns the set, or NULL with a reason in 'err'. The file's bytes are wiped from
 * memory before they are freed. */
static struct auth_tokens *read_file(const char *path, char *err)
{
    struct auth_tokens *set = NULL;
    char *text = NULL;
    size_t len = 0, cap = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, AUTH_ERR_LEN, "cannot open %.160s: %.80s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 4096;
            char *ntext = ncap > TOKENS_FILE_MAX ? NULL : malloc(ncap);
            if (!ntext) {
                snprintf(err, AUTH_ERR_LEN, "%.160s is larger than %d bytes, or memory ran out", path, TOKENS_FILE_MAX);
                goto out;
            }
            if (text) {
                memcpy(ntext, text, len);
                OPENSSL_cleanse(text, len);
                free(text);
            }
            text = ntext;
            cap = ncap;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, AUTH_ERR_LEN, "cannot read %.160s", path);
        goto out;
    }
    char why[AUTH_ERR_LEN];
    set = auth_tokens_parse(text, len, why);
    if (!set)
        snprintf(err, AUTH_ERR_LEN, "%.80s: %.160s", path, why);
out:
    if (text)
        OPENSSL_cleanse(text, len);
    free(text);
    fclose(f);
    return set;
}

struct tokens *tokens_load(const char *path, char *err)
{
    struct tokens *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, AUTH_ERR_LEN, "out of memory");
        return NULL;
    }
    t->path = path;
    t->set = read_file(path, err);
    if (!t->set) {
        free(t);
        return NULL;
    }
    return t;
}

int tokens_reload(struct tokens *t, char *err)
{
    struct auth_tokens *set = read_file(t->path, err);
    if (!set)
        return -1;
    auth_tokens_free(t->set);
    t->set = set;
    return 0;
}

const struct auth_tokens *tokens_current(const struct tokens *t)
{
    return t->set;
}

const char *tokens_path(const struct tokens *t)
{
    return t->path;
}

void tokens_free(struct tokens *t)
{
    if (!t)
        return;
    auth_tokens_free(t->set);
    free(t);
}
