/* libFuzzer harness for task_classify (common/task.c): any body is either a task or a 400 with a message, and an
 * accepted task is one the backends can run. Crashes, leaks and undefined behaviour are findings too. */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly 'size' bytes, so ASan sees any read past the body (it is not NUL-terminated). */
    char *body = malloc(size ? size : 1), err[TASK_ERR_LEN];
    struct task t, zero;

    memcpy(body, data, size);
    memset(err, 0, sizeof err);
    memset(&zero, 0, sizeof zero);
    if (task_classify(body, size, &t, err) == 0) {
        FUZZ_CHECK(t.type == TASK_NUMBER || t.type == TASK_STRING);
        if (t.type == TASK_NUMBER) {
            FUZZ_CHECK((unsigned)t.op <= TASK_DIVIDE);
            FUZZ_CHECK(isfinite(t.arg[0].num) && isfinite(t.arg[1].num));
            FUZZ_CHECK(!t.arg[0].str && !t.arg[1].str);
        } else {
            FUZZ_CHECK(t.op == TASK_ADD);
            for (int i = 0; i < 2; i++)
                FUZZ_CHECK(t.arg[i].str && strlen(t.arg[i].str) == t.arg[i].len);
            /* The operands reach the backend and the log as JSON strings: they must be valid UTF-8. */
            for (int i = 0; i < 2; i++)
                FUZZ_CHECK(fuzz_valid_utf8(t.arg[i].str, t.arg[i].len));
        }
        task_clear(&t);
    } else {
        /* A client gets the message in a JSON body: present, terminated, and valid UTF-8. */
        size_t n = strnlen(err, sizeof err);
        FUZZ_CHECK(n > 0 && n < sizeof err);
        FUZZ_CHECK(fuzz_valid_utf8(err, n));
        FUZZ_CHECK(memcmp(&t, &zero, sizeof t) == 0);
    }
    free(body);
    return 0;
}
