/* SPDX-License-Identifier: MIT */
/*
 * template - parse a warning template into headers and body, and expand
 * ${variables} (see template.h).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "template.h"
#include "util.h"

#define HEADER_NAME_MAX 76
#define VAR_NAME_MAX 64

/* header_name_len - length of a valid field name before ':', or 0. */
static size_t
header_name_len(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len && i <= HEADER_NAME_MAX; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == ':')
			return i;
		if (c < 33 || c > 126)
			return 0;
	}
	return 0;
}

static void
add_header(struct mq_template *t, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	struct mq_template_header *h;

	t->headers = xreallocarray(t->headers, t->nheaders + 1, sizeof(*t->headers));
	h = &t->headers[t->nheaders++];
	h->name = xstrndup(name, nlen);
	h->value = xstrndup(value, vlen);
}

/* trim_value - drop trailing blanks of the last header's value. */
static void
trim_value(struct mq_template *t)
{
	char *v;
	size_t n;

	if (t->nheaders == 0)
		return;
	v = t->headers[t->nheaders - 1].value;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		v[--n] = '\0';
}

/* continue_header - a continuation line (it starts with a blank) onto the last header. */
static int
continue_header(struct mq_template *t, const char *p, size_t llen, unsigned lineno,
    char *error, size_t errlen)
{
	struct mq_buf v = { 0 };
	char *old;

	if (t->nheaders == 0) {
		snprintf(error, errlen, "line %u: a continuation line before any header",
		    lineno);
		return -1;
	}
	old = t->headers[t->nheaders - 1].value;
	mq_buf_adds(&v, old);
	mq_buf_add(&v, p, llen);
	free(old);
	t->headers[t->nheaders - 1].value = mq_buf_steal(&v, NULL);
	return 0;
}

/*
 * header_line - one non-empty line before the body: a comment, a
 * continuation, or "Name: value". 0, or -1 with "line N: why".
 */
static int
header_line(struct mq_template *t, const char *p, size_t llen, unsigned lineno,
    char *error, size_t errlen)
{
	size_t nlen;
	const char *v;

	if (p[0] == '#')
		return 0;
	if (p[0] == ' ' || p[0] == '\t')
		return continue_header(t, p, llen, lineno, error, errlen);
	if ((nlen = header_name_len(p, llen)) == 0) {
		snprintf(error, errlen, "line %u: expected a header (Name: value), a # "
		    "comment, or the empty line before the body", lineno);
		return -1;
	}
	trim_value(t);
	v = p + nlen + 1;
	while (v < p + llen && (*v == ' ' || *v == '\t'))
		v++;
	add_header(t, p, nlen, v, (size_t)(p + llen - v));
	return 0;
}

/* body_line - a body line, its CRLF or lone CRs as LF. */
static void
body_line(struct mq_buf *body, const char *p, size_t llen, bool newline)
{
	for (size_t i = 0; i < llen; i++)
		mq_buf_addc(body, p[i] == '\r' ? '\n' : p[i]);
	if (newline)
		mq_buf_addc(body, '\n');
}

/* check_values - no header value may hold a carriage return: 0, or -1 with error. */
static int
check_values(const struct mq_template *t, char *error, size_t errlen)
{
	for (size_t i = 0; i < t->nheaders; i++) {
		if (strchr(t->headers[i].value, '\r') != NULL) {
			snprintf(error, errlen, "header %s: a carriage return "
			    "inside the value", t->headers[i].name);
			return -1;
		}
	}
	return 0;
}

int
mq_template_parse(const char *text, size_t len, const char *path,
    struct mq_template **tmpl_r, char *error, size_t errlen)
{
	struct mq_template *t = xcalloc(1, sizeof(*t));
	struct mq_buf body = { 0 };
	const char *p = text, *end = text + len;
	unsigned lineno = 0;
	bool in_headers = true;

