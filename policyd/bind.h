/* SPDX-License-Identifier: MIT */
/*
 * bind - the policy daemon's listening sockets, bound before privileges
 * are dropped and before the event loop exists (the listeners take them
 * over later: listener.c). Also binds policy.metrics (metrics.c).
 */
#ifndef MQ_BIND_H
#define MQ_BIND_H

#include <stddef.h>
#include "config.h"

struct sockaddr;

/*
 * mq_listen_bind - bind and listen for one policy.listen entry. inet: one
 * socket per address ("*": IPv4 and IPv6, the latter IPV6_V6ONLY). unix: a
 * stale socket is removed first, the mode applied after bind. Returns 0 with
 * a malloc'ed array of non-blocking close-on-exec fds, or -1 with a message.
 */
int mq_listen_bind(const struct mq_listen *l, int **fds_r, size_t *nfds_r,
    char *error, size_t errlen);

/* mq_sockaddr_text - "192.0.2.1:25", "[2001:db8::1]:25", "unix" or "unknown". */
void mq_sockaddr_text(const struct sockaddr *sa, char *buf, size_t size);

#endif
