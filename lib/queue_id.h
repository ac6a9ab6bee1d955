/*
 * queue_id.h - queue IDs: unique on the host, sortable by arrival time.
 *
 * A queue ID names one message everywhere: its queue file, every log
 * line about it, the Received header, the "queued as" reply.  It is
 * QUEUE_ID_LEN characters of the alphabet QUEUE_ID_ALPHABET (digits and
 * upper-case letters without I, L, O and U), so it is safe in file names,
 * log lines and headers and cannot be misread:
 *
 *	TTTTTTTTTTTPPPPP
 *	11 characters: microseconds since the epoch, base 32, most
 *	               significant first (enough until the year 3100)
 *	 5 characters: the process ID of the maker, base 32
 *
 * The alphabet is in ASCII order, so strcmp() order of IDs is the order
 * of their times: `ls` lists a queue folder oldest first.
 *
 * Uniqueness: within one process the time part strictly increases from
 * one ID to the next (when the clock has not moved on, or has stepped
 * back, the last time plus one microsecond is used), and two live
 * processes of one PID namespace never share a process ID.  An ID may
 * therefore run ahead of the clock by one microsecond for each ID the
 * process made within the same microsecond.  The queue file commit never
 * overwrites an existing file (queue_file.h), so even an ID repeated
 * after a clock step and a reused process ID cannot lose mail.
 */
#ifndef TERN_QUEUE_ID_H
#define TERN_QUEUE_ID_H

#define QUEUE_ID_TIME_LEN 11
#define QUEUE_ID_PID_LEN  5
#define QUEUE_ID_LEN      (QUEUE_ID_TIME_LEN + QUEUE_ID_PID_LEN)
#define QUEUE_ID_SIZE     (QUEUE_ID_LEN + 1) /* with its NUL */
#define QUEUE_ID_ALPHABET "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/* Make a new ID into out (NUL-terminated).  Never fails. */
void queue_id_new(char out[QUEUE_ID_SIZE]);

/* Make the ID for a given time and process ID (tests, tools).  usec must
 * be below 32^11 and pid below 32^5; a value out of range is a bug. */
void queue_id_make(char out[QUEUE_ID_SIZE], long long usec, long pid);

/* 1 when s is exactly QUEUE_ID_LEN characters of the alphabet, else 0. */
int queue_id_valid(const char *s);

/* The time an ID was made, in microseconds since the epoch, or -1 when
 * the ID is not valid. */
long long queue_id_usec(const char *id);

/* The same in whole seconds, or -1. */
long long queue_id_time(const char *id);

#endif
