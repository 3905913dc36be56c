/*
 * resolvstub — an LD_PRELOAD library for the DNS tests (test_dns.py): before main(), the
 * process's resolver asks only the stub DNS server named by QN_TEST_DNS ("PORT", on
 * 127.0.0.1), so a test decides what DNS answers without the host's DNS.
 *
 * glibc's getaddrinfo() asks the modules of nsswitch.conf, and its DNS module the
 * name servers in the thread's resolver state (_res), which keeps what a program changed
 * (glibc only reloads /etc/resolv.conf into a state that still matches it).  Here:
 * hosts come from DNS alone (__nss_configure_lookup, which also bypasses nscd), from one
 * server, 127.0.0.1:PORT, with no search domains, one try of one second.  No mount
 * namespace, no root and no change to /etc: it works the same on a host, in a chroot and
 * in a container, for the process that preloads it only.  The programs under test have
 * no way to point their resolver elsewhere; this file is never installed.
 *
 * A missing or malformed QN_TEST_DNS aborts: a test must never ask the real DNS by mistake.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* glibc's, declared in its internal nsswitch.h only. */
extern int __nss_configure_lookup(const char *dbname, const char *service_line);

static void __attribute__((noreturn)) refuse(const char *why)
{
    fprintf(stderr, "resolvstub: %s\n", why);
    abort();
}

__attribute__((constructor)) static void use_the_stub_server(void)
{
    const char *port_text = getenv("QN_TEST_DNS");
    char *end = NULL;
    long port;

    if (port_text == NULL || port_text[0] == '\0')
        refuse("QN_TEST_DNS (the stub server's port on 127.0.0.1) is not set");
    port = strtol(port_text, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        refuse("QN_TEST_DNS is not a port number");
    if (__nss_configure_lookup("hosts", "dns") != 0)
        refuse("cannot limit host lookups to DNS");
    if (res_init() != 0)
        refuse("res_init failed");
    memset(&_res.nsaddr_list[0], 0, sizeof(_res.nsaddr_list[0]));
    _res.nsaddr_list[0].sin_family = AF_INET;
    _res.nsaddr_list[0].sin_port = htons((unsigned short)port);
    _res.nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    _res.nscount = 1;
    _res.dnsrch[0] = NULL;
    _res.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
    _res.retrans = 1;
    _res.retry = 1;
}
