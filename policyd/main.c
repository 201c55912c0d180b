/* SPDX-License-Identifier: MIT */
/*
 * mailquota-policyd - the Postfix policy daemon: options, start-up order,
 * signals, privileges. The work is in server.c and its files (listeners,
 * connections, the decision line: server_int.h), workers.c (the thread
 * pool) and the quota engine. main() is the start-up order below, a
 * function a step.
 *
 * Start-up order, and why:
 *   1. read the configuration (exit 78 with the loader's message);
 *   2. bind every policy.listen address and policy.metrics (may need
 *      root: low ports, socket directories);
 *   3. drop to policy.user (before any database connection is made; not
 *      with -s, where spawn(8) has chosen the user already);
 *   4. without -f, become a daemon (fork, setsid, chdir /, stdio to
 *      /dev/null), before any thread exists;
 *   5. create the event base (threads enabled), the engine, the workers.
 *
 * Signals are libevent signal events, handled on the loop thread:
 * SIGHUP reloads, SIGTERM/SIGINT stop (a second one forces), SIGUSR1 logs
 * counters.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "util.h"
#include "metrics.h"
#include "bind.h"
#include "server.h"
#include "workers.h"

#define PROG "mailquota-policyd"

static const int signums[] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1 };

struct main_ctx {
	const char *path;		/* the configuration file */
	char *abspath;			/* path made absolute, for SIGHUP after chdir */
	bool foreground, debug, stdio, test;
	struct event_base *base;
	struct mq_server *srv;
	unsigned generation;
	/* bound before privileges drop, served once the loop exists */
	int **fds;			/* per policy.listen entry */
	size_t *nfds;
	int *mfds;			/* policy.metrics */
	size_t nmfds;
	struct mq_metrics_http *metrics;
	struct event *sigs[MQ_NELEM(signums)];
};

static void MQ_NORETURN
usage(FILE *out, int code)
{
	fprintf(out,
	    "usage: " PROG " [-c FILE] [-f] [-t] [-s] [-d] [-h] [-V]\n"
	    "  -c FILE  configuration file (default: %s)\n"
	    "  -f  stay in the foreground, log to stderr as well as syslog\n"
	    "  -t  check the configuration (and the database connection) and exit 0/1\n"
	    "  -s  serve one connection on stdin/stdout (for a master.cf spawn(8) entry)\n"
	    "  -d  debug logging\n"
	    "  -h  show this help\n"
	    "  -V  show the version\n",
	    mq_config_default_path());
	exit(code);
}

/* log_setup - logging as the configuration and the options say. */
static void
log_setup(const struct mq_config *cfg, bool debug, bool to_stderr,
    bool to_syslog)
{
	enum mq_log_level level = debug ? MQ_LOG_DEBUG :
	    (enum mq_log_level)cfg->log.level;

	mq_log_open(PROG, cfg->log.facility, level, to_stderr, to_syslog);
}

/*
 * root_refused - in the background as root, policy.user must be set: a
 * daemon left as root by mistake reads Maildirs with whatever rights the
 * service manager left root (none, under the shipped unit), and answers
 * 451 for every local recipient. "root" written out is taken as meant.
 * With -f only the warning of drop_privileges is given, unless stderr is
 * systemd's journal: a service, not a test by hand (the shipped unit runs
 * the daemon with -f).
 */
static bool
root_refused(const struct mq_config *cfg, bool background)
{
	if (!background || geteuid() != 0)
		return false;
	return cfg->policy.user == NULL || cfg->policy.user[0] == '\0';
}

/*
 * drop_privileges - become policy.user (supplementary groups, gid, uid,
 * then check that root cannot come back). 0, or a sysexits(3) code with a
 * message: EX_NOUSER for a user that does not exist, EX_OSERR otherwise.
 */
