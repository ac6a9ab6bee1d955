/*
 * queue_file.c - write a queue file by the commit protocol; see
 * queue_file.h and docs/queue-format.md.
 *
 * Trusts its caller's call order (a wrong order is a bug and panics) but
 * not the values it is given: every field is checked against the format
 * before it is written, so the writer never makes a file the reader
 * refuses.  Trusts the file system only as far as fsync(2) and rename(2)
 * promise.  Called by cleanup, the one writer of the queue.
 *
 * The durable path reads like the protocol: queue_file_create() makes the
 * temporary with O_EXCL; the puts append records to a buffer that is
 * written whenever it holds QUEUE_WRITE_BUFFER bytes; queue_file_commit()
 * writes END, fsyncs the file, renames it to its queue ID, fsyncs the
 * directory.  The first failure stops everything and removes the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "queue_record.h"

#define QUEUE_WRITE_BUFFER  65536 /* bytes of records held before a write(2) */
#define QUEUE_CREATE_TRIES  10    /* fresh IDs tried when a temporary name exists */
#define QUEUE_TEMP_SIZE     (sizeof(QUEUE_TEMP_PREFIX) - 1 + QUEUE_ID_SIZE)
#define QUEUE_UID_NONE_BITS 0xffffffffu /* (uid_t)-1 is not a user */

int (*queue_file_fault_hook)(enum queue_step step, const char *name);

enum writer_phase {
	PHASE_ENVELOPE, /* envelope fields */
	PHASE_RCPT,     /* recipients */
	PHASE_CONTENT,  /* message text */
};

struct queue_writer {
	int fd;                     /* the temporary, -1 once closed */
	int dirfd;                  /* its directory */
	int dir_unreadable;         /* dirfd is O_PATH: see sync_name() */
	char *dir;                  /* the directory's name, for messages */
	char id[QUEUE_ID_SIZE];     /* the queue ID chosen at create */
	char temp[QUEUE_TEMP_SIZE]; /* "tmp.<queue ID>" */
	int failed;                 /* the first system error, or QUEUE_OK */
	struct str failure;         /* its text */
	struct str out;             /* records not yet written */
	struct str chunk;           /* message text not yet in a record */
	int pending_cr;             /* the text so far ends in CR */
	enum writer_phase phase;
	unsigned have;         /* bits of the envelope fields put */
	uint32_t crc;          /* of every record so far */
	unsigned long records; /* records so far */
	unsigned long rcpts;   /* recipients so far */
	unsigned long long content_len;
};

const char *
queue_result_name(int result)
{
	switch (result) {
	case QUEUE_OK:
		return "ok";
	case QUEUE_NOSPACE:
		return "no space";
	case QUEUE_IOERROR:
		return "I/O error";
	case QUEUE_INVALID:
		return "invalid";
	case QUEUE_CORRUPT:
		return "corrupt";
	}
	return "unknown";
}

static int
errno_result(int err)
{
	return err == ENOSPC || err == EDQUOT ? QUEUE_NOSPACE : QUEUE_IOERROR;
}

/* The test hook, then the real call's errno: 0 to go on. */
static int
fault(enum queue_step step, const char *name)
{
	return queue_file_fault_hook ? queue_file_fault_hook(step, name) : 0;
}

static int
fail(struct queue_writer *w, int err, const char *what, const char *name)
{
	if (w->failed == QUEUE_OK) {
		w->failed = errno_result(err);
		str_printf(&w->failure, "%s %s/%s: %s", what, w->dir, name, strerror(err));
	}
	return w->failed;
}

