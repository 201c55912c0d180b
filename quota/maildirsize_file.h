/* SPDX-License-Identifier: MIT */
/*
 * maildirsize_file - a Maildir's maildirsize on disk, as the usage code
 * reads it (maildirsize_file.c): what was read and the stat that tells
 * whether it is still the same file. Private to quota/maildir*.c;
 * mq_maildir_read_size and mq_maildir_write_size in maildir.h are the
 * public face.
 */
#ifndef MQ_MAILDIRSIZE_FILE_H
#define MQ_MAILDIRSIZE_FILE_H

#include <sys/types.h>
#include <stdbool.h>
#include <time.h>

#include "maildirsize.h"

/* maildirsize as it was read. */
struct mq_mds_file {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	enum mq_mds_status status;
	struct mq_maildirsize mds;	/* limits also when only the usage lines are bad */
};

/*
 * mq_mds_file_read - stat, open and parse root's maildirsize (a missing
 * file is no error: rd->exists false): 0, or -1 with the reason in error.
 */
int mq_mds_file_read(int root, struct mq_mds_file *rd, char *error,
    size_t errlen);

/* mq_mds_file_unchanged - maildirsize is still the file (or absence) that was read. */
bool mq_mds_file_unchanged(int root, const struct mq_mds_file *rd);

#endif
