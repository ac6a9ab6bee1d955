/*
 * queue_list.c - read the queue folders into a listing and print it the
 * way mailq does; see queue_list.h.
 *
 * Trusts nothing in the queue: every file goes through queue_file_open(),
 * which validates it completely, and only its checked text is printed.
 * Called by sendmail -bp (mailq).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mem.h"
#include "queue_file.h"
#include "queue_list.h"

#define QUEUE_LIST_TIME_SIZE 32 /* "Tue Jun  3 14:05:09" and its NUL */
#define QUEUE_LIST_ADDR_COL  49 /* column of the sender and recipients */

static const enum queue_folder listed_folders[] = {
        QUEUE_FOLDER_MAILDROP,
        QUEUE_FOLDER_INCOMING,
        QUEUE_FOLDER_ACTIVE,
        QUEUE_FOLDER_DEFERRED,
        QUEUE_FOLDER_HOLD,
};

void
queue_list_init(struct queue_list *l)
{
	memset(l, 0, sizeof(*l));
}

static void
entry_free(struct queue_list_entry *e)
{
	for (size_t i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].address);
		free(e->rcpts[i].reason);
	}
	free(e->rcpts);
	free(e->sender);
	free(e->error);
}

void
queue_list_free(struct queue_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		entry_free(&l->v[i]);
	free(l->v);
	queue_list_init(l);
}

static struct queue_list_entry *
entry_new(struct queue_list *l, const char *id, enum queue_folder folder)
{
	struct queue_list_entry *e;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->id, id, QUEUE_ID_SIZE);
	e->folder = folder;
	e->arrival_usec = queue_id_usec(id);
	return e;
}

/* Read one file; 0 when it was listed, -1 when it vanished. */
static int
read_entry(struct queue_list *l, const char *queue_dir, enum queue_folder folder, const char *id)
{
	struct str path = STR_INIT, err = STR_INIT;
	struct queue_list_entry *e;
	const struct queue_envelope *env;
	struct queue_file *qf;
	struct stat st;
	int rc;

	queue_dir_path(&path, queue_dir, folder, id);
	rc = queue_file_open(str_cstr(&path), QUEUE_OPEN_READ, &qf, &err);
	if (rc != QUEUE_OK && lstat(str_cstr(&path), &st) < 0 && errno == ENOENT) {
		str_free(&path);
		str_free(&err);
		return -1;
	}
	e = entry_new(l, id, folder);
	if (rc != QUEUE_OK) {
		e->sender = xstrdup("");
		e->error = xstrdup(str_cstr(&err));
	} else {
		env = queue_file_envelope(qf);
		e->arrival_usec = env->arrival_usec;
		e->size = queue_file_content_size(qf);
		e->sender = xstrdup(env->sender);
		e->rcpts = xcalloc(queue_file_rcpt_count(qf) + 1, sizeof(*e->rcpts));
		for (size_t i = 0; i < queue_file_rcpt_count(qf); i++) {
			const struct queue_rcpt *r = queue_file_rcpt(qf, i);

			if (r->state != QUEUE_RCPT_PENDING)
				continue;
			e->rcpts[e->nrcpts].address = xstrdup(r->address);
			e->rcpts[e->nrcpts].reason = xstrdup(r->status.reason);
			e->nrcpts++;
		}
		queue_file_close(qf);
	}
	str_free(&path);
	str_free(&err);
	return 0;
}

static int
read_folder(struct queue_list *l, const char *queue_dir, enum queue_folder folder, struct str *err)
{
	struct str path = STR_INIT;
	struct dirent *d;
	DIR *dir;

	queue_dir_path(&path, queue_dir, folder, NULL);
	if ((dir = opendir(str_cstr(&path))) == NULL) {
		int e = errno;

		if (e == ENOENT) {
			str_free(&path);
			return 0;
		}
		str_printf(err, "open directory %s: %s", str_cstr(&path), strerror(e));
		str_free(&path);
		errno = e;
		return -1;
	}
	while ((d = readdir(dir)) != NULL) {
		if (!queue_id_valid(d->d_name))
			continue; /* ".", "..", "tmp.*" and strays */
		if (l->n >= QUEUE_LIST_MAX) {
			l->skipped++;
			continue;
		}
		(void)read_entry(l, queue_dir, folder, d->d_name);
	}
	closedir(dir);
	str_free(&path);
	return 0;
}

static int
entry_order(const void *a, const void *b)
{
	const struct queue_list_entry *x = a, *y = b;

	if (x->arrival_usec != y->arrival_usec)
		return x->arrival_usec < y->arrival_usec ? -1 : 1;
	return strcmp(x->id, y->id);
}

int
queue_list_read(const char *queue_dir, struct queue_list *l, struct str *err)
{
	for (size_t i = 0; i < sizeof(listed_folders) / sizeof(listed_folders[0]); i++)
		if (read_folder(l, queue_dir, listed_folders[i], err) < 0)
			return -1;
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), entry_order);
	return 0;
}

static char
folder_mark(enum queue_folder folder)
{
	switch (folder) {
	case QUEUE_FOLDER_ACTIVE:
		return '*';
	case QUEUE_FOLDER_HOLD:
		return '!';
	case QUEUE_FOLDER_MAILDROP:
		return '#';
	default:
		return ' ';
	}
}

static void
format_time(long long usec, char *buf, size_t size)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;

	if (usec < 0 || localtime_r(&t, &tm) == NULL ||
	        strftime(buf, size, "%a %b %e %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "%s", "?");
}

static void
format_entry(const struct queue_list_entry *e, struct str *out)
{
	char when[QUEUE_LIST_TIME_SIZE];

	format_time(e->arrival_usec, when, sizeof(when));
	str_printf(out, "%s%c %8llu %-20s  %s\n", e->id, folder_mark(e->folder), e->size, when,
	        e->error             ? "?"
	                : *e->sender ? e->sender
	                             : "MAILER-DAEMON");
	if (e->error) {
		str_printf(out, "   (unreadable: %s)\n", e->error);
		return;
	}
	for (size_t i = 0; i < e->nrcpts; i++) {
		if (e->rcpts[i].reason[0])
			str_printf(out, "   (%s)\n", e->rcpts[i].reason);
		str_printf(out, "%*s%s\n", QUEUE_LIST_ADDR_COL, "", e->rcpts[i].address);
	}
}

void
queue_list_format(const struct queue_list *l, struct str *out)
{
	unsigned long long bytes = 0;

	if (l->n == 0) {
		str_appendz(out, "Mail queue is empty\n");
		return;
	}
	str_appendz(out,
	        "-Queue ID-------- --Size-- ----Arrival Time----  "
	        "-Sender/Recipient-------\n");
	for (size_t i = 0; i < l->n; i++) {
		format_entry(&l->v[i], out);
		str_appendc(out, '\n');
		bytes += l->v[i].size;
	}
	str_printf(out, "-- %llu Kbytes in %zu Request%s.\n", (bytes + 1023) / 1024, l->n,
	        l->n == 1 ? "" : "s");
	if (l->skipped)
		str_printf(out, "-- %lu more not listed.\n", l->skipped);
}