static int
write_out(struct queue_writer *w)
{
	size_t done = 0;
	ssize_t n;
	int err;

	while (done < w->out.len) {
		if ((err = fault(QUEUE_STEP_WRITE, w->temp)) != 0)
			return fail(w, err, "write", w->temp);
		n = write(w->fd, w->out.data + done, w->out.len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(w, n < 0 ? errno : ENOSPC, "write", w->temp);
		done += (size_t)n;
	}
	str_reset(&w->out);
	return QUEUE_OK;
}

static int
put_record(struct queue_writer *w, int type, const void *payload, size_t len)
{
	unsigned char header[QUEUE_RECORD_HEADER];

	if (w->failed != QUEUE_OK)
		return w->failed;
	header[0] = (unsigned char)type;
	queue_put_u32(header + 1, (uint32_t)len);
	str_append(&w->out, header, sizeof(header));
	str_append(&w->out, payload, len);
	w->crc = queue_record_crc(w->crc, type, payload, len);
	w->records++;
	if (w->out.len >= QUEUE_WRITE_BUFFER)
		return write_out(w);
	return QUEUE_OK;
}

static int
open_temp(struct queue_writer *w, struct str *err)
{
	int e;

	for (int i = 0; i < QUEUE_CREATE_TRIES; i++) {
		queue_id_new(w->id);
		snprintf(w->temp, sizeof(w->temp), "%s%s", QUEUE_TEMP_PREFIX, w->id);
		if ((e = fault(QUEUE_STEP_CREATE, w->temp)) != 0) {
			errno = e;
		} else {
			w->fd = openat(w->dirfd, w->temp,
			        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			        QUEUE_FILE_MODE);
			if (w->fd >= 0)
				return QUEUE_OK;
		}
		if (errno != EEXIST)
			break;
	}
	e = errno;
	str_printf(err, "create %s/%s: %s", w->dir, w->temp, strerror(e));
	w->temp[0] = '\0'; /* not ours to remove */
	return errno_result(e);
}

int
queue_file_create(const char *dir, struct queue_writer **wp, struct str *err)
{
	struct queue_writer *w = xcalloc(1, sizeof(*w));
	unsigned char magic[QUEUE_MAGIC_SIZE];
	int status;

	*wp = NULL;
	w->fd = -1;
	w->dir = xstrdup(dir);
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0 && errno == EACCES) {
		/* A directory we may write but not read (maildrop/, 1730, for
		 * the setgid postdrop): O_PATH serves the *at() calls. */
		w->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		w->dir_unreadable = 1;
	}
	if (w->dirfd < 0) {
		status = errno_result(errno);
		str_printf(err, "open directory %s: %s", dir, strerror(errno));
		queue_file_abort(w);
		return status;
	}
	if ((status = open_temp(w, err)) != QUEUE_OK) {
		queue_file_abort(w);
		return status;
	}
	memcpy(magic, QUEUE_MAGIC, QUEUE_MAGIC_LEN);
	magic[QUEUE_MAGIC_LEN] = QUEUE_FORMAT_VERSION;
	put_record(w, QREC_MAGIC, magic, sizeof(magic));
	*wp = w;
	return QUEUE_OK;
}

const char *
queue_file_id(const struct queue_writer *w)
{
	return w->id;
}

const char *
queue_file_temp_name(const struct queue_writer *w)
{
	return w->temp;
}

/* An envelope field: in its phase, once. */
static void
envelope_field(struct queue_writer *w, int type)
{
	const struct queue_record_spec *spec = queue_record_spec(type);

	if (w->phase != PHASE_ENVELOPE)
		msg_panic("queue_file: %s after the first recipient", spec->name);
	if (w->have & spec->bit)
		msg_panic("queue_file: %s put twice", spec->name);
	w->have |= spec->bit;
}

/* A text field; "" writes nothing, except for the sender. */
static int
put_text(struct queue_writer *w, int type, const char *value)
{
	const struct queue_record_spec *spec = queue_record_spec(type);
	size_t len = strlen(value);

	if (len > spec->max || !queue_text_ok(value, len))
		return QUEUE_INVALID;
	envelope_field(w, type);
	if (len == 0 && type != QREC_SENDER)
		return w->failed;
	return put_record(w, type, value, len);
}

int
queue_file_put_arrival(struct queue_writer *w, long long usec)
{
	unsigned char v[8];

	if (usec < 0)
		return QUEUE_INVALID;
	envelope_field(w, QREC_ARRIVAL);
	queue_put_u64(v, (uint64_t)usec);
	return put_record(w, QREC_ARRIVAL, v, sizeof(v));
}

