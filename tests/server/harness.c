/* Test harness for kvs-server and kvs-client; see harness.h. */
#include "harness.h"

#include "../common/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRACKED 32

static char *tmpdirs[MAX_TRACKED];
static int ntmpdirs;
static pid_t servers[MAX_TRACKED];
static int nservers;
static pid_t cleanup_owner;

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Kill what this process started and remove its directories (also after a failed check). */
static void cleanup(void)
{
    if (getpid() != cleanup_owner)
        return; /* a forked child must not clean its parent's things */
    for (int i = 0; i < nservers; i++) {
        if (servers[i] > 0 && kill(servers[i], SIGKILL) == 0)
            waitpid(servers[i], NULL, 0);
    }
    nservers = 0;
    for (int i = 0; i < ntmpdirs; i++)
        tu_rmdir(tmpdirs[i]); /* frees it */
    ntmpdirs = 0;
}

static void arm_cleanup(void)
{
    if (cleanup_owner != getpid()) {
        cleanup_owner = getpid();
        nservers = 0;
        ntmpdirs = 0;
        atexit(cleanup);
    }
}

int harness_run(Suite *s)
{
    signal(SIGPIPE, SIG_IGN); /* a server closing on us must fail a check, not kill the test */
    return tu_run(s);
}

const char *harness_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

const char *harness_which(const char *prog)
{
    static char found[1024];
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(found, sizeof(found), "%.*s/%s", (int)n, path, prog);
        if (n && access(found, X_OK) == 0)
            return found;
        path += n + (path[n] == ':');
    }
    return NULL;
}

const char *harness_tmpdir(void)
{
    arm_cleanup();
    if (ntmpdirs == MAX_TRACKED)
        return NULL;
    char *dir = tu_tmpdir();
    if (dir)
        tmpdirs[ntmpdirs++] = dir;
    return dir;
}

/* Child side of a spawn: die with the parent, redirect, exec. */
static void exec_child(const char *const *argv, int in_fd, int out_fd, int err_fd, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    signal(SIGPIPE, SIG_DFL);
    if (in_fd >= 0)
        dup2(in_fd, 0);
    if (out_fd >= 0)
        dup2(out_fd, 1);
    if (err_fd >= 0)
        dup2(err_fd, 2);
    execv(argv[0], (char *const *)argv);
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static pid_t spawn(const char *const *argv, int in_fd, int out_fd, int err_fd)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        exec_child(argv, in_fd, out_fd, err_fd, parent);
    return pid;
}

static void untrack(pid_t pid);

static void print_log(const struct server_proc *sp)
{
    char *log = server_log(sp);
    fprintf(stderr, "---- kvs-server stderr ----\n%s---- end ----\n", log ? log : "");
    free(log);
}

/* Wait (bounded) for the port file of a starting server. */
static int wait_port_file(struct server_proc *sp, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    while (now_ms() < end) {
        FILE *f = fopen(sp->port_file, "r");
        unsigned port = 0;
        if (f) {
            int ok = fscanf(f, "%u", &port) == 1;
            fclose(f);
            if (ok && port > 0 && port < 65536) {
                sp->port = (uint16_t)port;
                return 0;
            }
        }
        if (waitpid(sp->pid, NULL, WNOHANG) == sp->pid) {
            untrack(sp->pid);
            sp->pid = 0;
            return -1;
        }
        usleep(5000);
    }
    return -1;
}

pid_t proc_start(const char *const *argv, const char *log_path)
{
    arm_cleanup();
    if (nservers == MAX_TRACKED)
        return -1;
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = spawn(argv, null_fd, null_fd, log_fd);
    close(log_fd);
    close(null_fd);
    if (pid > 0)
        servers[nservers++] = pid;
    return pid;
}

static void untrack(pid_t pid)
{
    for (int i = 0; i < nservers; i++)
        if (servers[i] == pid)
            servers[i] = 0;
}

int proc_stop(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    if (sig)
        kill(pid, sig);
    long long end = now_ms() + timeout_ms;
    int st, status = -1;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (now_ms() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        usleep(5000);
    }
    untrack(pid);
    return status;
}

