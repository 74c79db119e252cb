/* Parsing task-maps.json, the table from task type to backend service, and routing a task type with it. */
#include "taskmap.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Return 1 when 's' is a usable service name: 1 to TASKMAP_SERVICE_LEN-1 letters, digits, '-' or '_'. */
static int valid_service(const char *s)
{
    size_t n;

    for (n = 0; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return n > 0 && n < TASKMAP_SERVICE_LEN;
}

int taskmap_parse(const char *text, size_t len, struct taskmap *map, char *err)
{
    cJSON *root = NULL;
    const cJSON *item;
    const char *end = NULL;
    enum task_type type;
    int rc = -1;

    memset(map, 0, sizeof *map);
    if (!text || len == 0) {
        snprintf(err, TASK_ERR_LEN, "task map is empty");
        goto out;
    }
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    while (root && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (!root || end != text + len || task_json_scan(text, len) != TASK_SCAN_OK) {
        snprintf(err, TASK_ERR_LEN, "task map is not valid JSON");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, TASK_ERR_LEN, "task map must be a JSON object");
        goto out;
    }
    cJSON_ArrayForEach(item, root) {
        if (task_type_parse(item->string, &type) < 0) {
            snprintf(err, TASK_ERR_LEN, "unknown task type \"%.32s\": use NUMBER or STRING", item->string);
            goto out;
        }
        if (map->service[type][0] != '\0') {
            snprintf(err, TASK_ERR_LEN, "task type %s is mapped twice", item->string);
            goto out;
        }
        if (!cJSON_IsString(item) || !valid_service(item->valuestring)) {
            snprintf(err, TASK_ERR_LEN, "service for %s must be 1 to %d letters, digits, '-' or '_'",
                     item->string, TASKMAP_SERVICE_LEN - 1);
            goto out;
        }
        memcpy(map->service[type], item->valuestring, strlen(item->valuestring) + 1);
    }
    rc = 0;
out:
    if (rc < 0)
        memset(map, 0, sizeof *map);
    cJSON_Delete(root);
    return rc;
}

const char *taskmap_route(const struct taskmap *map, enum task_type type)
{
    if ((unsigned)type >= sizeof map->service / sizeof map->service[0] || map->service[type][0] == '\0')
        return NULL;
    return map->service[type];
}
