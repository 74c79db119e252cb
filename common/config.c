/* Loading a daemon's configuration table from the environment. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int load_int(const struct config_var *v, const char *text, char *err)
{
    char *end;
    errno = 0;
    long x = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0') {
        snprintf(err, CONFIG_ERR_LEN, "%s=%s is not an integer", v->name, text);
        return -1;
    }
    if (x < v->min || x > v->max) {
        snprintf(err, CONFIG_ERR_LEN, "%s=%ld is out of range [%ld, %ld]", v->name, x, v->min, v->max);
        return -1;
    }
    *(long *)v->dst = x;
    return 0;
}

static int load_bool(const struct config_var *v, const char *text, char *err)
{
    if (strcmp(text, "on") != 0 && strcmp(text, "off") != 0) {
        snprintf(err, CONFIG_ERR_LEN, "%s=%s is not on or off", v->name, text);
        return -1;
    }
    *(long *)v->dst = strcmp(text, "on") == 0;
    return 0;
}

int config_load(const struct config_var *vars, size_t n, const char *(*get)(const char *name), char *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct config_var *v = &vars[i];
        const char *text = get(v->name);
        if (!text || !*text)
            text = v->def;
        if (v->type == CONFIG_INT) {
            if (load_int(v, text, err) != 0)
                return -1;
        } else if (v->type == CONFIG_BOOL) {
            if (load_bool(v, text, err) != 0)
                return -1;
        } else {
            if (!*text && v->min > 0) {
                snprintf(err, CONFIG_ERR_LEN, "%s must not be empty", v->name);
                return -1;
            }
            *(const char **)v->dst = text;
        }
    }
    return 0;
}

void config_print_help(FILE *out, const char *daemon, const char *purpose, const struct config_var *vars, size_t n)
{
    fprintf(out, "%s: %s\n\nConfiguration (environment variables):\n", daemon, purpose);
    for (size_t i = 0; i < n; i++) {
        const struct config_var *v = &vars[i];
        if (v->type == CONFIG_INT)
            fprintf(out, "  %-22s default %-10s [%ld..%ld]  %s\n", v->name, v->def, v->min, v->max, v->help);
        else if (v->type == CONFIG_BOOL)
            fprintf(out, "  %-22s default %-10s [on|off]  %s\n", v->name, v->def, v->help);
        else
            fprintf(out, "  %-22s default %-10s %s\n", v->name, *v->def ? v->def : "(empty)", v->help);
    }
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

void config_init(int argc, char **argv, const char *daemon, const char *purpose,
                 const struct config_var *vars, size_t n)
{
    char err[CONFIG_ERR_LEN];
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            config_print_help(stdout, daemon, purpose, vars, n);
            exit(0);
        }
        fprintf(stderr, "%s: unknown argument '%s' (configuration comes from the environment; see --help)\n",
                daemon, argv[1]);
        exit(1);
    }
    if (config_load(vars, n, env_get, err) != 0) {
        fprintf(stderr, "%s: invalid configuration: %s\n", daemon, err);
        exit(1);
    }
}
