/*
 * queue_id.c - make, check and decode queue IDs; see queue_id.h.
 *
 * Trusts the clock only to be roughly right: IDs stay unique when it
 * stands still or steps back.  Trusts nothing about the strings it is
 * asked to check or decode.  Called by the queue file writer and by
 * anything that reads queue file names (qmgr, the queue viewer).
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "queue_id.h"

#define QUEUE_ID_BITS        5 /* one character holds 5 bits */
#define QUEUE_ID_DIGIT_COUNT 32

static long long last_usec; /* time part of this process's last ID */
static long last_pid;       /* the process that made it */

static void
encode(char *out, unsigned long long value, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = QUEUE_ID_ALPHABET[value % QUEUE_ID_DIGIT_COUNT];
		value /= QUEUE_ID_DIGIT_COUNT;
	}
}

static int
digit(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(QUEUE_ID_ALPHABET, c);
	return p ? (int)(p - QUEUE_ID_ALPHABET) : -1;
}

void
queue_id_make(char out[QUEUE_ID_SIZE], long long usec, long pid)
{
	if (usec < 0 || (unsigned long long)usec >> (QUEUE_ID_BITS * QUEUE_ID_TIME_LEN) != 0)
		msg_panic("queue_id_make: time %lld out of range", usec);
	if (pid < 0 || (unsigned long)pid >> (QUEUE_ID_BITS * QUEUE_ID_PID_LEN) != 0)
		msg_panic("queue_id_make: process ID %ld out of range", pid);
	encode(out, (unsigned long long)usec, QUEUE_ID_TIME_LEN);
	encode(out + QUEUE_ID_TIME_LEN, (unsigned long long)pid, QUEUE_ID_PID_LEN);
	out[QUEUE_ID_LEN] = '\0';
}

void
queue_id_new(char out[QUEUE_ID_SIZE])
{
	struct timespec ts;
	long long usec;
	long pid = (long)getpid();

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		msg_panic("queue_id_new: clock_gettime: %m");
	usec = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	/* A forked child inherits last_usec but has its own process ID. */
	if (pid == last_pid && usec <= last_usec)
		usec = last_usec + 1;
	last_usec = usec;
	last_pid = pid;
	queue_id_make(out, usec, pid);
}

int
queue_id_valid(const char *s)
{
	for (int i = 0; i < QUEUE_ID_LEN; i++)
		if (digit(s[i]) < 0)
			return 0;
	return s[QUEUE_ID_LEN] == '\0';
}

long long
queue_id_usec(const char *id)
{
	unsigned long long v = 0;

	if (!queue_id_valid(id))
		return -1;
	for (int i = 0; i < QUEUE_ID_TIME_LEN; i++)
		v = v * QUEUE_ID_DIGIT_COUNT + (unsigned long long)digit(id[i]);
	return (long long)v;
}

long long
queue_id_time(const char *id)
{
	long long usec = queue_id_usec(id);

	return usec < 0 ? -1 : usec / 1000000;
}