static int
drop_privileges(const char *user, char *error, size_t errlen)
{
	struct passwd *pw;
	uid_t uid, ruid, euid, suid;
	gid_t gid, rgid, egid, sgid;

	if (user == NULL || user[0] == '\0') {
		if (geteuid() == 0)
			mq_warn("running as root: set policy.user (e.g. \"vmail\") to drop privileges");
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(error, errlen, "policy.user: no such user \"%s\"%s%s",
		    user, errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return EX_NOUSER;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (geteuid() != 0) {
		if (geteuid() != uid)
			mq_warn("not running as root: cannot become policy.user \"%s\"; staying uid %u",
			    user, (unsigned)geteuid());
		return 0;
	}
	if (initgroups(pw->pw_name, gid) < 0) {
		snprintf(error, errlen, "initgroups(%s): %s", user, strerror(errno));
		return EX_OSERR;
	}
	if (setresgid(gid, gid, gid) < 0) {
		snprintf(error, errlen, "setresgid(%u): %s", (unsigned)gid,
		    strerror(errno));
		return EX_OSERR;
	}
	if (setresuid(uid, uid, uid) < 0) {
		snprintf(error, errlen, "setresuid(%u): %s", (unsigned)uid,
		    strerror(errno));
		return EX_OSERR;
	}
	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0 ||
	    ruid != uid || euid != uid || suid != uid ||
	    rgid != gid || egid != gid || sgid != gid ||
	    (uid != 0 && setuid(0) == 0)) {
		snprintf(error, errlen, "could not drop privileges to %s", user);
		return EX_OSERR;
	}
	mq_debug("running as %s (uid %u, gid %u)", user, (unsigned)uid,
	    (unsigned)gid);
	return 0;
}

/* daemonize - detach from the terminal; the parent exits 0. */
static void
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) < 0)
		mq_fatal(EX_OSERR, "fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		mq_fatal(EX_OSERR, "setsid: %s", strerror(errno));
	/* A second fork: not a session leader, so no terminal can come back. */
	if ((pid = fork()) < 0)
		mq_fatal(EX_OSERR, "fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		mq_fatal(EX_OSERR, "chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) < 0)
		mq_fatal(EX_OSERR, "/dev/null: %s", strerror(errno));
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

#define MAILDIR_SAMPLE 20	/* Maildirs -t tries to read */

/* who - "user \"NAME\" (uid N)" or "uid N" for messages. */
static void
who(char *buf, size_t size, const struct mq_config *cfg)
{
	if (cfg->policy.user != NULL && cfg->policy.user[0] != '\0')
		snprintf(buf, size, "policy.user \"%s\" (uid %u)", cfg->policy.user,
		    (unsigned)geteuid());
	else
		snprintf(buf, size, "uid %u", (unsigned)geteuid());
}

/*
 * sample_dirs - up to *left directories depth levels below dir (names not
 * starting with '.'), each opened as the daemon would: the directory, its
 * cur/, its maildirsize when there is one. Unreadable ones are printed.
 * Returns how many could not be read.
 */
static int
sample_dirs(const char *dir, int depth, int *left, const char *as)
{
	struct dirent *de;
	DIR *d;
	int bad = 0;

	if (depth == 0) {
		char path[PATH_MAX];
		int fd, sub;

		(*left)--;
		if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			fprintf(stderr, PROG ": %s: cannot read %s: %s\n", as, dir,
			    strerror(errno));
			return 1;
		}
		/* A missing cur/ or maildirsize is the daemon's business, not -t's. */
		for (size_t i = 0; i < 2; i++) {
			static const char *const names[] = { "cur", "maildirsize" };
			static const int flags[] = { O_DIRECTORY, O_NOFOLLOW | O_NONBLOCK };

			sub = openat(fd, names[i], O_RDONLY | O_CLOEXEC | flags[i]);
			if (sub >= 0) {
				close(sub);
			} else if (errno == EACCES) {
				snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
				fprintf(stderr, PROG ": %s: cannot read %s: %s\n", as,
				    path, strerror(errno));
				bad = 1;
			}
		}
		close(fd);
		return bad;
	}
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, PROG ": %s: cannot read %s: %s\n", as, dir,
		    strerror(errno));
		(*left)--;
		return 1;
	}
	while (*left > 0 && (de = readdir(d)) != NULL) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.' ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name) >= sizeof(path))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;

			if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
				continue;
		}
		bad += sample_dirs(path, depth - 1, left, as);
	}
	closedir(d);
	return bad;
}

/*
 * check_maildirs - -t, after the privileges are dropped: maildir.base and
 * a sample of the Maildirs below it (as deep as maildir.path goes) must be
 * readable by the user the daemon runs as. 0, or -1 with each unreadable
 * path named on stderr.
 */
static int
check_maildirs(const struct mq_config *cfg)
{
	const char *p;
	char as[128];
	int depth = 1, left = MAILDIR_SAMPLE, bad;

	who(as, sizeof(as), cfg);
	for (p = cfg->maildir.path; *p != '\0'; p++)
		if (*p == '/' && p[1] != '\0')
			depth++;
	if (access(cfg->maildir.base, R_OK | X_OK) < 0) {
		fprintf(stderr, PROG ": %s: cannot read maildir.base %s: %s\n", as,
		    cfg->maildir.base, strerror(errno));
		return -1;
	}
	bad = sample_dirs(cfg->maildir.base, depth, &left, as);
	if (bad > 0) {
		fprintf(stderr, PROG ": %s cannot read %d of %d Maildir(s) tried "
		    "below %s: set policy.user to their owner (e.g. \"vmail\")\n",
		    as, bad, MAILDIR_SAMPLE - left, cfg->maildir.base);
		return -1;
	}
	return 0;
}

