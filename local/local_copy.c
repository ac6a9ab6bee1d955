/*
 * local_copy.c - the message as local writes it: what it prepends
 * (an mbox "From " line, Return-Path:, Delivered-To:), the text streamed
 * from the queue file (stored with LF line ends, which is what maildirs,
 * mbox files and commands get), ">From " quoting for mbox, and the
 * Delivered-To: values of the message for loop detection.
 *
 * Trusts the queue file reader (lib/queue_file_read.c) to have checked
 * the file; the header is read only up to header_size_limit octets.
 * Called by every delivery file of local/.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "header.h"
#include "local.h"
#include "mem.h"
#include "msg.h"

#define COPY_SCAN_CHUNK 8192 /* octets read per step while looking for the header's end */

static void
lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* One complete header field: remember it when it is Delivered-To:. */
static void
scan_field(struct local_message *m, const char *field, size_t len)
{
	struct str value = STR_INIT;
	char *v;

	if (!header_field_is(field, len, "Delivered-To") ||
	        m->ndelivered_to >= LOCAL_DELIVERED_TO_MAX)
		return;
	header_field_value(field, len, &value);
	v = str_steal(&value);
	if (v[0] == '<' && strlen(v) >= 2 && v[strlen(v) - 1] == '>') {
		memmove(v, v + 1, strlen(v) - 2);
		v[strlen(v) - 2] = '\0';
	}
	lower_ascii(v);
	m->delivered_to = xreallocarray(m->delivered_to, m->ndelivered_to + 1, sizeof(char *));
	m->delivered_to[m->ndelivered_to++] = v;
}

static void
scan_header(struct local_message *m, const char *text, size_t len)
{
	size_t pos = 0, field = 0;
	int in_field = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t llen = end - pos;

		if (in_field && header_is_continuation(text + pos, llen)) {
			pos = end + 1;
			continue;
		}
		if (in_field) {
			scan_field(m, text + field, pos - 1 - field);
			in_field = 0;
		}
		if (llen == 0 || header_field_name(text + pos, llen) == 0 || nl == NULL)
			return; /* the end of the header, or a partial last line */
		field = pos;
		in_field = 1;
		pos = end + 1;
	}
	if (in_field && pos > field + 1)
		scan_field(m, text + field, pos - 1 - field);
}

int
local_copy_scan(struct local_message *m, struct str *err)
{
	struct str head = STR_INIT;
	char buf[COPY_SCAN_CHUNK];
	size_t limit = (size_t)local_cfg.header_size_limit;

	queue_file_rewind(m->qf);
	while (head.len < limit) {
		size_t want = limit - head.len < sizeof(buf) ? limit - head.len : sizeof(buf);
		ssize_t n = queue_file_read_content(m->qf, buf, want, err);

		if (n < 0) {
			str_free(&head);
			queue_file_rewind(m->qf);
			return -1;
		}
		if (n == 0)
			break;
		str_append(&head, buf, (size_t)n);
		if (head.data[0] == '\n' || memmem(head.data, head.len, "\n\n", 2) != NULL)
			break;
	}
	queue_file_rewind(m->qf);
	scan_header(m, head.data ? head.data : "", head.len);
	str_free(&head);
	return 0;
}

int
local_copy_delivered_to(const struct local_message *m, const char *address)
{
	char *a = xstrdup(address);
	int found = 0;

	lower_ascii(a);
	for (size_t i = 0; i < m->ndelivered_to && !found; i++)
		found = strcmp(m->delivered_to[i], a) == 0;
	free(a);
	return found;
}

void
local_copy_prefix(const struct local_message *m, const struct local_copy *c, struct str *out)
{
	if (c->from_line) {
		time_t when = (time_t)m->arrival_sec;
		struct tm tm;
		char date[64];

		localtime_r(&when, &tm);
		if (strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm) == 0)
			date[0] = '\0';
		str_printf(out, "From %s %s\n", *c->return_path ? c->return_path : "MAILER-DAEMON",
		        date);
	}
	str_printf(out, "Return-Path: <%s>\n", c->return_path);
	if (c->delivered_to != NULL)
		str_printf(out, "Delivered-To: %s\n", c->delivered_to);
}

unsigned long long
local_copy_size(const struct local_message *m, const struct local_copy *c)
{
	struct str prefix = STR_INIT;
	unsigned long long size;

	local_copy_prefix(m, c, &prefix);
	size = prefix.len + queue_file_content_size(m->qf);
	str_free(&prefix);
	return size;
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The state of ">From " quoting across chunks. */
struct quoter {
	int at_line_start;
	char pending[5]; /* a line's first octets while they may still be "From " */
	size_t npending;
};

static void
quote_chunk(struct quoter *q, const char *p, size_t n, struct str *out)
{
	static const char from[] = "From ";

	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (!q->at_line_start) {
			str_appendc(out, ch);
			q->at_line_start = ch == '\n';
			continue;
		}
		q->pending[q->npending++] = ch;
		if (ch == from[q->npending - 1]) {
			if (q->npending == 5) {
				str_appendc(out, '>');
				str_append(out, q->pending, 5);
				q->npending = 0;
				q->at_line_start = 0;
			}
			continue;
		}
		str_append(out, q->pending, q->npending);
		q->npending = 0;
		q->at_line_start = ch == '\n';
	}
}

int
local_copy_write(int fd, struct local_message *m, const struct local_copy *c, struct str *err)
{
	struct str out = STR_INIT;
	struct quoter q = {1, {0}, 0};
	char *buf = xmalloc(LOCAL_COPY_BUFFER);
	int rc = 0, saved = 0;
	char last = '\n';
	ssize_t n;

	local_copy_prefix(m, c, &out);
	queue_file_rewind(m->qf);
	for (;;) {
		n = queue_file_read_content(m->qf, buf, LOCAL_COPY_BUFFER, err);
		if (n < 0) {
			saved = EIO;
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		if (c->quote_from)
			quote_chunk(&q, buf, (size_t)n, &out);
		else
			str_append(&out, buf, (size_t)n);
		if (out.len >= LOCAL_COPY_BUFFER) {
			if (write_all(fd, out.data, out.len) < 0) {
				saved = errno;
				str_printf(err, "write: %s", strerror(saved));
				rc = -1;
				break;
			}
			last = out.data[out.len - 1];
			str_reset(&out);
		}
	}
	if (rc == 0) {
		str_append(&out, q.pending, q.npending);
		if (c->mbox_end) {
			if ((out.len > 0 ? out.data[out.len - 1] : last) != '\n')
				str_appendc(&out, '\n');
			str_appendc(&out, '\n');
		}
		if (out.len > 0 && write_all(fd, out.data, out.len) < 0) {
			saved = errno;
			str_printf(err, "write: %s", strerror(saved));
			rc = -1;
		}
	}
	queue_file_rewind(m->qf);
	str_free(&out);
	free(buf);
	errno = saved;
	return rc;
}

void
local_text_sanitize(struct str *out, const char *text, size_t len, size_t max)
{
	size_t i;

	for (i = 0; i < len && i < max; i++) {
		unsigned char ch = (unsigned char)text[i];

		if (ch == '\n' || ch == '\r' || ch == '\t')
			str_appendc(out, ' ');
		else if (ch < 0x20 || ch == 0x7f)
			str_appendc(out, '?');
		else
			str_appendc(out, (char)ch);
	}
	if (i < len)
		str_appendz(out, "...");
}
