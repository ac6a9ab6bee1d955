/*
 * qmgr_scan.c - what waits to come into active/: the scans of active/
 * (at start), incoming/ and deferred/, two intake FIFOs (arrivals, and
 * deferred messages that are due) taken in turn, and a heap of the due
 * times of deferred messages with one timer for the earliest.
 *
 * The due time of a deferred message is its file's mtime (docs/qmgr.md).
 * The heap may hold stale entries (a message deferred again, flushed,
 * held, deleted); a map from queue ID to the latest due time tells them
 * apart, and a stale or vanished file costs one failed load at most.
 * Trusts nothing about the folders' contents: only names that are valid
 * queue IDs are considered, and the reader validates each file when it
 * is loaded.  Called by qmgr.c (start, wakeups, timers) and
 * qmgr_control.c (flush, release, requeue).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "mem.h"
#include "msg.h"
#include "qmgr.h"

#define FIFO_ARRIVALS 0 /* active/ at start, incoming/ */
#define FIFO_DUE      1 /* deferred/ when due, releases, flushes */

struct intake {
	enum queue_folder folder;
	char id[QUEUE_ID_SIZE];
	unsigned flags;
	char *domain; /* flush domain, or NULL */
	struct intake *next;
};

struct heap_item {
	long long due; /* microseconds since the epoch */
	enum queue_folder folder;
	char id[QUEUE_ID_SIZE];
};

static struct intake *fifo_head[2], *fifo_tail[2];
static size_t fifo_len[2];
static int fifo_turn;
static struct qmgr_map *in_fifo; /* queue ID -> struct intake */

static struct heap_item *heap;
static size_t heap_n, heap_cap;
static struct qmgr_map *in_heap; /* queue ID -> long long * (latest due) */
static struct event *heap_ev;
static long long heap_armed; /* due time the timer is set for, 0: none */
static struct event *scan_ev;
static int incoming_again; /* a wakeup came while arrivals waited */

/* ---- the heap ---- */

static void
heap_swap(size_t a, size_t b)
{
	struct heap_item t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
}

static void
heap_up(size_t i)
{
	while (i > 0 && heap[(i - 1) / 2].due > heap[i].due) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < heap_n && heap[l].due < heap[m].due)
			m = l;
		if (r < heap_n && heap[r].due < heap[m].due)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static void
heap_pop(void)
{
	heap[0] = heap[--heap_n];
	if (heap_n > 0)
		heap_down(0);
}

static void
arm_heap_timer(void)
{
	long long now_usec = qmgr_now_usec(), wait;
	struct timeval tv;

	if (heap_n == 0 || (heap_armed != 0 && heap_armed == heap[0].due))
		return;
	heap_armed = heap[0].due;
	wait = heap_armed - now_usec;
	if (wait < 0)
		wait = 0;
	tv.tv_sec = (time_t)(wait / 1000000);
	tv.tv_usec = (suseconds_t)(wait % 1000000);
	event_add(heap_ev, &tv);
}

static void
heap_push(enum queue_folder folder, const char *id, long long due)
{
	long long *latest = qmgr_map_get(in_heap, id);

	if (latest != NULL && *latest == due)
		return;
	if (latest == NULL) {
		latest = xmalloc(sizeof(*latest));
		qmgr_map_put(in_heap, id, latest);
	}
	*latest = due;
	if (heap_n == heap_cap) {
		heap_cap = heap_cap ? 2 * heap_cap : 256;
		heap = xreallocarray(heap, heap_cap, sizeof(*heap));
	}
	heap[heap_n].due = due;
	heap[heap_n].folder = folder;
	memcpy(heap[heap_n].id, id, QUEUE_ID_SIZE);
	heap_up(heap_n++);
	if (heap_armed == 0 || due < heap_armed) {
		heap_armed = 0;
		arm_heap_timer();
	}
}