int
queue_file_put_sender(struct queue_writer *w, const char *address)
{
	return put_text(w, QREC_SENDER, address);
}

int
queue_file_put_envid(struct queue_writer *w, const char *envid)
{
	return put_text(w, QREC_ENVID, envid);
}

int
queue_file_put_ret(struct queue_writer *w, enum queue_ret ret)
{
	unsigned char v = (unsigned char)ret;

	if (ret != QUEUE_RET_NONE && ret != QUEUE_RET_FULL && ret != QUEUE_RET_HDRS)
		return QUEUE_INVALID;
	envelope_field(w, QREC_RET);
	if (ret == QUEUE_RET_NONE)
		return w->failed;
	return put_record(w, QREC_RET, &v, 1);
}

int
queue_file_put_helo(struct queue_writer *w, const char *helo)
{
	return put_text(w, QREC_HELO, helo);
}

int
queue_file_put_client_name(struct queue_writer *w, const char *name)
{
	return put_text(w, QREC_CLIENT_NAME, name);
}

int
queue_file_put_client_addr(struct queue_writer *w, const char *addr)
{
	return put_text(w, QREC_CLIENT_ADDR, addr);
}

int
queue_file_put_client_port(struct queue_writer *w, int port)
{
	unsigned char v[2];

	if (port < 0 || port > 65535)
		return QUEUE_INVALID;
	envelope_field(w, QREC_CLIENT_PORT);
	if (port == 0)
		return w->failed;
	queue_put_u16(v, (unsigned)port);
	return put_record(w, QREC_CLIENT_PORT, v, sizeof(v));
}

int
queue_file_put_protocol(struct queue_writer *w, const char *protocol)
{
	return put_text(w, QREC_PROTOCOL, protocol);
}

int
queue_file_put_tls_cipher(struct queue_writer *w, const char *cipher)
{
	return put_text(w, QREC_TLS_CIPHER, cipher);
}

int
queue_file_put_auth_login(struct queue_writer *w, const char *login)
{
	return put_text(w, QREC_AUTH_LOGIN, login);
}

int
queue_file_put_flags(struct queue_writer *w, unsigned flags)
{
	unsigned char v[4];

	if (flags & ~QUEUE_FLAG_ALL)
		return QUEUE_INVALID;
	envelope_field(w, QREC_FLAGS);
	queue_put_u32(v, flags);
	return put_record(w, QREC_FLAGS, v, sizeof(v));
}

int
queue_file_put_uid(struct queue_writer *w, long long uid)
{
	unsigned char v[4];

	if (uid < 0 || uid >= (long long)QUEUE_UID_NONE_BITS)
		return QUEUE_INVALID;
	envelope_field(w, QREC_UID);
	queue_put_u32(v, (uint32_t)uid);
	return put_record(w, QREC_UID, v, sizeof(v));
}

/* Before the first recipient: the default arrival, the NOTICES record
 * (none sent yet); the sender is required. */
static void
end_envelope(struct queue_writer *w)
{
	unsigned char none = 0;

	if (!(w->have & queue_record_spec(QREC_SENDER)->bit))
		msg_panic("queue_file: recipient before the sender");
	if (!(w->have & queue_record_spec(QREC_ARRIVAL)->bit))
		queue_file_put_arrival(w, queue_id_usec(w->id));
	envelope_field(w, QREC_NOTICES);
	put_record(w, QREC_NOTICES, &none, 1);
	w->phase = PHASE_RCPT;
}

static int
orcpt_type_ok(const char *type, size_t len)
{
	if (len == 0 || len > QUEUE_ORCPT_TYPE_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = type[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		            c == '-'))
			return 0;
	}
	return 1;
}

static int
notify_ok(unsigned notify)
{
	if (notify &
	        ~(QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY |
	                QUEUE_NOTIFY_NEVER))
		return 0;
	return !(notify & QUEUE_NOTIFY_NEVER) || notify == QUEUE_NOTIFY_NEVER;
}

