/*
 * pickup_folder.c - the IIS-style Pickup folder: plain RFC 5322 files
 * dropped into pickup_directory are sent as "sendmail -t" would send
 * them.
 *
 * Only regular files named "*.eml" are taken, oldest name first; a
 * program writes a file under another name (a temporary) and renames it
 * in when it is complete, so a file is never taken half-written.  The
 * envelope comes from the header: X-Sender: is the sender (else the
 * first address of From:), each X-Receiver: adds recipients; both fields
 * are removed, and so is Bcc:.  Without X-Receiver: the recipients are
 * those of To:, Cc: and Bcc: (cleanup extracts them and removes Bcc:).
 * The submitting uid is the file's owner.  A file is removed only after
 * cleanup committed its message; one that cannot be sent (no sender, no
 * recipients, a bad address, a header over header_size_limit, a refusal
 * by cleanup) is moved to bad/ below the folder with a log line, and is
 * never partly sent: cleanup keeps nothing of a message without its end.
 *
 * Trusts nothing in the files.  The folder is opened before the chroot
 * and used through its descriptor.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "header.h"
#include "mem.h"
#include "msg.h"
#include "pickup.h"
#include "queue_file.h"
#include "rfc5322_addr.h"
#include "submit.h"

#define FOLDER_READ_SIZE  65536 /* octets read at once */
#define FOLDER_RENAME_TRY 100   /* names tried in bad/ */

static int folder_fd = -1;

struct folder_file {
	const char *name;
	int fd;
	struct str head; /* the header as sent: fields kept, LF line ends kept as read */
	struct str rest; /* octets read after the header, not yet sent */
	size_t rest_off; /* of rest, sent so far */
	int head_sent;
	/* the envelope */
	char *sender;
	int have_sender;
	struct pickup_rcpt *rcpts;
	size_t nrcpts;
	unsigned addr_flags; /* SUBMIT_ADDR_* */
	int from_receiver;   /* X-Receiver: gave the recipients */
	struct str why;      /* why the file is bad */
};

int
pickup_folder_open(const char *path)
{
	if (path == NULL || *path == '\0')
		return 0;
	folder_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (folder_fd < 0) {
		msg_warn("pickup_directory %s: %m; the Pickup folder is not read", path);
		return -1;
	}
	return 0;
}

/* ---- bad/ ---- */

static void
to_bad(const char *name, const char *reason)
{
	struct str target = STR_INIT;
	int rc = -1;

	if (mkdirat(folder_fd, PICKUP_BAD_FOLDER, 0700) < 0 && errno != EEXIST) {
		msg_warn("%s: cannot create %s/: %m", name, PICKUP_BAD_FOLDER);
		return;
	}
	for (int i = 0; i < FOLDER_RENAME_TRY && rc < 0; i++) {
		str_reset(&target);
		str_printf(&target, "%s/%s", PICKUP_BAD_FOLDER, name);
		if (i > 0)
			str_printf(&target, ".%lld.%d", (long long)time(NULL), i);
		rc = renameat2(folder_fd, name, folder_fd, str_cstr(&target), RENAME_NOREPLACE);
		if (rc < 0 && errno != EEXIST)
			break;
	}
	if (rc < 0)
		msg_warn("%s: cannot move to %s/: %m", name, PICKUP_BAD_FOLDER);
	else
		msg_warn("%s: moved to %s/: %s", name, PICKUP_BAD_FOLDER, reason);
	str_free(&target);
}

/* ---- the header ---- */

/*
 * The length of the header at the start of text[0..len): up to the
 * first empty line or line that is neither a field nor a continuation.
 * -1 when no such line is there yet and more may come (!eof).
 */
static long
header_length(const char *text, size_t len, int eof)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t line = nl ? (size_t)(nl - (text + pos)) : len - pos;

		if (nl == NULL && !eof)
			return -1;
		if (line > 0 && text[pos + line - 1] == '\r')
			line--;
		if (line == 0)
			return (long)pos;
		if (!header_field_name(text + pos, line) &&
		        !(pos > 0 && header_is_continuation(text + pos, line)))
			return (long)pos;
		pos += (size_t)((nl ? nl + 1 : text + len) - (text + pos));
	}
	return (long)pos;
}

static void
add_rcpt(struct folder_file *f, const char *address)
{
	f->rcpts = xreallocarray(f->rcpts, f->nrcpts + 1, sizeof(*f->rcpts));
	memset(&f->rcpts[f->nrcpts], 0, sizeof(*f->rcpts));
	f->rcpts[f->nrcpts++].address = xstrdup(address);
}