/* The timer: every entry that is due goes to the due FIFO. */
static void
on_heap_timer(evutil_socket_t fd, short what, void *arg)
{
	long long now = qmgr_now_usec();

	(void)fd;
	(void)what;
	(void)arg;
	heap_armed = 0;
	while (heap_n > 0 && heap[0].due <= now) {
		struct heap_item it = heap[0];
		long long *latest = qmgr_map_get(in_heap, it.id);

		heap_pop();
		if (latest == NULL || *latest != it.due)
			continue; /* stale */
		free(qmgr_map_remove(in_heap, it.id));
		qmgr_scan_schedule(it.folder, it.id, 0, 0, NULL);
	}
	arm_heap_timer();
}

/* ---- the FIFOs ---- */

void
qmgr_scan_schedule(
        enum queue_folder folder, const char *id, long long due, unsigned flags, const char *domain)
{
	struct intake *it;
	int which = folder == QUEUE_FOLDER_DEFERRED || folder == QUEUE_FOLDER_ACTIVE
	        ? FIFO_DUE
	        : FIFO_ARRIVALS;

	if (due > qmgr_now_usec() && flags == 0 && domain == NULL) {
		heap_push(folder, id, due);
		return;
	}
	if ((it = qmgr_map_get(in_fifo, id)) != NULL) {
		/* Already waiting: the latest folder wins, flushes add up. */
		it->folder = folder;
		it->flags |= flags;
		if (domain && !(it->flags & QMGR_FLUSH_ALL) && it->domain == NULL)
			it->domain = xstrdup(domain);
		return;
	}
	it = xcalloc(1, sizeof(*it));
	it->folder = folder;
	memcpy(it->id, id, QUEUE_ID_SIZE);
	it->flags = flags;
	it->domain = domain ? xstrdup(domain) : NULL;
	if (fifo_tail[which])
		fifo_tail[which]->next = it;
	else
		fifo_head[which] = it;
	fifo_tail[which] = it;
	fifo_len[which]++;
	qmgr_map_put(in_fifo, id, it);
	qmgr_kick();
}

int
qmgr_scan_next(
        enum queue_folder *folder, char id[QUEUE_ID_SIZE], unsigned *flags, struct str *domain)
{
	struct intake *it;
	int which = fifo_turn;

	if (fifo_head[FIFO_ARRIVALS] == NULL && incoming_again)
		qmgr_scan_incoming();
	if (fifo_head[which] == NULL)
		which = !which;
	if ((it = fifo_head[which]) == NULL)
		return 0;
	fifo_turn = !which;
	fifo_head[which] = it->next;
	if (fifo_head[which] == NULL)
		fifo_tail[which] = NULL;
	fifo_len[which]--;
	qmgr_map_remove(in_fifo, it->id);
	*folder = it->folder;
	memcpy(id, it->id, QUEUE_ID_SIZE);
	*flags = it->flags;
	str_reset(domain);
	if (it->domain)
		str_setz(domain, it->domain);
	free(it->domain);
	free(it);
	return 1;
}

size_t
qmgr_scan_waiting(void)
{
	return fifo_len[0] + fifo_len[1];
}

/* ---- the scans ---- */

/* Call fn for each name in folder that is a queue ID. */
static void
scan_folder(enum queue_folder folder, void (*fn)(int dirfd, const char *id, void *arg), void *arg)
{
	const char *name = queue_folder_name(folder);
	struct dirent *de;
	DIR *dir = opendir(name);

	if (dir == NULL) {
		msg_warn("scan %s/: %m", name);
		return;
	}
	while ((de = readdir(dir)) != NULL)
		if (queue_id_valid(de->d_name))
			fn(dirfd(dir), de->d_name, arg);
	closedir(dir);
}

static void
take_arrival(int dirfd, const char *id, void *arg)
{
	enum queue_folder folder = *(enum queue_folder *)arg;

	(void)dirfd;
	if (qmgr_message_find(id) == NULL)
		qmgr_scan_schedule(folder, id, 0, 0, NULL);
}

