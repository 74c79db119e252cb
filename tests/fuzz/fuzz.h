/* What the libFuzzer harnesses share: an invariant check that stops the run so libFuzzer saves the input. */
#ifndef TASKBUS_FUZZ_H
#define TASKBUS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding like a crash: say which, then abort (libFuzzer writes the reproducer). */
#define FUZZ_CHECK(cond)                                                                        \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);        \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* 1 when the 'len' bytes at 's' are valid UTF-8. task_json_scan stops at the first JSON problem, so ASCII is
 * masked first and only the UTF-8 check is left. */
static inline int fuzz_valid_utf8(const char *s, size_t len)
{
    char *copy = malloc(len ? len : 1);
    int ok;

    for (size_t i = 0; i < len; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? 'a' : s[i];
    ok = task_json_scan(copy, len) == TASK_SCAN_OK;
    free(copy);
    return ok;
}

#endif
