/*
 * Test harness for kvs-server and kvs-client: temporary directories, a
 * server process on a free port, running a program with a time limit and
 * capturing its output, raw sockets with timeouts.
 *
 * Every wait is bounded. Servers are stopped by PID; if a test dies, the
 * servers it started die too (PR_SET_PDEATHSIG) and an atexit handler
 * removes its temporary directories.
 */
#ifndef KVS_TESTS_SERVER_HARNESS_H
#define KVS_TESTS_SERVER_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit status meson reads as "skipped". */
#define HARNESS_SKIP 77

/* Run a suite with tests/common's tu_run(), SIGPIPE ignored; returns the exit status. */
int harness_run(Suite *s);

/* Path of a program under test from the environment (KVS_SERVER, KVS_CLIENT). */
const char *harness_env(const char *name);

/* Full path of a program found in PATH, or NULL. Static storage. */
const char *harness_which(const char *prog);

/* A fresh temporary directory, removed (recursively) at exit. Static storage per call. */
const char *harness_tmpdir(void);

/*
 * Start argv (argv[0] a path) in the background, stdout to /dev/null and
 * stderr to log_path; it is killed if the test process dies. Returns its PID or -1.
 */
pid_t proc_start(const char *const *argv, const char *log_path);

/*
 * Send sig (0: none, just wait) and wait up to timeout_ms for the exit.
 * Returns the exit status (128+signal if killed by one), or -1 on timeout,
 * in which case the process is killed with SIGKILL and reaped.
 */
int proc_stop(pid_t pid, int sig, int timeout_ms);

struct server_proc {
    pid_t pid;
    uint16_t port;
    char dir[512];       /* --dir */
    char port_file[600];
    char log_path[600];  /* the server's stderr */
};

/*
 * Start kvs-server on 127.0.0.1 (port 0 unless sp->port is set beforehand)
 * with --dir dir and the NULL-terminated extra arguments, and wait (10 s at
 * most) until it has written its port file. Returns 0, or -1 (with the
 * server's stderr printed) if it exited or timed out.
 */
int server_start(struct server_proc *sp, const char *dir, const char *const *extra);

/* Wait up to timeout_ms for the server to exit by itself. Returns as server_stop(). */
int server_wait(struct server_proc *sp, int timeout_ms);

/* Send sig and wait up to timeout_ms. Returns the exit status (128+signal if killed), or -1. */
int server_stop(struct server_proc *sp, int sig, int timeout_ms);

/* The server's stderr so far (malloc'd, NUL-terminated). */
char *server_log(const struct server_proc *sp);

/* Count of open sockets of a process, from /proc; -1 on error. (Sockets
 * only: the store may open and close its own files at any time.) */
int proc_socket_count(pid_t pid);

/* Resident memory of a process in KiB, from /proc; -1 on error. */
long proc_rss_kib(pid_t pid);

struct run_result {
    int status;     /* exit status; 128+signal if killed; -1 on timeout */
    char *out;      /* stdout, NUL-terminated (malloc'd) */
    size_t out_len;
    char *err;      /* stderr */
    size_t err_len;
    long elapsed_ms;
};

/* Run argv (argv[0] a path) with stdin from /dev/null or from input, within timeout_ms. */
int run_prog(const char *const *argv, const char *input, size_t input_len, int timeout_ms,
             struct run_result *res);
void run_result_free(struct run_result *res);

/* A TCP connection to 127.0.0.1:port with 5 s send/receive timeouts; -1 on failure. */
int tcp_connect(uint16_t port);

/* Send all of buf (bounded by the socket timeout). Returns 0 or -1. */
int send_all(int fd, const void *buf, size_t len);

/*
 * Read until exactly want bytes arrived, EOF, or timeout_ms passed.
 * Returns bytes read (buf is NUL-terminated, so size it want + 1).
 */
size_t recv_exact(int fd, char *buf, size_t want, int timeout_ms);

/* Wait up to timeout_ms for the peer to close: true if EOF (or reset) was seen. */
bool wait_closed(int fd, int timeout_ms);

/* A port on 127.0.0.1 that was free a moment ago (bind port 0, close). */
uint16_t free_port(void);

/* Milliseconds on a monotonic clock. */
long long now_ms(void);

/* Deterministic pseudo-random numbers from tests/common (tu_rand), seeded
 * with tu_seed(): KVS_TEST_SEED or the time, printed so a failure replays. */
uint64_t test_rand(void);
uint64_t test_seed(void);

#endif
