/* events --rebuild: replay the event log into the Redis projection (common/projection.h), then exit. */
#ifndef TASKBUS_REBUILD_H
#define TASKBUS_REBUILD_H

/* Read every record of the log at 'mongo_uri' and apply it to the projection in the Redis at 'host':'port', for a
 * retention of 'retention_s' seconds (records older than that are skipped: their tasks would have expired).
 * Applying is idempotent, so a rebuild over a live projection changes nothing that is right. Prints one line
 * "rebuilt records=<read> applied=<n> expired=<n> tasks=<distinct tasks applied>" on stdout. Returns 0, or 1
 * with a message on stderr. With a 'password' (and 'username', or NULL for the default user), AUTH is the first
 * command sent to Redis; a refusal ends the run with Redis's reason, never the password. */
int rebuild_run(const char *mongo_uri, const char *host, int port, const char *username, const char *password,
                long retention_s);

#endif
