/* Unit tests of secret handling: the first line of a secret file, a URI's password, and masking it in text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "secret.h"

static void test_redact_uri(void)
{
    char out[256];
    CHECK_STR_EQ(secret_redact_uri("mongodb://user:s3cret@db:27017/taskbus?replicaSet=x", out, sizeof out),
                 "mongodb://user:***@db:27017/taskbus?replicaSet=x");
    CHECK_STR_EQ(secret_redact_uri("mongodb://db:27017/taskbus", out, sizeof out), "mongodb://db:27017/taskbus");
    CHECK_STR_EQ(secret_redact_uri("mongodb://user@db/taskbus", out, sizeof out), "mongodb://user@db/taskbus");
    CHECK_STR_EQ(secret_redact_uri("mongodb://user:@db/x", out, sizeof out), "mongodb://user:***@db/x");
    /* Unescaped '/' and '@' in the password (an invalid URI, whose error message must not show it either). */
    CHECK_STR_EQ(secret_redact_uri("mongodb://u:pa/ss@w@h1,h2/db?authSource=admin", out, sizeof out),
                 "mongodb://u:***@h1,h2/db?authSource=admin");
    /* An '@' only in the query is not user information. */
    CHECK_STR_EQ(secret_redact_uri("mongodb://h/db?x=a:b@c", out, sizeof out), "mongodb://h/db?x=a:b@c");
    CHECK_STR_EQ(secret_redact_uri("not a uri", out, sizeof out), "not a uri");
    CHECK_STR_EQ(secret_redact_uri("mongodb://user:s3cret@db/x", out, 20), "mongodb://user:***@");
}

static void test_uri_password(void)
{
    char pw[64];
    CHECK_INT_EQ(secret_uri_password("mongodb://user:p%40ss@db/x", pw, sizeof pw), 0);
    CHECK_STR_EQ(pw, "p%40ss");
    CHECK_INT_EQ(secret_uri_password("mongodb://user@db/x", pw, sizeof pw), -1);
    CHECK_INT_EQ(secret_uri_password("mongodb://db/x", pw, sizeof pw), -1);
    CHECK_INT_EQ(secret_uri_password("mongodb://user:@db/x", pw, sizeof pw), -1);
    CHECK_INT_EQ(secret_uri_password("mongodb://user:0123456789@db/x", pw, 5), -1);
}

static void test_redact(void)
{
    char out[128];
    CHECK_STR_EQ(secret_redact("bad uri mongodb://u:hunter2@h: hunter2!", "hunter2", out, sizeof out),
                 "bad uri mongodb://u:***@h: ***!");
    CHECK_STR_EQ(secret_redact("nothing here", "hunter2", out, sizeof out), "nothing here");
    CHECK_STR_EQ(secret_redact("kept as is", "", out, sizeof out), "kept as is");
    CHECK_STR_EQ(secret_redact("kept as is", NULL, out, sizeof out), "kept as is");
    CHECK_STR_EQ(secret_redact("aaaa", "aa", out, sizeof out), "******");
    CHECK_STR_EQ(secret_redact("x hunter2 y", "hunter2", out, 5), "x **");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_read_file(void)
{
    char path[] = "/tmp/taskbus-test-secret-XXXXXX", buf[16], err[SECRET_ERR_LEN];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    write_file(path, "s3cret\nsecond line\n");
    CHECK_INT_EQ(secret_read_file("REDIS_PASSWORD_FILE", path, buf, sizeof buf, err), 0);
    CHECK_STR_EQ(buf, "s3cret");
    write_file(path, "crlf\r\n");
    CHECK_INT_EQ(secret_read_file("REDIS_PASSWORD_FILE", path, buf, sizeof buf, err), 0);
    CHECK_STR_EQ(buf, "crlf");
    write_file(path, "no-newline");
    CHECK_INT_EQ(secret_read_file("REDIS_PASSWORD_FILE", path, buf, sizeof buf, err), 0);
    CHECK_STR_EQ(buf, "no-newline");
    write_file(path, "exactly15bytes!\n"); /* fills the buffer exactly */
    CHECK_INT_EQ(secret_read_file("REDIS_PASSWORD_FILE", path, buf, sizeof buf, err), 0);
    CHECK_STR_EQ(buf, "exactly15bytes!");
    write_file(path, "sixteen-bytes-xx\n");
    CHECK_INT_EQ(secret_read_file("REDIS_PASSWORD_FILE", path, buf, sizeof buf, err), -1);
    CHECK(strstr(err, "REDIS_PASSWORD_FILE") && strstr(err, "longer") && !strstr(err, "sixteen"));
    write_file(path, "\nsecond\n");
    CHECK_INT_EQ(secret_read_file("MONGO_URI_FILE", path, buf, sizeof buf, err), -1);
    CHECK(strstr(err, "MONGO_URI_FILE") && strstr(err, "empty") && !strstr(err, "second"));
    write_file(path, "");
    CHECK_INT_EQ(secret_read_file("MONGO_URI_FILE", path, buf, sizeof buf, err), -1);
    unlink(path);
    CHECK_INT_EQ(secret_read_file("MONGO_URI_FILE", path, buf, sizeof buf, err), -1);
    CHECK(strstr(err, path) && strstr(err, "cannot be read"));
}

int main(void)
{
    test_redact_uri();
    test_uri_password();
    test_redact();
    test_read_file();
    return check_finish();
}
