/* The kvs-server command line. */
#ifndef KVS_SERVER_OPTIONS_H
#define KVS_SERVER_OPTIONS_H

#include "server.h"

enum options_result {
    OPTIONS_RUN = 0,   /* cfg is filled in: start the server */
    OPTIONS_EXIT = 1,  /* --help or --version was printed: exit 0 */
    OPTIONS_USAGE = 2  /* a message went to stderr: exit 2 */
};

/* Parse argv into cfg (defaults first). Messages go to stdout (help) or stderr. */
enum options_result options_parse(int argc, char **argv, struct server_config *cfg);

#endif