static void
take_deferred(int dirfd, const char *id, void *arg)
{
	struct stat st;

	(void)arg;
	if (qmgr_message_find(id) != NULL || qmgr_map_get(in_fifo, id) != NULL)
		return;
	if (fstatat(dirfd, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return; /* gone meanwhile */
	qmgr_scan_schedule(QUEUE_FOLDER_DEFERRED, id,
	        (long long)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000, 0, NULL);
}

/*
 * While arrivals from the last scan still wait, a wakeup only notes that
 * incoming/ must be read again when they are taken: a flood of wakeups
 * (one per message from cleanup) costs one scan per batch, not one each.
 */
void
qmgr_scan_incoming(void)
{
	enum queue_folder f = QUEUE_FOLDER_INCOMING;

	if (fifo_len[FIFO_ARRIVALS] > 0) {
		incoming_again = 1;
		return;
	}
	incoming_again = 0;
	scan_folder(f, take_arrival, &f);
}

void
qmgr_scan_deferred(void)
{
	scan_folder(QUEUE_FOLDER_DEFERRED, take_deferred, NULL);
}

void
qmgr_scan_startup(void)
{
	enum queue_folder f = QUEUE_FOLDER_ACTIVE;

	scan_folder(f, take_arrival, &f);
	qmgr_scan_incoming();
	qmgr_scan_deferred();
}

/* 1 when one of the file's pending recipients is in domain. */
static int
has_domain(int dirfd, const char *id, const char *domain)
{
	struct str path = STR_INIT, err = STR_INIT;
	struct queue_file *qf;
	int found = 0;

	(void)dirfd;
	queue_dir_path(&path, "", QUEUE_FOLDER_DEFERRED, id);
	if (queue_file_open(str_cstr(&path), QUEUE_OPEN_READ, &qf, &err) == QUEUE_OK) {
		for (size_t i = 0; i < queue_file_rcpt_count(qf) && !found; i++) {
			const struct queue_rcpt *r = queue_file_rcpt(qf, i);
			const char *at = strrchr(r->address, '@');

			if (r->state == QUEUE_RCPT_PENDING && at && strcasecmp(at + 1, domain) == 0)
				found = 1;
		}
		queue_file_close(qf);
	}
	str_free(&path);
	str_free(&err);
	return found;
}

static void
take_flushed(int dirfd, const char *id, void *arg)
{
	const char *domain = arg;

	if (qmgr_message_find(id) != NULL)
		return;
	if (domain == NULL)
		qmgr_scan_schedule(QUEUE_FOLDER_DEFERRED, id, 0, QMGR_FLUSH_ALL, NULL);
	else if (has_domain(dirfd, id, domain))
		qmgr_scan_schedule(QUEUE_FOLDER_DEFERRED, id, 0, 0, domain);
}

void
qmgr_scan_flush(const char *domain)
{
	scan_folder(QUEUE_FOLDER_DEFERRED, take_flushed, (void *)domain);
}

/* The periodic scan, every queue_run_delay. */
static void
on_scan_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (qmgr_stopping())
		return;
	qmgr_scan_incoming();
	qmgr_scan_deferred();
	qmgr_dest_forget_idle();
}

void
qmgr_scan_init(void)
{
	struct timeval tv = {.tv_sec = (time_t)qmgr_params.queue_run_delay};

	in_fifo = qmgr_map_new();
	in_heap = qmgr_map_new();
	heap_ev = evtimer_new(qmgr_base(), on_heap_timer, NULL);
	scan_ev = event_new(qmgr_base(), -1, EV_PERSIST, on_scan_timer, NULL);
	event_add(scan_ev, &tv);
}

static void
free_due(const char *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	free(value);
}

void
qmgr_scan_free(void)
{
	for (int w = 0; w < 2; w++) {
		struct intake *it = fifo_head[w], *next;

		for (; it; it = next) {
			next = it->next;
			free(it->domain);
			free(it);
		}
		fifo_head[w] = fifo_tail[w] = NULL;
		fifo_len[w] = 0;
	}
	if (in_heap)
		qmgr_map_walk(in_heap, free_due, NULL);
	qmgr_map_free(in_heap);
	qmgr_map_free(in_fifo);
	in_heap = in_fifo = NULL;
	free(heap);
	heap = NULL;
	heap_n = heap_cap = 0;
	if (heap_ev)
		event_free(heap_ev);
	if (scan_ev)
		event_free(scan_ev);
	heap_ev = scan_ev = NULL;
}