/* Addresses of a field value; -1 (with f->why) when one is bad. */
static int
field_addresses(struct folder_file *f, const char *field, size_t len, int sender)
{
	struct rfc5322_addr_list l;
	struct str value = STR_INIT, why = STR_INIT;
	size_t skipped = 0;
	int rc = 0;

	header_field_value(field, len, &value);
	if (sender && str_eq(&value, "<>")) {
		f->sender = xstrdup("");
		f->have_sender = 1;
		str_free(&value);
		return 0;
	}
	rfc5322_addr_list_init(&l);
	rfc5322_addr_parse(value.data ? value.data : "", value.len, &l, QUEUE_RCPT_MAX, &skipped);
	if (skipped > 0 || l.n == 0 || (sender && l.n != 1))
		rc = -1;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		if (submit_address_check(str_cstr(&l.v[i].addr), 0, &f->addr_flags, &why) < 0)
			rc = -1;
		else if (sender)
			f->sender = xstrdup(str_cstr(&l.v[i].addr));
		else
			add_rcpt(f, str_cstr(&l.v[i].addr));
	}
	if (rc < 0)
		str_printf(&f->why, "bad address in %.*s: %s", (int)header_field_name(field, len),
		        field, value.data ? value.data : "");
	else if (sender)
		f->have_sender = 1;
	rfc5322_addr_list_free(&l);
	str_free(&value);
	str_free(&why);
	return rc;
}

/* From:'s first address as the sender, when there is no X-Sender:. */
static void
sender_from(struct folder_file *f, const char *field, size_t len)
{
	struct rfc5322_addr_list l;
	struct str value = STR_INIT;

	header_field_value(field, len, &value);
	rfc5322_addr_list_init(&l);
	rfc5322_addr_parse(value.data ? value.data : "", value.len, &l, 1, NULL);
	if (l.n == 1 && submit_address_check(str_cstr(&l.v[0].addr), 0, &f->addr_flags, NULL) == 0)
		f->sender = xstrdup(str_cstr(&l.v[0].addr));
	rfc5322_addr_list_free(&l);
	str_free(&value);
}

/* One field (with its line ends): keep it, or take it into the envelope. */
static int
take_field(struct folder_file *f, const char *field, size_t len, struct str *from_field)
{
	size_t bare = len;

	while (bare > 0 && (field[bare - 1] == '\n' || field[bare - 1] == '\r'))
		bare--;
	if (header_field_is(field, bare, "X-Sender")) {
		if (!f->have_sender && field_addresses(f, field, bare, 1) < 0)
			return -1;
		return 0;
	}
	if (header_field_is(field, bare, "X-Receiver")) {
		f->from_receiver = 1;
		return field_addresses(f, field, bare, 0);
	}
	if (header_field_is(field, bare, "From") && from_field->len == 0)
		str_set(from_field, field, bare);
	str_append(&f->head, field, len);
	return 0;
}

/* Split header[0..len) into fields; fills f's envelope and head. */
static int
parse_header(struct folder_file *f, const char *header, size_t len)
{
	struct str kept = STR_INIT, from = STR_INIT;
	size_t start = 0, pos = 0;
	int rc = 0;

	while (rc == 0 && pos < len) {
		const char *nl = memchr(header + pos, '\n', len - pos);
		size_t next = nl ? (size_t)(nl - header) + 1 : len;

		if (pos > start && !header_is_continuation(header + pos, next - pos)) {
			rc = take_field(f, header + start, pos - start, &from);
			start = pos;
		}
		pos = next;
	}
	if (rc == 0 && pos > start)
		rc = take_field(f, header + start, pos - start, &from);
	if (rc == 0 && !f->have_sender && from.len)
		sender_from(f, from.data, from.len);
	if (rc == 0 && f->from_receiver) {
		/* the envelope is explicit: Bcc: must not show */
		str_set(&kept, f->head.data, f->head.len);
		str_reset(&f->head);
		pos = start = 0;
		while (pos < kept.len) {
			const char *nl = memchr(kept.data + pos, '\n', kept.len - pos);
			size_t next = nl ? (size_t)(nl - kept.data) + 1 : kept.len;

			if (next >= kept.len ||
			        !header_is_continuation(kept.data + next, kept.len - next)) {
				if (!header_field_is(kept.data + start, next - start, "Bcc"))
					str_append(&f->head, kept.data + start, next - start);
				start = next;
			}
			pos = next;
		}
	}
	str_free(&kept);
	str_free(&from);
	return rc;
}