int
queue_file_put_rcpt(struct queue_writer *w, const char *address, const char *orcpt_type,
        const char *orcpt_addr, unsigned notify)
{
	unsigned char rcpt[QUEUE_RCPT_ADDR + QUEUE_ADDR_MAX];
	unsigned char orcpt[1 + QUEUE_ORCPT_TYPE_MAX + QUEUE_ADDR_MAX];
	unsigned char status[QUEUE_STATUS_SIZE];
	size_t len = strlen(address), tlen, alen;
	int has_orcpt = orcpt_type && *orcpt_type;

	tlen = has_orcpt ? strlen(orcpt_type) : 0;
	alen = has_orcpt && orcpt_addr ? strlen(orcpt_addr) : 0;
	if (len == 0 || len > QUEUE_ADDR_MAX || !queue_text_ok(address, len) || !notify_ok(notify))
		return QUEUE_INVALID;
	if (has_orcpt &&
	        (!orcpt_type_ok(orcpt_type, tlen) || alen == 0 || alen > QUEUE_ADDR_MAX ||
	                !queue_text_ok(orcpt_addr, alen)))
		return QUEUE_INVALID;
	if (!has_orcpt && orcpt_addr && *orcpt_addr)
		return QUEUE_INVALID;
	if (w->phase == PHASE_CONTENT)
		msg_panic("queue_file: recipient after the message text");
	if (w->phase == PHASE_ENVELOPE)
		end_envelope(w);
	if (w->rcpts >= QUEUE_RCPT_MAX)
		return QUEUE_INVALID;
	rcpt[QUEUE_RCPT_DONE] = QUEUE_RCPT_PENDING;
	rcpt[QUEUE_RCPT_NOTIFY] = (unsigned char)notify;
	memcpy(rcpt + QUEUE_RCPT_ADDR, address, len);
	put_record(w, QREC_RCPT, rcpt, QUEUE_RCPT_ADDR + len);
	if (has_orcpt) {
		orcpt[0] = (unsigned char)tlen;
		memcpy(orcpt + 1, orcpt_type, tlen);
		memcpy(orcpt + 1 + tlen, orcpt_addr, alen);
		put_record(w, QREC_ORCPT, orcpt, 1 + tlen + alen);
	}
	memset(status, 0, sizeof(status));
	w->rcpts++;
	return put_record(w, QREC_STATUS, status, sizeof(status));
}

static int
flush_chunk(struct queue_writer *w)
{
	int status = QUEUE_OK;

	if (w->chunk.len > 0)
		status = put_record(w, QREC_CONTENT, w->chunk.data, w->chunk.len);
	str_reset(&w->chunk);
	return status;
}

static int
content_byte(struct queue_writer *w, char c)
{
	w->chunk.data[w->chunk.len++] = c;
	w->content_len++;
	return w->chunk.len == QUEUE_CHUNK_MAX ? flush_chunk(w) : QUEUE_OK;
}

int
queue_file_put_content(struct queue_writer *w, const void *data, size_t len)
{
	const char *p = data;
	int status = w->failed;

	if (w->phase == PHASE_ENVELOPE)
		msg_panic("queue_file: message text before any recipient");
	w->phase = PHASE_CONTENT;
	str_reserve(&w->chunk, QUEUE_CHUNK_MAX);
	for (size_t i = 0; i < len && status == QUEUE_OK; i++) {
		if (w->pending_cr) {
			w->pending_cr = 0;
			if (p[i] != '\n' && (status = content_byte(w, '\r')) != QUEUE_OK)
				break;
		}
		if (p[i] == '\r')
			w->pending_cr = 1;
		else
			status = content_byte(w, p[i]);
	}
	return status;
}

/* Remove what commit made so far; report the first failure. */
static int
commit_failed(struct queue_writer *w, int renamed, struct str *err)
{
	int status = w->failed;

	str_append(err, w->failure.data, w->failure.len);
	if (renamed && unlinkat(w->dirfd, w->id, 0) == 0)
		(void)fsync(w->dirfd);
	queue_file_abort(w);
	return status;
}