/* test_config - -t: load, connect, run every query once, read some Maildirs. */
static int
test_config(struct mq_config *cfg, bool debug)
{
	struct mq_engine *engine;
	struct mq_session *session;
	char error[1024] = "";
	int rc, mrc;

	log_setup(cfg, debug, true, false);
	if (root_refused(cfg, true))
		mq_warn("running as root without policy.user: the daemon would refuse "
		    "to start in the background (set policy.user, e.g. \"vmail\")");
	if (drop_privileges(cfg->policy.user, error, sizeof(error)) != 0) {
		fprintf(stderr, PROG ": %s\n", error);
		mq_config_free(&cfg);
		return 1;
	}
	mrc = check_maildirs(cfg);
	engine = mq_engine_new(cfg);
	session = engine != NULL ? mq_session_new(engine) : NULL;
	if (session == NULL) {
		fprintf(stderr, PROG ": cannot set up the quota engine\n");
		rc = -1;
	} else if ((rc = mq_session_test(session, error, sizeof(error))) != 0)
		fprintf(stderr, PROG ": %s: %s\n", cfg->file != NULL ?
		    cfg->file : "configuration", error[0] != '\0' ? error :
		    "database test failed");
	else if (mrc == 0)
		printf("configuration OK\n");
	mq_session_free(&session);
	mq_engine_free(&engine);
	mq_config_free(&cfg);
	return rc == 0 && mrc == 0 ? 0 : 1;
}

static bool
same_listen(const struct mq_config *a, const struct mq_config *b)
{
	size_t i;

	if (a->policy.nlisten != b->policy.nlisten)
		return false;
	for (i = 0; i < a->policy.nlisten; i++)
		if (strcmp(a->policy.listen[i].spec, b->policy.listen[i].spec) != 0 ||
		    a->policy.listen[i].mode != b->policy.listen[i].mode)
			return false;
	return true;
}

static const char *
str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* reload - SIGHUP: a new configuration and engine for new requests. */
static void
reload(struct main_ctx *m)
{
	const struct mq_config *old = mq_server_config(m->srv);
	struct mq_config *cfg;
	struct mq_runtime *rt;
	char *error = NULL;

	if (mq_config_reload(m->path, old, &cfg, &error) != 0) {
		mq_error("reload: %s; keeping the current configuration",
		    error != NULL ? error : m->path);
		free(error);
		return;
	}
	if (!same_listen(old, cfg))
		mq_notice("reload: policy.listen changed; the new addresses take effect at the next restart");
	if (strcmp(str_or_empty(old->policy.user), str_or_empty(cfg->policy.user)) != 0)
		mq_notice("reload: policy.user changed; it takes effect at the next restart");
	if (strcmp(str_or_empty(old->policy.metrics), str_or_empty(cfg->policy.metrics)) != 0)
		mq_notice("reload: policy.metrics changed; it takes effect at the next restart");
	if (old->policy.workers != cfg->policy.workers)
		mq_notice("reload: database.connections changed; the number of worker threads changes at the next restart");
	log_setup(cfg, m->debug, m->foreground, true);

	rt = mq_runtime_new(cfg, ++m->generation);
	mq_server_reload(m->srv, rt);
	mq_runtime_unref(&rt);
	mq_info("configuration reloaded from %s (generation %u)", m->path,
	    m->generation);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct main_ctx *m = arg;
	static bool stopping;

	switch (sig) {
	case SIGHUP:
		reload(m);
		break;
	case SIGUSR1:
		mq_server_log_stats(m->srv);
		break;
	case SIGTERM:
	case SIGINT:
		if (stopping) {
			mq_warn("%s again: exiting now", strsignal((int)sig));
			mq_log_async_stop();
			_exit(0);
		}
		stopping = true;
		mq_info("%s: stopping", strsignal((int)sig));
		mq_server_shutdown(m->srv);
		break;
	}
}

