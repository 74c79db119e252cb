/* Configuration from environment variables, declared once per daemon as a table. */
#ifndef TASKBUS_CONFIG_H
#define TASKBUS_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CONFIG_ERR_LEN 256

enum config_type { CONFIG_INT, CONFIG_STRING, CONFIG_BOOL };

/* One variable: its name, type, default (as text), bounds for integers, help text, and where the value goes
 * ('long *' for CONFIG_INT, 'const char **' for CONFIG_STRING; strings point into the environment or the default;
 * 'long *' for CONFIG_BOOL, which takes "on" (1) or "off" (0) and ignores the bounds). */
struct config_var {
    const char *name;
    enum config_type type;
    const char *def;
    long min, max;
    const char *help;
    void *dst;
};

/* Read every variable of 'vars' through 'get' (getenv in the daemons; a stub in tests) into its destination.
 * Returns 0, or -1 with a message naming the variable in 'err' (CONFIG_ERR_LEN bytes) on the first invalid value. */
int config_load(const struct config_var *vars, size_t n, const char *(*get)(const char *name), char *err);

/* Print the table: name, default, bounds and help, one variable per line. */
void config_print_help(FILE *out, const char *daemon, const char *purpose, const struct config_var *vars, size_t n);

/* The daemons' shared start-up: '--help' prints the table and exits 0; any other argument or an invalid value
 * prints one line to stderr and exits 1. Returns only when every variable loaded. */
void config_init(int argc, char **argv, const char *daemon, const char *purpose,
                 const struct config_var *vars, size_t n);

#endif
