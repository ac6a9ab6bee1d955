/*
 * qinject.c - write queue files with lib's writer, as cleanup would, for
 * the qmgr tests and benchmarks.
 *
 *	qinject -q QUEUE_DIR [-D FOLDER] [-f SENDER] -r RCPT [-r RCPT]...
 *		[-N NOTIFY] [-O ORCPT] [-n COUNT] [-s SIZE] [-a AGE]
 *		[-m MTIME] [-w]
 *
 *	-D FOLDER  incoming (default), deferred, active or hold
 *	-f SENDER  envelope sender ("" is the null sender; default
 *		   sender@tern.test)
 *	-r RCPT	   a recipient (repeatable, in order)
 *	-N NOTIFY  DSN NOTIFY of every recipient: success,failure,delay or never
 *	-O ORCPT   an rfc822 ORCPT for every recipient
 *	-n COUNT   messages to write (default 1)
 *	-s SIZE	   octets of message text (default about 100)
 *	-a AGE	   arrival AGE seconds ago
 *	-m MTIME   set the file's modification time to now + MTIME seconds
 *		   (deferred/: the next attempt time)
 *	-w	   wake qmgr up (public/qmgr) after the last message
 *
 * Prints each queue ID on a line of its own.  Exit 0, or 1 with the
 * reason on standard error.  A test fixture, never installed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "daemon.h"
#include "deliver.h"
#include "msg.h"
#include "queue_dir.h"
#include "queue_file.h"

#define QINJECT_RCPT_MAX 10000

static void
usage(void)
{
	fprintf(stderr,
	        "usage: qinject -q QUEUE_DIR [-D FOLDER] [-f SENDER] -r RCPT... [-N NOTIFY]"
	        " [-O ORCPT] [-n COUNT] [-s SIZE] [-a AGE] [-m MTIME] [-w]\n");
	exit(1);
}

static void
put_text(struct queue_writer *w, long size)
{
	struct str text = STR_INIT;

	str_printf(&text, "Subject: test %s\r\nFrom: sender@tern.test\r\n\r\n", queue_file_id(w));
	while ((long)text.len < size)
		str_appendz(&text, "The quick brown fox jumps over the lazy dog.\r\n");
	if (size > 0 && (long)text.len > size)
		str_truncate(&text, (size_t)size);
	if (queue_file_put_content(w, text.data, text.len) != QUEUE_OK)
		msg_fatal("content refused");
	str_free(&text);
}

int
main(int argc, char **argv)
{
	const char *queue = NULL, *sender = "sender@tern.test", *orcpt = NULL;
	const char *rcpts[QINJECT_RCPT_MAX];
	int nrcpt = 0, wake = 0, ch, folder = QUEUE_FOLDER_INCOMING, set_mtime = 0;
	long count = 1, size = 100, age = 0, mtime = 0;
	unsigned notify = 0;

	msg_init("qinject");
	msg_to_stderr(1);
	while ((ch = getopt(argc, argv, "q:D:f:r:N:O:n:s:a:m:w")) != -1) {
		switch (ch) {
		case 'q':
			queue = optarg;
			break;
		case 'D':
			if ((folder = queue_folder_lookup(optarg)) < 0)
				usage();
			break;
		case 'f':
			sender = optarg;
			break;
		case 'r':
			if (nrcpt == QINJECT_RCPT_MAX)
				usage();
			rcpts[nrcpt++] = optarg;
			break;
		case 'N':
			if (deliver_notify_parse(optarg, &notify) < 0)
				usage();
			break;
		case 'O':
			orcpt = optarg;
			break;
		case 'n':
			count = atol(optarg);
			break;
		case 's':
			size = atol(optarg);
			break;
		case 'a':
			age = atol(optarg);
			break;
		case 'm':
			mtime = atol(optarg);
			set_mtime = 1;
			break;
		case 'w':
			wake = 1;
			break;
		default:
			usage();
		}
	}
	if (queue == NULL || nrcpt == 0 || count < 1)
		usage();
	for (long n = 0; n < count; n++) {
		struct str dir = STR_INIT, err = STR_INIT;
		struct queue_writer *w;
		char id[QUEUE_ID_SIZE];
		struct timeval tv;

		str_printf(&dir, "%s/%s", queue, queue_folder_name(folder));
		if (queue_file_create(str_cstr(&dir), &w, &err) != QUEUE_OK)
			msg_fatal("%s", str_cstr(&err));
		gettimeofday(&tv, NULL);
		queue_file_put_arrival(
		        w, ((long long)tv.tv_sec - age) * 1000000 + (long long)tv.tv_usec);
		if (queue_file_put_sender(w, sender) != QUEUE_OK)
			msg_fatal("sender refused");
		queue_file_put_protocol(w, "ESMTP");
		for (int i = 0; i < nrcpt; i++)
			if (queue_file_put_rcpt(w, rcpts[i], orcpt ? "rfc822" : NULL, orcpt,
			            notify) != QUEUE_OK)
				msg_fatal("recipient %s refused", rcpts[i]);
		put_text(w, size);
		if (queue_file_commit(w, id, &err) != QUEUE_OK)
			msg_fatal("%s", str_cstr(&err));
		if (set_mtime) {
			struct timespec times[2];
			struct str path = STR_INIT;

			times[0].tv_sec = times[1].tv_sec = tv.tv_sec + mtime;
			times[0].tv_nsec = times[1].tv_nsec = 0;
			queue_dir_path(&path, queue, (enum queue_folder)folder, id);
			if (utimensat(AT_FDCWD, str_cstr(&path), times, 0) < 0)
				msg_fatal("utimensat %s: %m", str_cstr(&path));
			str_free(&path);
		}
		printf("%s\n", id);
		str_free(&dir);
		str_free(&err);
	}
	if (wake) {
		struct str path = STR_INIT, err = STR_INIT;

		str_printf(&path, "%s/public/qmgr", queue);
		if (daemon_wakeup_send(str_cstr(&path), &err) < 0)
			fprintf(stderr, "qinject: wakeup: %s\n", str_cstr(&err));
		str_free(&path);
		str_free(&err);
	}
	return 0;
}
