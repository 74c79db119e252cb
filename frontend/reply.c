/* Response bodies, built with cJSON so every string is escaped. */
#include "reply.h"

#include <cjson/cJSON.h>
#include <stddef.h>

static char *finish(cJSON *root, int ok)
{
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

char *reply_ok(const char *result, const char *id)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root && cJSON_AddStringToObject(root, "message", "OK") && cJSON_AddStringToObject(root, "result", result)
             && (!id || cJSON_AddStringToObject(root, "id", id));
    return finish(root, ok);
}

char *reply_error(const char *error, const char *id)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root && cJSON_AddStringToObject(root, "message", "FAIL") && cJSON_AddStringToObject(root, "error", error)
             && (!id || cJSON_AddStringToObject(root, "id", id));
    return finish(root, ok);
}

char *reply_accepted(const char *id, const char *status)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root && cJSON_AddStringToObject(root, "message", "Accepted") && cJSON_AddStringToObject(root, "id", id)
             && cJSON_AddStringToObject(root, "status", status);
    return finish(root, ok);
}

const char *reply_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}