/* Read through the header; 0, or -1 with f->why (bad) or errno (defer). */
static int
read_header(struct folder_file *f, long long limit, int *defer)
{
	char *buf = xmalloc(FOLDER_READ_SIZE);
	struct str text = STR_INIT;
	long hlen = -1;
	int eof = 0, rc = 0;

	while (hlen < 0) {
		ssize_t n = read(f->fd, buf, FOLDER_READ_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_printf(&f->why, "read: %s", strerror(errno));
			*defer = 1;
			rc = -1;
			break;
		}
		eof = n == 0;
		str_append(&text, buf, (size_t)n);
		hlen = header_length(text.data ? text.data : "", text.len, eof);
		if (hlen < 0 && (long long)text.len > limit) {
			str_printf(
			        &f->why, "message header exceeds header_size_limit (%lld)", limit);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && hlen > limit) {
		str_printf(&f->why, "message header exceeds header_size_limit (%lld)", limit);
		rc = -1;
	}
	if (rc == 0 && (rc = parse_header(f, text.data ? text.data : "", (size_t)hlen)) == 0)
		str_set(&f->rest, text.data + hlen, text.len - (size_t)hlen);
	free(buf);
	str_free(&text);
	return rc;
}

static ssize_t
read_text(void *arg, char *buf, size_t size, enum pickup_result *result, struct str *why)
{
	struct folder_file *f = arg;
	size_t n;
	ssize_t got;

	if (!f->head_sent) {
		f->head_sent = 1;
		str_append(&f->head, f->rest.data ? f->rest.data : "", f->rest.len);
		str_reset(&f->rest);
		str_set(&f->rest, f->head.data, f->head.len);
		f->rest_off = 0;
	}
	if (f->rest_off < f->rest.len) {
		n = f->rest.len - f->rest_off < size ? f->rest.len - f->rest_off : size;
		memcpy(buf, f->rest.data + f->rest_off, n);
		f->rest_off += n;
		return (ssize_t)n;
	}
	while ((got = read(f->fd, buf, size)) < 0 && errno == EINTR)
		;
	if (got < 0) {
		*result = PICKUP_DEFER;
		str_printf(why, "read %s: %s", f->name, strerror(errno));
		return -1;
	}
	return got;
}

/* ---- one file ---- */

static void
file_free(struct folder_file *f)
{
	for (size_t i = 0; i < f->nrcpts; i++)
		free((char *)f->rcpts[i].address);
	free(f->rcpts);
	free(f->sender);
	str_free(&f->head);
	str_free(&f->rest);
	str_free(&f->why);
	if (f->fd >= 0)
		close(f->fd);
}

static enum pickup_result
submit(struct folder_file *f, const struct stat *st, struct str *why)
{
	struct pickup_message m = {0};
	struct str flags = STR_INIT;
	char id[QUEUE_ID_SIZE];
	enum pickup_result result;

	str_appendz(&flags, f->from_receiver ? "local" : "local,extract");
	if (f->addr_flags & SUBMIT_ADDR_UTF8)
		str_appendz(&flags, ",smtputf8");
	m.sender = f->sender;
	m.flags = str_cstr(&flags);
	m.uid = (long long)st->st_uid;
	m.rcpts = f->rcpts;
	m.nrcpts = f->nrcpts;
	m.read = read_text;
	m.arg = f;
	result = pickup_submit(&m, id, why);
	if (result == PICKUP_OK)
		msg_info(
		        "%s: uid=%lld from=<%s> (pickup folder %s)", id, m.uid, f->sender, f->name);
	str_free(&flags);
	return result;
}

/* One file; -1 when the scan should stop. */
static int
take_file(const char *name)
{
	struct folder_file f;
	struct str why = STR_INIT;
	struct stat st;
	int defer = 0, rc = 0;

	memset(&f, 0, sizeof(f));
	f.name = name;
	f.fd = openat(folder_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (f.fd < 0) {
		if (errno != ENOENT)
			msg_warn("%s: open: %m; will try again", name);
		goto out;
	}
	if (fstat(f.fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		to_bad(name, "not a regular file");
		goto out;
	}
	if (read_header(&f, config_size(cfg, "header_size_limit"), &defer) < 0) {
		if (defer)
			msg_warn("%s: %s; will try again", name, str_cstr(&f.why));
		else
			to_bad(name, str_cstr(&f.why));
		goto out;
	}
	if (!f.have_sender && f.sender == NULL) {
		to_bad(name, "no sender: neither X-Sender: nor a From: address");
		goto out;
	}
	if (f.from_receiver && f.nrcpts == 0) {
		to_bad(name, "no recipients in X-Receiver:");
		goto out;
	}
	switch (submit(&f, &st, &why)) {
	case PICKUP_OK:
		if (unlinkat(folder_fd, name, 0) < 0)
			msg_warn("%s: remove after pickup: %m", name);
		break;
	case PICKUP_FAIL:
	case PICKUP_CORRUPT:
		to_bad(name, str_cstr(&why));
		break;
	case PICKUP_DEFER:
		msg_warn("%s: %s; will try again", name, str_cstr(&why));
		rc = -1;
		break;
	}
out:
	file_free(&f);
	str_free(&why);
	return rc;
}

static int
wanted(const char *name)
{
	size_t len = strlen(name), slen = strlen(PICKUP_FOLDER_SUFFIX);

	return name[0] != '.' && len > slen &&
	        strcasecmp(name + len - slen, PICKUP_FOLDER_SUFFIX) == 0;
}

int
pickup_folder_scan(void)
{
	struct dirent *d;
	char **names = NULL;
	size_t n = 0;
	int dfd, rc = 0;
	DIR *dir;

	if (folder_fd < 0)
		return 0;
	if ((dfd = dup(folder_fd)) < 0 || (dir = fdopendir(dfd)) == NULL) {
		msg_warn("pickup_directory: %m");
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	rewinddir(dir);
	while ((d = readdir(dir)) != NULL && n < PICKUP_FILES_MAX) {
		if (!wanted(d->d_name))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(d->d_name);
	}
	closedir(dir);
	rc = pickup_take_names(names, n, take_file);
	return rc;
}
