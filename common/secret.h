/* Secrets in configuration: reading one from a file (Docker secrets) and keeping it out of every message. */
#ifndef TASKBUS_SECRET_H
#define TASKBUS_SECRET_H

#include <stddef.h>

#define SECRET_LEN 1024     /* the longest secret (or URI read from a file) plus its NUL */
#define SECRET_ERR_LEN 256
#define SECRET_MASK "***"

/* Read the first line of the file 'path' (without its "\n" or "\r\n") into 'buf' ('len' bytes): the form Docker
 * secrets and `echo pw > file` have. Returns 0, or -1 with a reason that names 'var' and the path, never the
 * content, in 'err' (SECRET_ERR_LEN bytes): the file cannot be read, its first line is empty, or it is longer than
 * len - 1 bytes. */
int secret_read_file(const char *var, const char *path, char *buf, size_t len, char *err);

/* The password of a URI's user information ("scheme://user:password@host..."), as written (still percent-encoded),
 * into 'out' ('len' bytes). The user information ends at the last '@' before the first '?', so a password with an
 * unescaped '/' or '@' is still found. Returns 0, or -1 when the URI has no password (or it does not fit). */
int secret_uri_password(const char *uri, char *out, size_t len);

/* Copy 'uri' into 'out' ('len' bytes, truncated) with its password replaced by SECRET_MASK: "user:***@". A URI
 * without a password is copied as it is. Returns 'out'. */
const char *secret_redact_uri(const char *uri, char *out, size_t len);

/* Copy 'text' into 'out' ('len' bytes, truncated) with every occurrence of 'secret' replaced by SECRET_MASK (nothing
 * is replaced when 'secret' is NULL or empty). Returns 'out'. */
const char *secret_redact(const char *text, const char *secret, char *out, size_t len);

#endif
