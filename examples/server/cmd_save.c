/*
 * Backups: BGSAVE [SCHEDULE], SAVE, LASTSAVE (saver.h does the work).
 *
 * Where Redis writes an RDB file, kvs-server makes a libkvs backup: a new
 * directory under --backup-dir named by the time (backup-<UTC>), which opens
 * as an ordinary store (kvs-server --dir <it>). SAVE waits for it in the
 * calling worker thread only: other clients, readers and writers go on.
 */
#include <stdio.h>

#include "commands.h"
#include "saver.h"

static void reply_result(struct session *s, enum saver_result r, const char *msg)
{
    switch (r) {
    case SAVER_OK: resp_add_simple(s->out, "OK"); break;
    case SAVER_STARTED: resp_add_simple(s->out, "Background saving started"); break;
    case SAVER_BUSY: resp_add_error(s->out, "ERR Background save already in progress"); break;
    case SAVER_DISABLED:
        resp_add_error(s->out, "ERR no backup directory: start kvs-server with --backup-dir "
                               "PATH to enable SAVE and BGSAVE");
        break;
    case SAVER_SHUTDOWN: resp_add_error(s->out, "ERR kvs-server is shutting down"); break;
    case SAVER_INTERRUPTED:
        resp_add_error(s->out, "ERR kvs-server is shutting down; the backup is still running");
        break;
    case SAVER_FAILED: resp_add_errorf(s->out, "ERR %s", msg); break;
    }
}

void cmd_bgsave(struct session *s, size_t argc, const struct resp_arg *argv)
{
    /* SCHEDULE waits for Redis's other child processes; there are none here */
    if (argc > 2 || (argc == 2 && !arg_is(&argv[1], "schedule"))) {
        reply_syntax_error(s);
        return;
    }
    char msg[256] = "";
    reply_result(s, saver_start(s->srv->saver, msg, sizeof(msg)), msg);
}

void cmd_save(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    (void)argv;
    char msg[256] = "";
    reply_result(s, saver_save(s->srv->saver, msg, sizeof(msg)), msg);
}

void cmd_lastsave(struct session *s, size_t argc, const struct resp_arg *argv)
{
    (void)argc;
    (void)argv;
    struct saver_status st;
    saver_status(s->srv->saver, &st);
    resp_add_int(s->out, (long long)st.last_save);
}
