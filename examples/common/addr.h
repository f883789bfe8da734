/*
 * Socket addresses written as "IP:PORT" or "[IPv6]:PORT".
 *
 * Only numeric addresses (plus the name "localhost", read as 127.0.0.1) are
 * accepted: a server must know exactly which interface it binds, and the
 * loopback-only rule of kvs-server is decided on the address itself.
 */
#ifndef KVS_EXAMPLES_ADDR_H
#define KVS_EXAMPLES_ADDR_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "[" + 45 chars of IPv6 text + "]:" + 5 digits + NUL, rounded up. */
#define ADDR_STR_MAX 64

struct addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int family;                     /* AF_INET or AF_INET6 */
    char host[INET6_ADDRSTRLEN];    /* numeric host without brackets */
    uint16_t port;
};

/*
 * Parse text into a. Port 0 is accepted (bind an ephemeral port); callers
 * that need a real port check it. On failure returns -1 and writes a message
 * naming the problem into err.
 */
int addr_parse(const char *text, struct addr *a, char *err, size_t errlen);

/* Fill a from a socket address (from getsockname, getpeername). Returns 0, or -1 if not IP. */
int addr_from_sockaddr(struct addr *a, const struct sockaddr_storage *ss, socklen_t len);

/* Write "1.2.3.4:80" or "[::1]:80" into out (ADDR_STR_MAX bytes). */
void addr_format(const struct addr *a, char *out, size_t outlen);

/* True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z). */
bool addr_is_loopback(const struct addr *a);

#endif
