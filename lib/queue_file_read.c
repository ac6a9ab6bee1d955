/*
 * queue_file_read.c - read and check a queue file, stream its text, and
 * update its recipients in place; see queue_file.h and
 * docs/queue-format.md.
 *
 * Trusts nothing in the file: another process, a crash or a disk may have
 * written it.  queue_file_open() checks every record before it returns,
 * so callers see only files that keep every rule of the format; reading
 * never goes past a record or the file, whatever its length fields say.
 * Called by qmgr (with updates), local, smtp and the queue viewer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "queue_record.h"

/* Where the reader is in the file's grammar. */
enum read_state {
	AT_START,     /* MAGIC next */
	IN_ENVELOPE,  /* envelope fields or the first RCPT */
	AFTER_RCPT,   /* ORCPT or STATUS */
	AFTER_ORCPT,  /* STATUS */
	AFTER_STATUS, /* RCPT, CONTENT or END */
	IN_CONTENT,   /* CONTENT or END */
	AT_END,       /* nothing */
};

/* Where a recipient's mutable bytes are. */
struct rcpt_slot {
	off_t done_offset;   /* its done byte */
	off_t status_offset; /* its first status copy */
	int copy;            /* the current copy: 0, 1, or -1 for none */
};

struct queue_file {
	int fd;
	int mode;
	char *path;
	off_t size;
	struct queue_envelope env;
	struct queue_rcpt *rcpt;
	struct rcpt_slot *slot;
	size_t nrcpt, rcpt_cap;
	int notices;          /* QUEUE_NOTICE_*, -1 without a NOTICES record */
	off_t notices_offset; /* its payload */
	off_t content_start;  /* the first record after the last STATUS */
	off_t end_offset;     /* the END record */
	unsigned long long content_size;
	/* the content stream */
	off_t read_offset; /* the next record header, or inside a chunk */
	size_t chunk_left; /* bytes of the current chunk still to read */
};

/* The state of one open while it checks. */
struct checker {
	struct queue_file *qf;
	struct str *err;
	off_t offset; /* of the record being checked */
	enum read_state state;
	unsigned have; /* envelope fields seen */
	unsigned long records;
	uint32_t crc;
	unsigned char *buf; /* one payload */
};

static const char empty[] = "";

static int
corrupt(struct checker *c, const char *fmt, const char *detail)
{
	str_printf(c->err, "%s: corrupt queue file: ", c->qf->path);
	str_printf(c->err, fmt, detail);
	str_printf(c->err, " (offset %lld)", (long long)c->offset);
	return QUEUE_CORRUPT;
}

static int
read_at(struct queue_file *qf, void *buf, size_t len, off_t offset, struct str *err)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(qf->fd, (char *)buf + done, len - done, offset + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_printf(err, "read %s: %s", qf->path, strerror(errno));
			return QUEUE_IOERROR;
		}
		if (n == 0) {
			str_printf(err, "%s: corrupt queue file: file shrank while being read",
			        qf->path);
			return QUEUE_CORRUPT;
		}
		done += (size_t)n;
	}
	return QUEUE_OK;
}

static char *
text_dup(const unsigned char *p, size_t len)
{
	return xstrndup((const char *)p, len);
}

static void
set_text(const char **field, const unsigned char *p, size_t len)
{
	*field = text_dup(p, len);
}

static int
envelope_record(
        struct checker *c, const struct queue_record_spec *spec, const unsigned char *p, size_t len)
{
	struct queue_envelope *env = &c->qf->env;
	uint64_t v;

