/* SPDX-License-Identifier: MIT */
/*
 * listen - socket addresses as the configuration writes them:
 * "inet:HOST:PORT" and "unix:/path[:MODE]". One parser for the daemon's
 * listeners, policy.metrics, warn.smtp and the benchmark tools. See
 * listen.h.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "util.h"

/* parse_port - "1".."65535". */
static const char *
parse_port(const char *s)
{
	uint64_t v;

	if (mq_parse_u64(s, &v) < 0 || v < 1 || v > 65535)
		return "PORT must be a number from 1 to 65535";
	return NULL;
}

/*
 * parse_inet - "HOST:PORT" (what follows "inet:"): an IPv4 address, an
 * IPv6 address in brackets, or "*" when allow_any. host_r and port_r may
 * be NULL.
 */
static const char *
parse_inet(const char *s, bool allow_any, char **host_r, char **port_r)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *why;
	struct in6_addr a6;
	struct in_addr a4;
	size_t hlen;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			return "missing ']' after the IPv6 address";
		hlen = (size_t)(end - (s + 1));
		if (hlen == 0 || hlen >= sizeof(host))
			return "bad IPv6 address";
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return "bad IPv6 address";
		colon = end + 1;
		if (*colon != ':')
			return "expected inet:[IPV6]:PORT";
	} else {
		if ((colon = strchr(s, ':')) == NULL)
			return "expected inet:HOST:PORT";
		if (strchr(colon + 1, ':') != NULL)
			return "an IPv6 address goes in brackets, e.g. inet:[::1]:10031";
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(host))
			return "HOST must be an IPv4 address, an IPv6 address in "
			    "brackets or *";
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (strcmp(host, "*") == 0) {
			if (!allow_any)
				return "\"*\" (every address) is only for listening";
		} else if (inet_pton(AF_INET, host, &a4) != 1)
			return "HOST must be an IPv4 address, an IPv6 address in "
			    "brackets or *";
	}
	if ((why = parse_port(colon + 1)) != NULL)
		return why;
	if (host_r != NULL)
		*host_r = xstrdup(host);
	if (port_r != NULL)
		*port_r = xstrdup(colon + 1);
	return NULL;
}

const char *
mq_inet_parse(const char *spec, bool allow_any, char **host_r, char **port_r)
{
	if (strncmp(spec, "inet:", 5) != 0)
		return "expected inet:HOST:PORT";
	return parse_inet(spec + 5, allow_any, host_r, port_r);
}

void
mq_listen_clear(struct mq_listen *l)
{
	free(l->host);
	free(l->port);
	free(l->path);
	free(l->spec);
	memset(l, 0, sizeof(*l));
}

const char *
mq_listen_parse(const char *spec, struct mq_listen *l)
{
	const char *why;

	memset(l, 0, sizeof(*l));
	if (strncmp(spec, "inet:", 5) == 0) {
		l->kind = MQ_LISTEN_INET;
		if ((why = parse_inet(spec + 5, true, &l->host, &l->port)) != NULL)
			return why;
	} else if (strncmp(spec, "unix:", 5) == 0) {
		const char *p = spec + 5, *last = strrchr(p, ':');
		size_t plen = strlen(p);
		struct sockaddr_un sun;
		mode_t mode = 0666;

		/* A trailing ":digits" is the mode. */
		if (last != NULL && strspn(last + 1, "0123456789") ==
		    strlen(last + 1)) {
			const char *m = last + 1;

			if (*m == '\0' || strlen(m) > 6 ||
			    strspn(m, "01234567") != strlen(m))
				return "MODE must be octal, e.g. unix:/path:0660";
			mode = 0;
			for (; *m != '\0'; m++)
				mode = (mode_t)(mode * 8 + (mode_t)(*m - '0'));
			if (mode > 0777)
				return "MODE must be at most 0777";
			plen = (size_t)(last - p);
		}
		if (plen == 0 || p[0] != '/')
			return "a unix socket needs an absolute path";
		if (plen >= sizeof(sun.sun_path))
			return "the unix socket path is too long";
		l->kind = MQ_LISTEN_UNIX;
		l->path = xstrndup(p, plen);
		l->mode = mode;
	} else
		return "expected inet:HOST:PORT or unix:/PATH[:MODE]";
	l->spec = xstrdup(spec);
	return NULL;
}
