/* The JSON bodies the frontend answers with. Pure: no I/O. Each returns a malloc'd NUL-terminated string the
 * caller frees, or NULL when out of memory. 'id' may be NULL (then it is left out). */
#ifndef TASKBUS_REPLY_H
#define TASKBUS_REPLY_H

/* {"message":"OK","result":"15","id":"..."} */
char *reply_ok(const char *result, const char *id);

/* {"message":"FAIL","error":"...","id":"..."} */
char *reply_error(const char *error, const char *id);

/* {"message":"Accepted","id":"...","status":"..."}: the answer to a POST /task with Prefer: respond-async. */
char *reply_accepted(const char *id, const char *status);

/* The text of the HTTP status code: reply_status_text(404) is "Not Found". */
const char *reply_status_text(int status);

#endif