/*
 * Make the new name durable: fsync of the directory, or, for a directory
 * that cannot be opened for reading, syncfs(2) of its file system through
 * the file itself, which writes the directory's blocks too.
 */
static int
sync_name(struct queue_writer *w)
{
	int fd, rc;

	if (!w->dir_unreadable)
		return fsync(w->dirfd);
	if ((fd = openat(w->dirfd, w->id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	rc = syncfs(fd);
	close(fd);
	return rc;
}

static int
rename_noreplace(struct queue_writer *w)
{
	int e;

	if ((e = fault(QUEUE_STEP_RENAME, w->id)) != 0)
		return fail(w, e, "rename to", w->id);
	if (renameat2(w->dirfd, w->temp, w->dirfd, w->id, RENAME_NOREPLACE) == 0)
		return QUEUE_OK;
	if (errno != EINVAL && errno != ENOSYS)
		return fail(w, errno, "rename to", w->id);
	/* A file system without RENAME_NOREPLACE: link(2) never replaces. */
	if (linkat(w->dirfd, w->temp, w->dirfd, w->id, 0) != 0)
		return fail(w, errno, "link to", w->id);
	if (unlinkat(w->dirfd, w->temp, 0) != 0) {
		fail(w, errno, "unlink", w->temp);
		(void)unlinkat(w->dirfd, w->id, 0);
		return w->failed;
	}
	return QUEUE_OK;
}

int
queue_file_commit(struct queue_writer *w, char id[QUEUE_ID_SIZE], struct str *err)
{
	unsigned char end[QUEUE_END_SIZE];
	int e;

	if (w->phase == PHASE_ENVELOPE)
		msg_panic("queue_file: commit without recipients");
	/* 1. END, after the text still held. */
	if (w->pending_cr) {
		w->pending_cr = 0;
		content_byte(w, '\r');
	}
	flush_chunk(w);
	queue_put_u64(end, w->content_len);
	queue_put_u32(end + 8, (uint32_t)w->records);
	queue_put_u32(end + 12, (uint32_t)w->rcpts);
	queue_put_u32(end + 16, w->crc);
	put_record(w, QREC_END, end, sizeof(end));
	if (w->failed != QUEUE_OK || write_out(w) != QUEUE_OK)
		return commit_failed(w, 0, err);
	/* 2. The file's data and size on disk. */
	if ((e = fault(QUEUE_STEP_FSYNC_FILE, w->temp)) != 0 || fsync(w->fd) != 0) {
		fail(w, e ? e : errno, "fsync", w->temp);
		return commit_failed(w, 0, err);
	}
	e = close(w->fd);
	w->fd = -1;
	if (e != 0) {
		fail(w, errno, "close", w->temp);
		return commit_failed(w, 0, err);
	}
	/* 3. Its name, which never replaces another file. */
	if (rename_noreplace(w) != QUEUE_OK)
		return commit_failed(w, 0, err);
	w->temp[0] = '\0'; /* the name is gone */
	/* 4. The name on disk. */
	if ((e = fault(QUEUE_STEP_FSYNC_DIR, w->dir)) != 0 || sync_name(w) != 0) {
		if (w->failed == QUEUE_OK) {
			w->failed = errno_result(e ? e : errno);
			str_printf(&w->failure, "fsync directory %s: %s", w->dir,
			        strerror(e ? e : errno));
		}
		return commit_failed(w, 1, err);
	}
	memcpy(id, w->id, QUEUE_ID_SIZE);
	queue_file_abort(w);
	return QUEUE_OK;
}

void
queue_file_abort(struct queue_writer *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0 && w->temp[0] != '\0')
		(void)unlinkat(w->dirfd, w->temp, 0);
	if (w->dirfd >= 0)
		close(w->dirfd);
	str_free(&w->failure);
	str_free(&w->out);
	str_free(&w->chunk);
	free(w->dir);
	free(w);
}
