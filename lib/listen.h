/* SPDX-License-Identifier: MIT */
/*
 * listen - socket addresses as the configuration writes them.
 */
#ifndef MQ_LISTEN_H
#define MQ_LISTEN_H

#include <stdbool.h>
#include <sys/types.h>

struct mq_listen {
	enum { MQ_LISTEN_INET, MQ_LISTEN_UNIX } kind;
	char *host;		/* inet: "127.0.0.1", "::1", "*" */
	char *port;		/* inet */
	char *path;		/* unix */
	mode_t mode;		/* unix: 0666 unless given */
	char *spec;		/* as written, for messages */
};

/*
 * mq_listen_parse - "inet:HOST:PORT" (HOST an IPv4 address, an IPv6
 * address in brackets, or * for every address) or "unix:/abs/path[:MODE]"
 * into *l, HOST without its brackets. NULL, or why not (a static text).
 * mq_listen_clear frees what it filled in, also after a failure.
 */
const char *mq_listen_parse(const char *spec, struct mq_listen *l);
void mq_listen_clear(struct mq_listen *l);

/*
 * mq_inet_parse - "inet:HOST:PORT" alone; "*" as HOST only with
 * allow_any. Host (brackets removed) and port are allocated when the
 * pointers are not NULL. NULL, or why not.
 */
const char *mq_inet_parse(const char *spec, bool allow_any, char **host_r,
    char **port_r);

#endif
