/* Turning the result table into text: progress lines, markdown, CSV,
 * ratios against libkvs, the goals, and the chart. */
#ifndef KVS_BENCH_REPORT_H
#define KVS_BENCH_REPORT_H

#include "bench.h"
#include "runner.h"

#include <stdio.h>

/* Row label, with the thread count (multiget: keys per call) filled in. */
void bench_metric_label(const bench_config_t *cfg, bench_metric_t m, char *buf, size_t len);
/* ops per second, or 0 when the result is not a successful throughput. */
double bench_ops_per_sec(const bench_result_t *r);
/* How many times better libkvs is than a peer on one metric (NAN if unknown):
 * throughput libkvs / peer; time, space and memory peer / libkvs. */
double bench_kvs_advantage(const bench_table_t *t, int peer, bench_metric_t m);

void bench_report_progress(const bench_config_t *cfg, const bench_result_t *r);
void bench_report_markdown(const bench_config_t *cfg, const bench_table_t *t, const char *cmdline,
                           FILE *f);
int bench_report_csv(const bench_config_t *cfg, const bench_table_t *t, const char *path);
/* Writes the PNG with gnuplot; -1 if gnuplot is missing or failed. */
int bench_report_chart(const bench_config_t *cfg, const bench_table_t *t, const char *path);



/* Internal to the report files. */
void bench_format_cell(const bench_config_t *cfg, const bench_result_t *r, char *buf, size_t len);
void bench_format_ops(double ops_per_sec, char *buf, size_t len);
void bench_report_goals(const bench_config_t *cfg, const bench_table_t *t, FILE *f);
#endif
