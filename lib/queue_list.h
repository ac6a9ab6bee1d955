/*
 * queue_list.h - a listing of the messages in the queue, for mailq
 * (sendmail -bp) and any other viewer that wants the classic text.
 *
 * queue_list_read() reads every queue file of maildrop/, incoming/,
 * active/, deferred/ and hold/ (not corrupt/, not "tmp.*" temporaries)
 * through the validating reader of queue_file.h, and keeps of each its
 * queue ID, folder, arrival time, size, sender and the recipients not yet
 * finished with their last delivery reason.  A file that vanishes while
 * it is read (delivered meanwhile) is left out; one that cannot be read
 * or fails validation is listed with the reason and no recipients.
 * Entries are sorted by arrival time, then queue ID.  At most
 * QUEUE_LIST_MAX messages are read; more are counted in l->skipped.
 *
 * queue_list_format() writes the text that mailq users and their scripts
 * know:
 *
 *	-Queue ID-------- --Size-- ----Arrival Time----  -Sender/Recipient---
 *	0K3Z5AB8C1D2E3F4*     1234 Tue Jun  3 14:05:09  alice@example.com
 *	                                                 bob@example.net
 *
 *	0K3Z5AB8C1D2E3F9!      567 Tue Jun  3 14:06:00  MAILER-DAEMON
 *	   (connect to mx.example.net[192.0.2.1]:25: Connection refused)
 *	                                                 carol@example.org
 *
 *	-- 2 Kbytes in 2 Requests.
 *
 * The character after the ID says where the message is: "*" active/,
 * "!" hold/, "#" maildrop/ (not yet picked up), none for incoming/ and
 * deferred/.  An empty queue prints "Mail queue is empty".  The reader
 * trusts nothing in the files: every text printed is the reader's
 * validated text (no control characters).
 */
#ifndef TERN_QUEUE_LIST_H
#define TERN_QUEUE_LIST_H

#include <stddef.h>

#include "queue_dir.h"
#include "queue_id.h"
#include "str.h"

#define QUEUE_LIST_MAX 1000000 /* messages read by one listing */

struct queue_list_rcpt {
	char *address;
	char *reason; /* the last delivery attempt's reason, "" when none */
};

struct queue_list_entry {
	char id[QUEUE_ID_SIZE];
	enum queue_folder folder;
	long long arrival_usec;  /* from the file; the ID's time when unreadable */
	unsigned long long size; /* octets of the message text */
	char *sender;            /* "" is the null sender */
	char *error;             /* NULL, or why the file could not be read */
	struct queue_list_rcpt *rcpts;
	size_t nrcpts;
};

struct queue_list {
	struct queue_list_entry *v;
	size_t n;
	size_t cap;
	unsigned long skipped; /* beyond QUEUE_LIST_MAX */
};

void queue_list_init(struct queue_list *l);
void queue_list_free(struct queue_list *l);

/*
 * Read the queue below queue_dir into l.  Returns 0, or -1 with the
 * reason in err and errno set when a folder cannot be read at all
 * (EACCES: the queue belongs to mail_owner in root mode).  A folder that
 * does not exist is empty.
 */
int queue_list_read(const char *queue_dir, struct queue_list *l, struct str *err);

/* Append the listing above to out. */
void queue_list_format(const struct queue_list *l, struct str *out);

#endif