/* open_listeners - bind every policy.listen entry, or exit. */
static void
open_listeners(const struct mq_config *cfg, int ***fds_r, size_t **nfds_r)
{
	char error[512];
	size_t i;

	*fds_r = xcalloc(cfg->policy.nlisten, sizeof(**fds_r));
	*nfds_r = xcalloc(cfg->policy.nlisten, sizeof(**nfds_r));
	if (cfg->policy.nlisten == 0)
		mq_fatal(EX_CONFIG, "%s: policy.listen: no address to listen on",
		    str_or_empty(cfg->file));
	for (i = 0; i < cfg->policy.nlisten; i++)
		if (mq_listen_bind(&cfg->policy.listen[i], &(*fds_r)[i],
		    &(*nfds_r)[i], error, sizeof(error)) < 0)
			mq_fatal(EX_OSERR, "%s", error);
}

/* metrics_view - a scrape of /metrics, on the loop thread. */
static void
metrics_view(void *arg, struct mq_metrics_view *v)
{
	struct main_ctx *m = arg;

	mq_server_metrics(m->srv, v);
}

/* pollable - whether epoll can surely watch fd (a socket or a pipe). */
static bool
pollable(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 &&
	    (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode));
}

/*
 * hold_signals - block (true) or release the signals the loop handles. A
 * client can connect as soon as the sockets are bound, well before the
 * loop's handlers exist; a SIGHUP or SIGUSR1 sent then would kill the
 * daemon. Held, it waits and is handled once the loop is there. Threads
 * started meanwhile inherit the mask: signals stay the loop thread's.
 */
static void
hold_signals(bool hold)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < MQ_NELEM(signums); i++)
		sigaddset(&set, signums[i]);
	pthread_sigmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* parse_options - the command line into m; exits on -h, -V and errors. */