	if (c->state != IN_ENVELOPE)
		return corrupt(c, "%s record outside the envelope", spec->name);
	if (c->have & spec->bit)
		return corrupt(c, "%s record repeated", spec->name);
	c->have |= spec->bit;
	switch (spec->type) {
	case QREC_ARRIVAL:
		v = queue_get_u64(p);
		if (v > INT64_MAX)
			return corrupt(c, "%s out of range", spec->name);
		env->arrival_usec = (long long)v;
		return QUEUE_OK;
	case QREC_RET:
		if (p[0] != QUEUE_RET_FULL && p[0] != QUEUE_RET_HDRS)
			return corrupt(c, "%s out of range", spec->name);
		env->ret = p[0];
		return QUEUE_OK;
	case QREC_FLAGS:
		env->flags = queue_get_u32(p);
		if (env->flags & ~QUEUE_FLAG_ALL)
			return corrupt(c, "%s has unknown bits", spec->name);
		return QUEUE_OK;
	case QREC_UID:
		env->uid = queue_get_u32(p);
		if (env->uid == (long long)UINT32_MAX)
			return corrupt(c, "%s out of range", spec->name);
		return QUEUE_OK;
	case QREC_CLIENT_PORT:
		env->client_port = (int)queue_get_u16(p);
		if (env->client_port == 0)
			return corrupt(c, "%s out of range", spec->name);
		return QUEUE_OK;
	case QREC_NOTICES:
		if (p[0] & ~QUEUE_NOTICE_ALL)
			return corrupt(c, "%s has unknown bits", spec->name);
		c->qf->notices = p[0];
		c->qf->notices_offset = c->offset + QUEUE_RECORD_HEADER;
		return QUEUE_OK;
	}
	/* The text fields. */
	if (!queue_text_ok(p, len))
		return corrupt(c, "%s holds a control character", spec->name);
	switch (spec->type) {
	case QREC_SENDER:
		set_text(&env->sender, p, len);
		break;
	case QREC_ENVID:
		set_text(&env->envid, p, len);
		break;
	case QREC_HELO:
		set_text(&env->helo, p, len);
		break;
	case QREC_CLIENT_NAME:
		set_text(&env->client_name, p, len);
		break;
	case QREC_CLIENT_ADDR:
		set_text(&env->client_addr, p, len);
		break;
	case QREC_PROTOCOL:
		set_text(&env->protocol, p, len);
		break;
	case QREC_TLS_CIPHER:
		set_text(&env->tls_cipher, p, len);
		break;
	case QREC_AUTH_LOGIN:
		set_text(&env->auth_login, p, len);
		break;
	default:
		msg_panic("queue_file_read: envelope record %s unhandled", spec->name);
	}
	return QUEUE_OK;
}

static int
rcpt_record(struct checker *c, const unsigned char *p, size_t len)
{
	struct queue_file *qf = c->qf;
	struct queue_rcpt *r;
	unsigned notify = p[QUEUE_RCPT_NOTIFY];
	unsigned bits = QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY;

	if (c->state != IN_ENVELOPE && c->state != AFTER_STATUS)
		return corrupt(c, "%s record out of order", "RCPT");
	if (!(c->have & queue_record_spec(QREC_ARRIVAL)->bit))
		return corrupt(c, "%s record missing", "ARRIVAL");
	if (!(c->have & queue_record_spec(QREC_SENDER)->bit))
		return corrupt(c, "%s record missing", "SENDER");
	if (qf->nrcpt >= QUEUE_RCPT_MAX)
		return corrupt(c, "more than %s recipients", "QUEUE_RCPT_MAX");
	if (p[QUEUE_RCPT_DONE] > QUEUE_RCPT_RELAYED)
		return corrupt(c, "%s done mark out of range", "RCPT");
	if ((notify & ~(bits | QUEUE_NOTIFY_NEVER)) ||
	        ((notify & QUEUE_NOTIFY_NEVER) && notify != QUEUE_NOTIFY_NEVER))
		return corrupt(c, "%s NOTIFY out of range", "RCPT");
	if (!queue_text_ok(p + QUEUE_RCPT_ADDR, len - QUEUE_RCPT_ADDR))
		return corrupt(c, "%s holds a control character", "RCPT");
	if (qf->nrcpt == qf->rcpt_cap) {
		qf->rcpt_cap = qf->rcpt_cap ? 2 * qf->rcpt_cap : 4;
		qf->rcpt = xreallocarray(qf->rcpt, qf->rcpt_cap, sizeof(*qf->rcpt));
		qf->slot = xreallocarray(qf->slot, qf->rcpt_cap, sizeof(*qf->slot));
	}
	r = &qf->rcpt[qf->nrcpt];
	memset(r, 0, sizeof(*r));
	r->address = text_dup(p + QUEUE_RCPT_ADDR, len - QUEUE_RCPT_ADDR);
	r->orcpt_type = empty;
	r->orcpt_addr = empty;
	r->notify = notify;
	r->state = (enum queue_rcpt_state)p[QUEUE_RCPT_DONE];
	qf->slot[qf->nrcpt].done_offset = c->offset + QUEUE_RECORD_HEADER + QUEUE_RCPT_DONE;
	qf->slot[qf->nrcpt].copy = -1;
	qf->nrcpt++;
	c->state = AFTER_RCPT;
	return QUEUE_OK;
}

