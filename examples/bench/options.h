/* Command line of kvs-bench. */
#ifndef KVS_BENCH_OPTIONS_H
#define KVS_BENCH_OPTIONS_H

#include "bench.h"

/* Fills cfg from argv. Returns 0 to run, 1 when the program should exit 0
 * (--help, --list), -1 on a usage error (already reported). */
int bench_options_parse(int argc, char **argv, bench_config_t *cfg);

#endif