static void
parse_options(struct main_ctx *m, int argc, char **argv)
{
	int ch;

	m->path = mq_config_default_path();
	while ((ch = getopt(argc, argv, "c:dfhstV")) != -1) {
		switch (ch) {
		case 'c':
			m->path = optarg;
			break;
		case 'd':
			m->debug = true;
			break;
		case 'f':
			m->foreground = true;
			break;
		case 'h':
			usage(stdout, 0);
		case 's':
			m->stdio = true;
			break;
		case 't':
			m->test = true;
			break;
		case 'V':
			printf(PROG " %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			usage(stderr, EX_USAGE);
		}
	}
	if (optind != argc)
		usage(stderr, EX_USAGE);
}

/*
 * claim_privileged - what may need root (start-up steps 2 and 3): bind the
 * listeners and policy.metrics, then drop to policy.user. Not with -s,
 * where spawn(8) has chosen the user already. Exits on failure.
 */
static void
claim_privileged(struct main_ctx *m, const struct mq_config *cfg)
{
	char msg[512];
	int rc;

	if (root_refused(cfg, (!m->foreground || mq_log_stderr_is_journal()) &&
	    !m->stdio))
		mq_fatal(EX_CONFIG, "%s: running as root without policy.user: set "
		    "policy.user to the owner of the Maildirs (e.g. \"vmail\"), or "
		    "policy.user = \"root\" to run as root on purpose (-f started "
		    "by hand only warns)",
		    str_or_empty(cfg->file));
	if (m->stdio)
		return;
	open_listeners(cfg, &m->fds, &m->nfds);
	if (cfg->policy.metrics != NULL && cfg->policy.metrics[0] != '\0' &&
	    mq_metrics_bind(cfg->policy.metrics, &m->mfds, &m->nmfds, msg,
	    sizeof(msg)) < 0)
		mq_fatal(EX_OSERR, "policy.metrics: %s", msg);
	if ((rc = drop_privileges(cfg->policy.user, msg, sizeof(msg))) != 0)
		mq_fatal(rc, "%s", msg);
}

/* make_event_base - the logging thread, then the loop (threads enabled). */
static void
make_event_base(struct main_ctx *m)
{
	struct event_config *ecfg;

	/* From here on the event loop only queues its log lines. */
	if (mq_log_async_start() < 0)
		mq_warn("cannot start the logging thread: logging directly");
	if (evthread_use_pthreads() < 0)
		mq_fatal(EX_SOFTWARE, "libevent: no thread support");
	if ((ecfg = event_config_new()) == NULL)
		mq_fatal(EX_OSERR, "libevent: out of memory");
	/* epoll cannot watch a regular file or /dev/null given as -s input. */
	if (m->stdio && (!pollable(STDIN_FILENO) || !pollable(STDOUT_FILENO)))
		event_config_avoid_method(ecfg, "epoll");
	if ((m->base = event_base_new_with_config(ecfg)) == NULL)
		mq_fatal(EX_OSERR, "libevent: cannot create the event loop");
	event_config_free(ecfg);
}

/* serve_bound - hand the sockets bound at start-up to the server and evhttp. */
static void
serve_bound(struct main_ctx *m, const struct mq_config *cfg)
{
	size_t i, j;

	for (i = 0; i < cfg->policy.nlisten; i++) {
		for (j = 0; j < m->nfds[i]; j++)
			if (mq_server_listen(m->srv, m->fds[i][j],
			    &cfg->policy.listen[i]) < 0)
				mq_fatal(EX_OSERR, "%s: cannot listen",
				    cfg->policy.listen[i].spec);
		free(m->fds[i]);
	}
	free(m->fds);
	free(m->nfds);
	m->fds = NULL;
	m->nfds = NULL;
	if (m->nmfds > 0 && (m->metrics = mq_metrics_http_new(m->base, m->mfds,
	    m->nmfds, metrics_view, m)) == NULL)
		mq_fatal(EX_OSERR, "policy.metrics: cannot set up HTTP");
	free(m->mfds);
	m->mfds = NULL;
}

/* start_server - the runtime (which takes cfg), the server, what it serves, the signals. */
static void
start_server(struct main_ctx *m, struct mq_config *cfg)
{
	struct mq_runtime *rt;
	size_t i;

	m->generation = 1;
	rt = mq_runtime_new(cfg, m->generation);
	m->srv = mq_server_new(m->base, rt);
	mq_runtime_unref(&rt);
	if (m->stdio) {
		if (mq_server_serve_stdio(m->srv, STDIN_FILENO, STDOUT_FILENO) < 0)
			mq_fatal(EX_OSERR, "cannot serve stdin/stdout");
	} else
		serve_bound(m, cfg);
	for (i = 0; i < MQ_NELEM(signums); i++) {
		m->sigs[i] = evsignal_new(m->base, signums[i], signal_cb, m);
		if (m->sigs[i] == NULL || evsignal_add(m->sigs[i], NULL) < 0)
			mq_fatal(EX_OSERR, "cannot handle signal %d", signums[i]);
	}
	hold_signals(false);
	if (m->stdio)
		mq_debug("serving one connection on stdin/stdout");
	else
		mq_info("started, version %s, %zu listener(s), %d worker(s)",
		    PACKAGE_VERSION, cfg->policy.nlisten, cfg->policy.workers);
}

/* stop_server - after the loop: free everything, unless the stop was forced. */
static void
stop_server(struct main_ctx *m)
{
	size_t i;

	if (mq_server_forced(m->srv)) {
		mq_log_async_stop();
		_exit(0);	/* workers may be stuck in the database: do not join */
	}
	mq_metrics_http_free(&m->metrics);
	mq_server_free(&m->srv);
	for (i = 0; i < MQ_NELEM(signums); i++)
		event_free(m->sigs[i]);
	event_base_free(m->base);
	if (!m->stdio)
		mq_info("stopped");
	mq_log_async_stop();
	free(m->abspath);
}

int
main(int argc, char **argv)
{
	struct main_ctx m;
	struct mq_config *cfg = NULL;
	char *error = NULL;

	memset(&m, 0, sizeof(m));
	parse_options(&m, argc, argv);
	/* Until the configuration says otherwise: stderr, except for -s. */
	mq_log_open(PROG, LOG_MAIL, m.debug ? MQ_LOG_DEBUG : MQ_LOG_INFO,
	    !m.stdio || m.foreground, m.stdio);
	if (mq_config_load(m.path, &cfg, &error) != 0)
		mq_fatal(EX_CONFIG, "%s", error != NULL ? error : m.path);
	if (m.test)
		return test_config(cfg, m.debug);
	/* SIGHUP reads the file again, after the daemon's chdir("/"). */
	if (m.path[0] != '/' && (m.abspath = realpath(m.path, NULL)) != NULL)
		m.path = m.abspath;

	signal(SIGPIPE, SIG_IGN);
	hold_signals(true);
	/* Before daemonizing, errors should reach the terminal too. */
	log_setup(cfg, m.debug, m.foreground || !m.stdio, true);
	claim_privileged(&m, cfg);
	if (!m.foreground && !m.stdio) {
		daemonize();
		log_setup(cfg, m.debug, false, true);
	}
	make_event_base(&m);
	start_server(&m, cfg);	/* cfg is the runtime's now */

	event_base_loop(m.base, EVLOOP_NO_EXIT_ON_EMPTY);

	stop_server(&m);
	return 0;
}