static int
orcpt_record(struct checker *c, const unsigned char *p, size_t len)
{
	struct queue_rcpt *r;
	size_t tlen = p[0];

	if (c->state != AFTER_RCPT)
		return corrupt(c, "%s record out of order", "ORCPT");
	if (tlen == 0 || tlen > QUEUE_ORCPT_TYPE_MAX || 1 + tlen >= len ||
	        len - 1 - tlen > QUEUE_ADDR_MAX)
		return corrupt(c, "%s lengths out of range", "ORCPT");
	for (size_t i = 1; i <= tlen; i++) {
		unsigned char ch = p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		            (ch >= '0' && ch <= '9') || ch == '-'))
			return corrupt(c, "%s type is not an atom", "ORCPT");
	}
	if (!queue_text_ok(p + 1 + tlen, len - 1 - tlen))
		return corrupt(c, "%s holds a control character", "ORCPT");
	r = &c->qf->rcpt[c->qf->nrcpt - 1];
	r->orcpt_type = text_dup(p + 1, tlen);
	r->orcpt_addr = text_dup(p + 1 + tlen, len - 1 - tlen);
	c->state = AFTER_ORCPT;
	return QUEUE_OK;
}

static int
status_record(struct checker *c, const unsigned char *p)
{
	struct queue_rcpt_status st[2];
	enum queue_status_copy kind[2];
	size_t n = c->qf->nrcpt - 1;
	int cur;

	if (c->state != AFTER_RCPT && c->state != AFTER_ORCPT)
		return corrupt(c, "%s record out of order", "STATUS");
	for (int i = 0; i < 2; i++) {
		kind[i] = queue_status_decode(p + i * QUEUE_STATUS_COPY, &st[i]);
		if (kind[i] == QUEUE_COPY_BAD)
			return corrupt(c, "%s copy holds an invalid field", "STATUS");
	}
	/* Only one copy is written at a time, so at most one is torn. */
	if (kind[0] == QUEUE_COPY_TORN && kind[1] == QUEUE_COPY_TORN)
		return corrupt(c, "%s copies both fail their CRC", "STATUS");
	if (kind[0] == QUEUE_COPY_VALID && kind[1] == QUEUE_COPY_VALID && st[0].seq == st[1].seq)
		return corrupt(c, "%s copies have the same sequence number", "STATUS");
	cur = -1;
	for (int i = 0; i < 2; i++)
		if (kind[i] == QUEUE_COPY_VALID && (cur < 0 || st[i].seq > st[cur].seq))
			cur = i;
	if (cur >= 0)
		c->qf->rcpt[n].status = st[cur];
	c->qf->slot[n].copy = cur;
	c->qf->slot[n].status_offset = c->offset + QUEUE_RECORD_HEADER;
	c->state = AFTER_STATUS;
	return QUEUE_OK;
}

static int
end_record(struct checker *c, const unsigned char *p)
{
	struct queue_file *qf = c->qf;

	if (c->state != AFTER_STATUS && c->state != IN_CONTENT)
		return corrupt(c, "%s record out of order", "END");
	if (c->state == AFTER_STATUS)
		qf->content_start = c->offset;
	qf->end_offset = c->offset;
	if (queue_get_u64(p) != qf->content_size)
		return corrupt(c, "%s content length does not match", "END");
	if (queue_get_u32(p + 8) != c->records)
		return corrupt(c, "%s record count does not match", "END");
	if (queue_get_u32(p + 12) != qf->nrcpt)
		return corrupt(c, "%s recipient count does not match", "END");
	if (queue_get_u32(p + 16) != c->crc)
		return corrupt(c, "%s checksum does not match", "END");
	if (c->offset + QUEUE_RECORD_HEADER + QUEUE_END_SIZE != qf->size)
		return corrupt(c, "%s", "data after the END record");
	c->state = AT_END;
	return QUEUE_OK;
}