	*tmpl_r = NULL;
	t->path = xstrdup(path != NULL ? path : "");
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;		/* a UTF-8 byte order mark */
	if (memchr(p, '\0', (size_t)(end - p)) != NULL) {
		snprintf(error, errlen, "contains a NUL byte");
		goto fail;
	}
	for (; p < end; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = (size_t)((nl != NULL ? nl : end) - p);

		if (llen > 0 && p[llen - 1] == '\r')
			llen--;
		if (!in_headers)
			body_line(&body, p, llen, nl != NULL);
		else if (llen == 0) {
			trim_value(t);
			in_headers = false;	/* the empty line before the body */
		} else if (header_line(t, p, llen, lineno + 1, error, errlen) < 0)
			goto fail;
		p = nl != NULL ? nl + 1 : end;
	}
	if (in_headers)
		trim_value(t);
	if (check_values(t, error, errlen) < 0)
		goto fail;
	t->body = mq_buf_steal(&body, NULL);
	*tmpl_r = t;
	return 0;
fail:
	mq_buf_free(&body);
	mq_template_free(&t);
	return -1;
}

int
mq_template_load(const char *path, struct mq_template **tmpl_r,
    char *error, size_t errlen)
{
	char *text, why[200];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	*tmpl_r = NULL;
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(error, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(error, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	text = xmalloc(MQ_TEMPLATE_MAX + 1);
	while (len <= MQ_TEMPLATE_MAX &&
	    (n = read(fd, text + len, MQ_TEMPLATE_MAX + 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(error, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	if (len > MQ_TEMPLATE_MAX) {
		snprintf(error, errlen, "%s: larger than %d bytes", path,
		    MQ_TEMPLATE_MAX);
		goto fail;
	}
	close(fd);
	r = mq_template_parse(text, len, path, tmpl_r, why, sizeof(why));
	free(text);
	if (r < 0) {
		snprintf(error, errlen, "%s: %s", path, why);
		return -1;
	}
	return 1;
fail:
	close(fd);
	free(text);
	return -1;
}

void
mq_template_free(struct mq_template **tp)
{
	struct mq_template *t = *tp;

	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nheaders; i++) {
		free(t->headers[i].name);
		free(t->headers[i].value);
	}
	free(t->headers);
	free(t->body);
	free(t->path);
	free(t);
	*tp = NULL;
}

const char *
mq_template_header(const struct mq_template *t, const char *name)
{
	for (size_t i = 0; i < t->nheaders; i++)
		if (strcasecmp(t->headers[i].name, name) == 0)
			return t->headers[i].value;
	return NULL;
}

/* find_var - the value of the variable named name[0..len), or NULL. */
static const char *
find_var(const struct mq_tvar *vars, size_t nvars, const char *name, size_t len)
{
	for (size_t i = 0; i < nvars; i++)
		if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
			return vars[i].value != NULL ? vars[i].value : "";
	return NULL;
}

char *
mq_template_expand(const char *text, const struct mq_tvar *vars, size_t nvars,
    bool header)
{
	struct mq_buf out = { 0 };
	const char *p = text;

	while (*p != '\0') {
		const char *dollar = strstr(p, "${"), *close, *value;

		if (dollar == NULL) {
			mq_buf_adds(&out, p);
			break;
		}
		mq_buf_add(&out, p, (size_t)(dollar - p));
		close = memchr(dollar + 2, '}', strnlen(dollar + 2, VAR_NAME_MAX + 1));
		value = close == NULL ? NULL :
		    find_var(vars, nvars, dollar + 2, (size_t)(close - dollar - 2));
		if (value == NULL) {
			/* Not a variable: keep "${" and go on after it. */
			mq_buf_add(&out, dollar, 2);
			p = dollar + 2;
			continue;
		}
		for (const char *v = value; *v != '\0'; v++) {
			unsigned char c = (unsigned char)*v;

			mq_buf_addc(&out, header && (c < 0x20 || c == 0x7f) ? ' ' : *v);
		}
		p = close + 1;
	}
	return mq_buf_steal(&out, NULL);
}

char *
mq_template_variant(const char *main_path, const char *suffix)
{
	const char *slash = strrchr(main_path, '/');
	const char *base = slash != NULL ? slash + 1 : main_path;
	const char *dot = strrchr(base, '.');

	if (dot == NULL || dot == base)
		return xasprintf("%s-%s", main_path, suffix);
	return xasprintf("%.*s-%s%s", (int)(dot - main_path), main_path, suffix, dot);
}
