/* SPDX-License-Identifier: MIT */
/*
 * listener - accepting connections on the bound sockets: the listeners
 * are enabled only below policy.max_connections, paused for a moment when
 * accept(2) fails (out of descriptors), and each inet client address is
 * held to policy.max_connections_per_client.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "util.h"
#include "bind.h"
#include "server_int.h"

#define ACCEPT_PAUSE_MS 250

/* client_bucket - where an address's count lives. */
static struct client **
client_bucket(struct mq_server *srv, const unsigned char *addr, size_t len)
{
	uint64_t h = MQ_FNV1A_INIT;
	struct client **pc;

	for (size_t i = 0; i < len; i++)
		h = mq_fnv1a_byte(h, addr[i]);
	for (pc = &srv->clients[h % CLIENT_BUCKETS]; *pc != NULL; pc = &(*pc)->next)
		if ((*pc)->len == len && memcmp((*pc)->addr, addr, len) == 0)
			break;
	return pc;
}

/*
 * client_take - count one more connection from sa's address; NULL (and
 * nothing counted) when it already has policy.max_connections_per_client.
 * Only inet addresses are counted: *client_r stays NULL for the others.
 */
static bool
client_take(struct mq_server *srv, const struct sockaddr *sa,
    struct client **client_r)
{
	const unsigned char *addr;
	struct client **pc;
	size_t len;

	*client_r = NULL;
	if (sa->sa_family == AF_INET) {
		addr = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		len = 4;
	} else if (sa->sa_family == AF_INET6) {
		addr = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		len = 16;
	} else
		return true;
	pc = client_bucket(srv, addr, len);
	if (*pc == NULL) {
		*pc = xcalloc(1, sizeof(**pc));
		memcpy((*pc)->addr, addr, len);
		(*pc)->len = (unsigned char)len;
	} else if (srv->max_per_client > 0 && (*pc)->n >= (size_t)srv->max_per_client)
		return false;
	(*pc)->n++;
	*client_r = *pc;
	return true;
}

void
mq_client_release(struct mq_server *srv, struct client *cl)
{
	struct client **pc;

	if (cl == NULL || --cl->n > 0)
		return;
	pc = client_bucket(srv, cl->addr, cl->len);
	*pc = cl->next;
	free(cl);
}

void
mq_listeners_update(struct mq_server *srv)
{
	bool want = !srv->stopping && !srv->accept_error_pause &&
	    (srv->max_conns <= 0 || srv->nconns < (size_t)srv->max_conns);
	size_t i;

	if (want == srv->accepting || srv->nlisteners == 0) {
		srv->accepting = want;
		return;
	}
	for (i = 0; i < srv->nlisteners; i++) {
		if (want)
			evconnlistener_enable(srv->listeners[i]->lev);
		else
			evconnlistener_disable(srv->listeners[i]->lev);
	}
	srv->accepting = want;
	if (!want && !srv->stopping && !srv->accept_error_pause) {
		time_t now = time(NULL);

		if (now - srv->limit_logged >= 60) {
			srv->limit_logged = now;
			mq_notice("max_connections (%d) reached: not accepting until one closes",
			    srv->max_conns);
		}
	}
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;
	struct mq_server *srv = l->srv;
	struct client *cl;
	struct conn *c;
	char peer[128];

	if (srv->stopping) {
		close(fd);
		return;
	}
	mq_sockaddr_text(sa, peer, sizeof(peer));
#ifdef SO_PEERCRED
	if (sa->sa_family == AF_UNIX) {
		/* No address on a unix socket: name the client process instead. */
		struct ucred cred;
		socklen_t len = sizeof(cred);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			snprintf(peer, sizeof(peer), "unix:pid=%ld",
			    (long)cred.pid);
	}
#endif
	if (!client_take(srv, sa, &cl)) {
		time_t now = time(NULL);

		srv->st.client_limit++;
		close(fd);
		/* Once a minute at most: a client at its cap keeps trying. */
		if (now - srv->client_limit_logged >= 60) {
			srv->client_limit_logged = now;
			mq_notice("client %s: max_connections_per_client (%d) reached: "
			    "connection closed (%" PRIu64 " so far)", peer,
			    srv->max_per_client, srv->st.client_limit);
		}
		return;
	}
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		int on = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
	if ((c = mq_conn_new(srv, fd, fd, peer, false)) != NULL) {
		c->client = cl;
		mq_debug("client %s: connected on %s", peer, l->spec);
	} else
		mq_client_release(srv, cl);
	mq_listeners_update(srv);
}

void
mq_listeners_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mq_server *srv = arg;

	srv->accept_error_pause = false;
	mq_listeners_update(srv);
}

/* accept_error_cb - out of fds or memory: pause accepting instead of spinning. */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	struct mq_server *srv = l->srv;
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();

	time_t now = time(NULL);

	srv->st.accept_errors++;
	/* Once a minute at most: a descriptor shortage can last. */
	if (now - srv->accept_logged >= 60) {
		srv->accept_logged = now;
		mq_warn("%s: accept: %s; pausing new connections for %d ms (%llu accept errors so far)",
		    l->spec, strerror(err), ACCEPT_PAUSE_MS,
		    (unsigned long long)srv->st.accept_errors);
	}
	srv->accept_error_pause = true;
	mq_listeners_update(srv);
	evtimer_add(srv->accept_timer, &tv);
}

int
mq_server_listen(struct mq_server *srv, int fd, const struct mq_listen *l)
{
	struct listener *li;

	li = xcalloc(1, sizeof(*li));
	li->srv = srv;
	li->lev = evconnlistener_new(srv->base, accept_cb, li,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (li->lev == NULL) {
		mq_error("%s: cannot create the listener", l->spec);
		free(li);
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(li->lev, accept_error_cb);
	li->spec = xstrdup(l->spec);
	if (l->kind == MQ_LISTEN_UNIX)
		li->unix_path = xstrdup(l->path);
	srv->listeners = xreallocarray(srv->listeners, srv->nlisteners + 1,
	    sizeof(*srv->listeners));
	srv->listeners[srv->nlisteners++] = li;
	if (!srv->accepting)
		evconnlistener_disable(li->lev);
	return 0;
}

void
mq_listeners_close(struct mq_server *srv)
{
	size_t i;

	for (i = 0; i < srv->nlisteners; i++) {
		struct listener *l = srv->listeners[i];

		evconnlistener_free(l->lev);
		/*
		 * After dropping privileges this fails where the directory is
		 * not policy.user's: the next start removes the stale socket
		 * (under the path's lock, so never a live one).
		 */
		if (l->unix_path != NULL && unlink(l->unix_path) < 0)
			mq_notice("%s: cannot remove the socket (%s); the next start "
			    "removes it", l->spec, strerror(errno));
		free(l->spec);
		free(l->unix_path);
		free(l);
	}
	free(srv->listeners);
	srv->listeners = NULL;
	srv->nlisteners = 0;
}