static int
magic_record(struct checker *c, const unsigned char *p)
{
	if (c->state != AT_START)
		return corrupt(c, "%s record repeated", "MAGIC");
	if (memcmp(p, QUEUE_MAGIC, QUEUE_MAGIC_LEN) != 0)
		return corrupt(c, "%s", "not a queue file (bad magic)");
	if (p[QUEUE_MAGIC_LEN] != QUEUE_FORMAT_VERSION) {
		char version[8];

		snprintf(version, sizeof(version), "%u", p[QUEUE_MAGIC_LEN]);
		return corrupt(c, "unsupported format version %s", version);
	}
	c->state = IN_ENVELOPE;
	return QUEUE_OK;
}

static int
content_record(struct checker *c, size_t len)
{
	if (c->state != AFTER_STATUS && c->state != IN_CONTENT)
		return corrupt(c, "%s record out of order", "CONTENT");
	if (c->state == AFTER_STATUS)
		c->qf->content_start = c->offset;
	c->qf->content_size += len;
	c->state = IN_CONTENT;
	return QUEUE_OK;
}

/* Check one record at c->offset; advance past it. */
static int
check_record(struct checker *c)
{
	struct queue_file *qf = c->qf;
	unsigned char header[QUEUE_RECORD_HEADER];
	const struct queue_record_spec *spec;
	off_t left = qf->size - c->offset;
	size_t len;
	int status;
	char what[8];

	if (left == 0)
		return corrupt(c, "%s", "no END record (truncated)");
	if (left < QUEUE_RECORD_HEADER)
		return corrupt(c, "%s", "truncated record header");
	if ((status = read_at(qf, header, sizeof(header), c->offset, c->err)) != QUEUE_OK)
		return status;
	if ((spec = queue_record_spec(header[0])) == NULL) {
		snprintf(what, sizeof(what), "0x%02x", header[0]);
		return corrupt(c, "unknown record type %s", what);
	}
	if (c->state == AT_START && spec->type != QREC_MAGIC)
		return corrupt(c, "%s", "not a queue file (no MAGIC record)");
	len = queue_get_u32(header + 1);
	if (len < spec->min || len > spec->max)
		return corrupt(c, "%s record length out of range", spec->name);
	if ((off_t)len > left - QUEUE_RECORD_HEADER)
		return corrupt(c, "%s record runs past the end of the file", spec->name);
	if ((status = read_at(qf, c->buf, len, c->offset + QUEUE_RECORD_HEADER, c->err)) !=
	        QUEUE_OK)
		return status;
	switch (spec->place) {
	case QREC_PLACE_MAGIC:
		status = magic_record(c, c->buf);
		break;
	case QREC_PLACE_ENVELOPE:
		status = envelope_record(c, spec, c->buf, len);
		break;
	case QREC_PLACE_RECIPIENT:
		status = spec->type == QREC_RCPT   ? rcpt_record(c, c->buf, len)
		        : spec->type == QREC_ORCPT ? orcpt_record(c, c->buf, len)
		                                   : status_record(c, c->buf);
		break;
	case QREC_PLACE_CONTENT:
		status = content_record(c, len);
		break;
	case QREC_PLACE_END:
		return end_record(c, c->buf);
	}
	if (status != QUEUE_OK)
		return status;
	c->crc = queue_record_crc(c->crc, spec->type, c->buf, len);
	c->records++;
	c->offset += QUEUE_RECORD_HEADER + (off_t)len;
	return QUEUE_OK;
}

static void
envelope_defaults(struct queue_envelope *env)
{
	const char **text[] = {&env->sender, &env->envid, &env->helo, &env->client_name,
	        &env->client_addr, &env->protocol, &env->tls_cipher, &env->auth_login};

	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
		if (*text[i] == NULL)
			*text[i] = empty;
}

