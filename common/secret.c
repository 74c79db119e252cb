/* Reading secrets from files and masking them in text. No sockets; the only I/O is reading one file. */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int secret_read_file(const char *var, const char *path, char *buf, size_t len, char *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, SECRET_ERR_LEN, "%s=%s cannot be read: %s", var, path, strerror(errno));
        return -1;
    }
    int rc = -1;
    if (!fgets(buf, (int)len, f)) {
        snprintf(err, SECRET_ERR_LEN, "%s=%s is empty", var, path);
        goto out;
    }
    size_t n = strlen(buf);
    int next = n == len - 1 && buf[n - 1] != '\n' ? fgetc(f) : EOF;
    if (next != EOF && next != '\n' && next != '\r') {
        snprintf(err, SECRET_ERR_LEN, "%s=%s: its first line is longer than %zu bytes", var, path, len - 2);
        goto out;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0) {
        snprintf(err, SECRET_ERR_LEN, "%s=%s: its first line is empty", var, path);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        memset(buf, 0, len);
    fclose(f);
    return rc;
}

/* Where the password of 'uri' starts and how long it is. Returns 0, or -1 when there is none. */
static int find_password(const char *uri, const char **start, size_t *n)
{
    const char *scheme = strstr(uri, "://");
    if (!scheme)
        return -1;
    const char *info = scheme + 3;
    const char *query = strchr(info, '?');
    const char *end = query ? query : info + strlen(info);
    const char *at = NULL;
    for (const char *p = info; p < end; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return -1;
    const char *colon = memchr(info, ':', (size_t)(at - info));
    if (!colon)
        return -1;
    *start = colon + 1;
    *n = (size_t)(at - *start);
    return 0;
}

int secret_uri_password(const char *uri, char *out, size_t len)
{
    const char *start;
    size_t n;
    if (find_password(uri, &start, &n) != 0 || n == 0 || n >= len)
        return -1;
    memcpy(out, start, n);
    out[n] = '\0';
    return 0;
}

const char *secret_redact_uri(const char *uri, char *out, size_t len)
{
    const char *start;
    size_t n;
    if (find_password(uri, &start, &n) != 0)
        snprintf(out, len, "%s", uri);
    else
        snprintf(out, len, "%.*s" SECRET_MASK "%s", (int)(start - uri), uri, start + n);
    return out;
}

const char *secret_redact(const char *text, const char *secret, char *out, size_t len)
{
    size_t used = 0, slen = secret ? strlen(secret) : 0;
    if (len == 0)
        return out;
    out[0] = '\0';
    for (const char *p = text; *p && used + 1 < len;) {
        const char *piece = p;
        size_t n = 1;
        if (slen > 0 && strncmp(p, secret, slen) == 0) {
            piece = SECRET_MASK;
            n = sizeof SECRET_MASK - 1;
            p += slen;
        } else {
            p++;
        }
        if (n > len - 1 - used)
            n = len - 1 - used;
        memcpy(out + used, piece, n);
        used += n;
    }
    out[used] = '\0';
    return out;
}