int server_start(struct server_proc *sp, const char *dir, const char *const *extra)
{
    const char *bin = harness_env("KVS_SERVER");
    const char *run = harness_tmpdir();
    if (!bin || !run)
        return -1;
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)sp->port);
    snprintf(sp->dir, sizeof(sp->dir), "%s", dir);
    snprintf(sp->port_file, sizeof(sp->port_file), "%s/port", run);
    snprintf(sp->log_path, sizeof(sp->log_path), "%s/stderr", run);
    const char *argv[64] = {bin, "--addr", addr, "--dir", sp->dir, "--port-file", sp->port_file};
    int argc = 7;
    for (int i = 0; extra && extra[i] && argc < 63; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    sp->pid = proc_start(argv, sp->log_path);
    if (sp->pid < 0)
        return -1;
    if (wait_port_file(sp, 10000) != 0) {
        print_log(sp);
        proc_stop(sp->pid, SIGKILL, 5000);
        sp->pid = 0;
        return -1;
    }
    return 0;
}

int server_wait(struct server_proc *sp, int timeout_ms)
{
    int status = proc_stop(sp->pid, 0, timeout_ms);
    sp->pid = 0;
    return status;
}

int server_stop(struct server_proc *sp, int sig, int timeout_ms)
{
    if (sp->pid <= 0)
        return -1;
    int status = proc_stop(sp->pid, sig, timeout_ms);
    if (status < 0) {
        fprintf(stderr, "server %d did not stop within %d ms; killed\n", (int)sp->pid, timeout_ms);
        print_log(sp);
    }
    sp->pid = 0;
    return status;
}

char *server_log(const struct server_proc *sp)
{
    FILE *f = fopen(sp->log_path, "r");
    if (!f)
        return strdup("");
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return text;
}

int proc_socket_count(pid_t pid)
{
    char path[64], link[600], target[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        n += len > 7 && strncmp(target, "socket:", 7) == 0;
    }
    closedir(d);
    return n;
}

long proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Collect a child's stdout and stderr until both close or the deadline passes. */
static int collect(int out_fd, int err_fd, long long end, struct run_result *res)
{
    FILE *outs = open_memstream(&res->out, &res->out_len);
    FILE *errs = open_memstream(&res->err, &res->err_len);
    struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    int open_fds = 2, rc = 0;
    while (open_fds > 0) {
        long long left = end - now_ms();
        if (left <= 0) {
            rc = -1;
            break;
        }
        if (poll(p, 2, (int)left) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t n = read(p[i].fd, chunk, sizeof(chunk));
            if (n > 0) {
                fwrite(chunk, 1, (size_t)n, i == 0 ? outs : errs);
            } else {
                p[i].fd = -1;
                open_fds--;
            }
        }
    }
    fclose(outs);
    fclose(errs);
    return rc;
}

int run_prog(const char *const *argv, const char *input, size_t input_len, int timeout_ms,
             struct run_result *res)
{
    memset(res, 0, sizeof(*res));
    int out[2], err[2], in[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(in, O_CLOEXEC))
        return -1;
    long long start = now_ms();
    pid_t pid = spawn(argv, in[0], out[1], err[1]);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (input && input_len && write(in[1], input, input_len) < 0)
        perror("writing the child's stdin");
    close(in[1]);
    int timed_out = collect(out[0], err[0], start + timeout_ms, res);
    close(out[0]);
    close(err[0]);
    int st = 0;
    if (timed_out)
        kill(pid, SIGKILL);
    long long end = start + timeout_ms + 2000;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            timed_out = 1;
            break;
        }
        usleep(2000);
    }
    res->elapsed_ms = (long)(now_ms() - start);
    res->status = timed_out ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

void run_result_free(struct run_result *res)
{
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}

int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t recv_exact(int fd, char *buf, size_t want, int timeout_ms)
{
    size_t got = 0;
    long long end = now_ms() + timeout_ms;
    while (got < want) {
        long long left = end - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = recv(fd, buf + got, want - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

bool wait_closed(int fd, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    char sink[4096];
    for (;;) {
        long long left = end - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t n = recv(fd, sink, sizeof(sink), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return true;
    }
}

uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

uint64_t test_seed(void)
{
    return tu_seed();
}

uint64_t test_rand(void)
{
    static uint64_t state;
    static bool seeded;
    if (!seeded) {
        state = tu_seed();
        seeded = true;
    }
    return tu_rand(&state);
}