int
queue_file_open(const char *path, int mode, struct queue_file **qfp, struct str *err)
{
	struct queue_file *qf = xcalloc(1, sizeof(*qf));
	struct checker c;
	struct stat st;
	int status = QUEUE_OK, flags = mode == QUEUE_OPEN_UPDATE ? O_RDWR : O_RDONLY;

	*qfp = NULL;
	qf->mode = mode;
	qf->path = xstrdup(path);
	qf->env.uid = -1;
	qf->notices = -1;
	qf->fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC);
	if (qf->fd < 0 || fstat(qf->fd, &st) != 0) {
		int e = errno;

		str_printf(err, "open %s: %s", path, strerror(e));
		queue_file_close(qf);
		return QUEUE_IOERROR;
	}
	if (!S_ISREG(st.st_mode)) {
		str_printf(err, "%s: corrupt queue file: not a regular file", path);
		queue_file_close(qf);
		return QUEUE_CORRUPT;
	}
	qf->size = st.st_size;
	memset(&c, 0, sizeof(c));
	c.qf = qf;
	c.err = err;
	c.state = AT_START;
	c.buf = xmalloc(QUEUE_CHUNK_MAX);
	while (c.state != AT_END && status == QUEUE_OK)
		status = check_record(&c);
	free(c.buf);
	envelope_defaults(&qf->env);
	if (status != QUEUE_OK) {
		queue_file_close(qf);
		return status;
	}
	queue_file_rewind(qf);
	*qfp = qf;
	return QUEUE_OK;
}

static void
free_text(const char *s)
{
	if (s != NULL && s != empty)
		free((char *)s);
}

void
queue_file_close(struct queue_file *qf)
{
	struct queue_envelope *env;

	if (qf == NULL)
		return;
	env = &qf->env;
	if (qf->fd >= 0)
		close(qf->fd);
	free_text(env->sender);
	free_text(env->envid);
	free_text(env->helo);
	free_text(env->client_name);
	free_text(env->client_addr);
	free_text(env->protocol);
	free_text(env->tls_cipher);
	free_text(env->auth_login);
	for (size_t i = 0; i < qf->nrcpt; i++) {
		free_text(qf->rcpt[i].address);
		free_text(qf->rcpt[i].orcpt_type);
		free_text(qf->rcpt[i].orcpt_addr);
	}
	free(qf->rcpt);
	free(qf->slot);
	free(qf->path);
	free(qf);
}

const struct queue_envelope *
queue_file_envelope(const struct queue_file *qf)
{
	return &qf->env;
}

size_t
queue_file_rcpt_count(const struct queue_file *qf)
{
	return qf->nrcpt;
}

const struct queue_rcpt *
queue_file_rcpt(const struct queue_file *qf, size_t index)
{
	if (index >= qf->nrcpt)
		msg_panic("queue_file_rcpt: index %zu of %zu", index, qf->nrcpt);
	return &qf->rcpt[index];
}

unsigned long long
queue_file_content_size(const struct queue_file *qf)
{
	return qf->content_size;
}

void
queue_file_rewind(struct queue_file *qf)
{
	qf->read_offset = qf->content_start;
	qf->chunk_left = 0;
}

ssize_t
queue_file_read_content(struct queue_file *qf, void *buf, size_t size, struct str *err)
{
	unsigned char header[QUEUE_RECORD_HEADER];
	size_t len;
	int status;

	if (qf->chunk_left == 0) {
		if (qf->read_offset == qf->end_offset)
			return 0;
		if (qf->end_offset - qf->read_offset < QUEUE_RECORD_HEADER)
			goto changed;
		status = read_at(qf, header, sizeof(header), qf->read_offset, err);
		if (status != QUEUE_OK)
			return status;
		len = queue_get_u32(header + 1);
		if (header[0] != QREC_CONTENT || len == 0 || len > QUEUE_CHUNK_MAX ||
		        (off_t)len > qf->end_offset - qf->read_offset - QUEUE_RECORD_HEADER)
			goto changed;
		qf->read_offset += QUEUE_RECORD_HEADER;
		qf->chunk_left = len;
	}
	if (size > qf->chunk_left)
		size = qf->chunk_left;
	if ((status = read_at(qf, buf, size, qf->read_offset, err)) != QUEUE_OK)
		return status;
	qf->read_offset += (off_t)size;
	qf->chunk_left -= size;
	return (ssize_t)size;
changed:
	str_printf(err, "%s: corrupt queue file: content changed since it was opened (offset %lld)",
	        qf->path, (long long)qf->read_offset);
	return QUEUE_CORRUPT;
}

