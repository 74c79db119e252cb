/* libFuzzer harness for msg_decode (common/msg.c): every bus message is decoded or refused with a reason, and
 * whatever is accepted encodes to a text that decodes again to the same message. msg_clear always runs. */
#include <string.h>

#include "fuzz.h"
#include "msg.h"

/* 1 when two possibly NULL strings are equal. */
static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* 1 when 'a' and 'b' carry the same message. Numbers compare with ==: the wire writes -0 as 0 (compute.c). */
static int same_msg(const struct msg *a, const struct msg *b)
{
    int ok = a->kind == b->kind && strcmp(a->id, b->id) == 0 && strcmp(a->ref, b->ref) == 0 &&
             strcmp(a->token, b->token) == 0 && strcmp(a->trace, b->trace) == 0 && same(a->reply_to, b->reply_to) &&
             same(a->origin, b->origin) && same(a->request, b->request) && a->timeout_ms == b->timeout_ms &&
             a->keep_s == b->keep_s &&
             a->async == b->async && a->handoff == b->handoff && a->status == b->status &&
             same(a->result, b->result) && same(a->error, b->error) && same(a->replica, b->replica) &&
             a->retry_after_s == b->retry_after_s && same(a->history, b->history) &&
             a->task.type == b->task.type && a->task.op == b->task.op;

    for (int i = 0; i < 2; i++)
        ok = ok && a->task.arg[i].num == b->task.arg[i].num && same(a->task.arg[i].str, b->task.arg[i].str) &&
             a->task.arg[i].len == b->task.arg[i].len;
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1), err[TASK_ERR_LEN] = "";
    struct msg m, back;

    memcpy(text, data, size);
    if (msg_decode(text, size, &m, err) == 0) {
        char *again = msg_encode(&m);
        FUZZ_CHECK(again != NULL);
        if (msg_decode(again, strlen(again), &back, err) != 0) {
            fprintf(stderr, "re-encoded message refused: %s\n%s\n", err, again);
            FUZZ_CHECK(!"a decoded message encodes to one that decodes");
        }
        FUZZ_CHECK(same_msg(&m, &back));
        msg_clear(&back);
        free(again);
    } else {
        /* The reason is logged as is: present, terminated, valid UTF-8; the id and channel kept are valid. */
        size_t n = strnlen(err, sizeof err);
        FUZZ_CHECK(n > 0 && n < sizeof err && fuzz_valid_utf8(err, n));
        FUZZ_CHECK(m.id[0] == '\0' || msg_valid_name(m.id, TASK_ID_LEN - 1));
        FUZZ_CHECK(!m.reply_to || strncmp(m.reply_to, MSG_CHANNEL_PREFIX, strlen(MSG_CHANNEL_PREFIX)) == 0);
    }
    msg_clear(&m);
    free(text);
    return 0;
}
