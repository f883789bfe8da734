/* IP:PORT and [IPv6]:PORT parsing; see addr.h. */
#include "addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decimal port 0..65535, digits only. */
static bool parse_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;
    if (*s == '\0' || strlen(s) > 5)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* Split text into host and port strings; host loses its brackets. */
static int split(const char *text, char *host, size_t hostlen, const char **port,
                 char *err, size_t errlen)
{
    const char *colon;
    const char *h = text;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "'%s': expected [IPv6]:PORT", text);
            return -1;
        }
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || strchr(text, ':') != colon) {
            snprintf(err, errlen, colon ? "'%s': write an IPv6 address as [IPv6]:PORT"
                                        : "'%s': expected IP:PORT", text);
            return -1;
        }
        hlen = (size_t)(colon - text);
    }
    if (hlen == 0 || hlen >= hostlen) {
        snprintf(err, errlen, "'%s': missing or overlong host", text);
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = colon + 1;
    return 0;
}

static void addr_set_port(struct addr *a, uint16_t port)
{
    a->port = port;
    if (a->family == AF_INET)
        ((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
    else if (a->family == AF_INET6)
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

int addr_parse(const char *text, struct addr *a, char *err, size_t errlen)
{
    const char *port;
    memset(a, 0, sizeof(*a));
    if (split(text, a->host, sizeof(a->host), &port, err, errlen) != 0)
        return -1;
    if (!parse_port(port, &a->port)) {
        snprintf(err, errlen, "'%s': the port must be a number from 0 to 65535", text);
        return -1;
    }
    if (strcmp(a->host, "localhost") == 0)
        strcpy(a->host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
    if (text[0] != '[' && inet_pton(AF_INET, a->host, &v4->sin_addr) == 1) {
        a->family = v4->sin_family = AF_INET;
        a->len = sizeof(*v4);
    } else if (text[0] == '[' && inet_pton(AF_INET6, a->host, &v6->sin6_addr) == 1) {
        a->family = v6->sin6_family = AF_INET6;
        a->len = sizeof(*v6);
    } else {
        snprintf(err, errlen, "'%s': '%s' is not a numeric %s address", text, a->host,
                 text[0] == '[' ? "IPv6" : "IPv4");
        return -1;
    }
    addr_set_port(a, a->port);
    return 0;
}

int addr_from_sockaddr(struct addr *a, const struct sockaddr_storage *ss, socklen_t len)
{
    memset(a, 0, sizeof(*a));
    const void *ip;
    if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        ip = &((const struct sockaddr_in *)ss)->sin_addr;
        a->port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
    } else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        ip = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        a->port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    } else {
        return -1;
    }
    a->family = ss->ss_family;
    a->len = len;
    memcpy(&a->ss, ss, len);
    return inet_ntop(a->family, ip, a->host, sizeof(a->host)) ? 0 : -1;
}

void addr_format(const struct addr *a, char *out, size_t outlen)
{
    snprintf(out, outlen, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a->host,
             (unsigned)a->port);
}

bool addr_is_loopback(const struct addr *a)
{
    if (a->family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->family == AF_INET6) {
        const struct in6_addr *ip = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(ip))
            return true;
        return IN6_IS_ADDR_V4MAPPED(ip) && ip->s6_addr[12] == 127;
    }
    return false;
}