/* One pwrite of buf at offset, then fsync: the durable in-place update. */
static int
update(struct queue_file *qf, const void *buf, size_t len, off_t offset, struct str *err)
{
	ssize_t n;
	int e;

	if ((e = queue_file_fault_hook ? queue_file_fault_hook(QUEUE_STEP_UPDATE, qf->path) : 0) !=
	        0) {
		errno = e;
		n = -1;
	} else {
		do
			n = pwrite(qf->fd, buf, len, offset);
		while (n < 0 && errno == EINTR);
	}
	if (n != (ssize_t)len) {
		e = n < 0 ? errno : ENOSPC;
		str_printf(err, "write %s: %s", qf->path, strerror(e));
		return e == ENOSPC || e == EDQUOT ? QUEUE_NOSPACE : QUEUE_IOERROR;
	}
	if ((e = queue_file_fault_hook ? queue_file_fault_hook(QUEUE_STEP_FSYNC_FILE, qf->path)
	                               : 0) != 0 ||
	        fsync(qf->fd) != 0) {
		e = e ? e : errno;
		str_printf(err, "fsync %s: %s", qf->path, strerror(e));
		return e == ENOSPC || e == EDQUOT ? QUEUE_NOSPACE : QUEUE_IOERROR;
	}
	return QUEUE_OK;
}

static int
update_allowed(struct queue_file *qf, size_t index, struct str *err)
{
	if (qf->mode != QUEUE_OPEN_UPDATE) {
		str_printf(err, "%s: opened read-only", qf->path);
		return QUEUE_INVALID;
	}
	if (index >= qf->nrcpt) {
		str_printf(err, "%s: no recipient %zu", qf->path, index);
		return QUEUE_INVALID;
	}
	return QUEUE_OK;
}

int
queue_file_mark_done(
        struct queue_file *qf, size_t index, enum queue_rcpt_state state, struct str *err)
{
	unsigned char b = (unsigned char)state;
	int status;

	if ((status = update_allowed(qf, index, err)) != QUEUE_OK)
		return status;
	if (qf->rcpt[index].state != QUEUE_RCPT_PENDING ||
	        (state != QUEUE_RCPT_DELIVERED && state != QUEUE_RCPT_FAILED &&
	                state != QUEUE_RCPT_RELAYED)) {
		str_printf(err, "%s: recipient %zu: cannot go from state %d to %d", qf->path, index,
		        (int)qf->rcpt[index].state, (int)state);
		return QUEUE_INVALID;
	}
	status = update(qf, &b, 1, qf->slot[index].done_offset, err);
	if (status == QUEUE_OK)
		qf->rcpt[index].state = state;
	return status;
}

int
queue_file_set_status(
        struct queue_file *qf, size_t index, const struct queue_rcpt_status *st, struct str *err)
{
	unsigned char copy[QUEUE_STATUS_COPY];
	struct queue_rcpt_status next;
	struct rcpt_slot *slot;
	const char *why;
	int status, target;

	if ((status = update_allowed(qf, index, err)) != QUEUE_OK)
		return status;
	slot = &qf->slot[index];
	if (qf->rcpt[index].status.seq >= UINT32_MAX)
		why = "status sequence exhausted";
	else if (queue_status_check(st, &why) == 0)
		why = NULL;
	if (why != NULL) {
		str_printf(err, "%s: recipient %zu: %s", qf->path, index, why);
		return QUEUE_INVALID;
	}
	next = *st;
	next.seq = qf->rcpt[index].status.seq + 1;
	queue_status_encode(copy, &next);
	/* Overwrite the older copy; the current one survives a torn write. */
	target = slot->copy == 0 ? 1 : 0;
	status = update(qf, copy, sizeof(copy),
	        slot->status_offset + (off_t)target * QUEUE_STATUS_COPY, err);
	if (status == QUEUE_OK) {
		queue_status_decode(copy, &qf->rcpt[index].status);
		slot->copy = target;
	}
	return status;
}

int
queue_file_notices(const struct queue_file *qf)
{
	return qf->notices;
}

int
queue_file_set_notices(struct queue_file *qf, unsigned notices, struct str *err)
{
	unsigned char b = (unsigned char)notices;
	int status;

	if (qf->mode != QUEUE_OPEN_UPDATE) {
		str_printf(err, "%s: opened read-only", qf->path);
		return QUEUE_INVALID;
	}
	if (qf->notices < 0 || (notices & ~QUEUE_NOTICE_ALL)) {
		str_printf(err, "%s: %s", qf->path,
		        qf->notices < 0 ? "no NOTICES record" : "unknown notice bits");
		return QUEUE_INVALID;
	}
	status = update(qf, &b, 1, qf->notices_offset, err);
	if (status == QUEUE_OK)
		qf->notices = (int)notices;
	return status;
}
