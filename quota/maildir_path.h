/* SPDX-License-Identifier: MIT */
/*
 * maildir_path - how a Maildir below maildir.base is reached: the flags
 * every directory under base is opened with. mq_maildir_open (maildir.h)
 * walks there; the recount opens the directories inside with the same
 * flags.
 */
#ifndef MQ_MAILDIR_PATH_H
#define MQ_MAILDIR_PATH_H

#include <fcntl.h>

/*
 * Never through a symlink, only a directory, and never blocking: a FIFO
 * planted where a directory should be cannot hang a worker.
 */
#define MQ_MAILDIR_DIR_FLAGS \
	(O_RDONLY | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK)

#endif
