/* SPDX-License-Identifier: MIT */
/*
 * template - the warning text: header lines, an empty line, the body, with
 * ${variables}. Pure: parsing and expansion, no files beyond _load.
 *
 * A template starts with header lines ("Subject: ...", continuation lines
 * begin with a blank) and lines starting with '#' (comments, dropped); the
 * first empty line ends them and the rest is the body. ${name} is replaced
 * by the variable's value; a name that is not a variable stays as written.
 * In header values a variable's control characters (CR, LF, TAB, ...)
 * become spaces, so no value can start a header of its own.
 */
#ifndef MQ_WARN_TEMPLATE_H
#define MQ_WARN_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#define MQ_TEMPLATE_MAX (64 * 1024)	/* bytes read from a template file */

struct mq_template_header {
	char *name;		/* as written, e.g. "Subject" */
	char *value;		/* unfolded, leading blanks removed, not yet expanded */
};

struct mq_template {
	char *path;		/* for messages; may be "" */
	struct mq_template_header *headers;
	size_t nheaders;
	char *body;		/* line ends as LF, not yet expanded */
};

struct mq_tvar {
	const char *name;	/* without ${ } */
	const char *value;
};

/*
 * mq_template_parse - split text into headers and body. 0, or -1 with
 * "line N: why" in error.
 */
int mq_template_parse(const char *text, size_t len, const char *path,
    struct mq_template **tmpl_r, char *error, size_t errlen);

/*
 * mq_template_load - read and parse a file (at most MQ_TEMPLATE_MAX bytes):
 * 1 loaded, 0 the file does not exist, -1 error ("PATH: why").
 */
int mq_template_load(const char *path, struct mq_template **tmpl_r,
    char *error, size_t errlen);

void mq_template_free(struct mq_template **tmpl);

/* mq_template_header - the value of a header (case-insensitive name), or NULL. */
const char *mq_template_header(const struct mq_template *tmpl, const char *name);

/*
 * mq_template_expand - text with every known ${name} replaced. header:
 * control characters in values become spaces. The result is malloc'ed.
 */
char *mq_template_expand(const char *text, const struct mq_tvar *vars,
    size_t nvars, bool header);

/*
 * mq_template_variant - the path of a variant beside the main template:
 * "/etc/mailquota/warning.txt" + "100" -> "/etc/mailquota/warning-100.txt"
 * (the suffix goes before the last extension of the file name, or at the
 * end when it has none). Malloc'ed.
 */
char *mq_template_variant(const char *main_path, const char *suffix);

#endif
