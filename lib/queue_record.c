/*
 * queue_record.c - record types, bounds, status copies and the CRC-32 of
 * the queue file; see queue_record.h and docs/queue-format.md.
 *
 * Decodes bytes read from disk, so it trusts none of them: every decoder
 * checks lengths and values.  Called only by queue_file.c (the writer)
 * and queue_file_read.c (the reader), so the two cannot disagree.
 */
#include <string.h>

#include "queue_record.h"

static const struct queue_record_spec specs[] = {
        {QREC_MAGIC, "MAGIC", QREC_PLACE_MAGIC, QUEUE_MAGIC_SIZE, QUEUE_MAGIC_SIZE, 0, 0},
        {QREC_ARRIVAL, "ARRIVAL", QREC_PLACE_ENVELOPE, 8, 8, 0, 0x0001},
        {QREC_SENDER, "SENDER", QREC_PLACE_ENVELOPE, 0, QUEUE_ADDR_MAX, 1, 0x0002},
        {QREC_ENVID, "ENVID", QREC_PLACE_ENVELOPE, 1, QUEUE_ENVID_MAX, 1, 0x0004},
        {QREC_RET, "RET", QREC_PLACE_ENVELOPE, 1, 1, 0, 0x0008},
        {QREC_FLAGS, "FLAGS", QREC_PLACE_ENVELOPE, 4, 4, 0, 0x0010},
        {QREC_UID, "UID", QREC_PLACE_ENVELOPE, 4, 4, 0, 0x0020},
        {QREC_HELO, "HELO", QREC_PLACE_ENVELOPE, 1, QUEUE_HELO_MAX, 1, 0x0040},
        {QREC_CLIENT_NAME, "CLIENT_NAME", QREC_PLACE_ENVELOPE, 1, QUEUE_HOSTNAME_MAX, 1, 0x0080},
        {QREC_CLIENT_ADDR, "CLIENT_ADDR", QREC_PLACE_ENVELOPE, 1, QUEUE_CLIENT_ADDR_MAX, 1, 0x0100},
        {QREC_CLIENT_PORT, "CLIENT_PORT", QREC_PLACE_ENVELOPE, 2, 2, 0, 0x0200},
        {QREC_PROTOCOL, "PROTOCOL", QREC_PLACE_ENVELOPE, 1, QUEUE_PROTOCOL_MAX, 1, 0x0400},
        {QREC_TLS_CIPHER, "TLS_CIPHER", QREC_PLACE_ENVELOPE, 1, QUEUE_CIPHER_MAX, 1, 0x0800},
        {QREC_AUTH_LOGIN, "AUTH_LOGIN", QREC_PLACE_ENVELOPE, 1, QUEUE_LOGIN_MAX, 1, 0x1000},
        {QREC_NOTICES, "NOTICES", QREC_PLACE_ENVELOPE, 1, 1, 0, 0x2000},
        {QREC_RCPT, "RCPT", QREC_PLACE_RECIPIENT, QUEUE_RCPT_ADDR + 1,
                QUEUE_RCPT_ADDR + QUEUE_ADDR_MAX, 0, 0},
        {QREC_ORCPT, "ORCPT", QREC_PLACE_RECIPIENT, 3, 1 + QUEUE_ORCPT_TYPE_MAX + QUEUE_ADDR_MAX, 0,
                0},
        {QREC_STATUS, "STATUS", QREC_PLACE_RECIPIENT, QUEUE_STATUS_SIZE, QUEUE_STATUS_SIZE, 0, 0},
        {QREC_CONTENT, "CONTENT", QREC_PLACE_CONTENT, 1, QUEUE_CHUNK_MAX, 0, 0},
        {QREC_END, "END", QREC_PLACE_END, QUEUE_END_SIZE, QUEUE_END_SIZE, 0, 0},
};

const struct queue_record_spec *
queue_record_spec(int type)
{
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		if (specs[i].type == type)
			return &specs[i];
	return NULL;
}

int
queue_text_ok(const void *p, size_t len)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* CRC-32 of ISO-HDLC (zlib, PNG, gzip): reflected polynomial 0xEDB88320. */
static uint32_t crc_table[256];
static int crc_table_ready;

static void
crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
	crc_table_ready = 1;
}

uint32_t
queue_crc32(uint32_t crc, const void *p, size_t len)
{
	const unsigned char *s = p;

	if (!crc_table_ready)
		crc_init();
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ s[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t
crc_zeros(uint32_t crc, size_t len)
{
	static const unsigned char zeros[64];

	while (len > 0) {
		size_t n = len < sizeof(zeros) ? len : sizeof(zeros);

		crc = queue_crc32(crc, zeros, n);
		len -= n;
	}
	return crc;
}

uint32_t
queue_record_crc(uint32_t crc, int type, const unsigned char *payload, size_t len)
{
	unsigned char header[QUEUE_RECORD_HEADER];

	header[0] = (unsigned char)type;
	queue_put_u32(header + 1, (uint32_t)len);
	crc = queue_crc32(crc, header, sizeof(header));
	if (type == QREC_STATUS || type == QREC_NOTICES)
		return crc_zeros(crc, len);
	if (type == QREC_RCPT && len > QUEUE_RCPT_DONE) {
		crc = crc_zeros(crc, 1);
		return queue_crc32(crc, payload + 1, len - 1);
	}
	return queue_crc32(crc, payload, len);
}

void
queue_put_u16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

void
queue_put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

void
queue_put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

unsigned
queue_get_u16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

uint32_t
queue_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t
queue_get_u64(const unsigned char *p)
{
	return (uint64_t)queue_get_u32(p) << 32 | queue_get_u32(p + 4);
}

/* "d.ddd.ddd" with d in 2, 4, 5 and one to three digits per part. */
static int
dsn_ok(const char *s)
{
	int digits;

	if (*s == '\0')
		return 1;
	if (*s != '2' && *s != '4' && *s != '5')
		return 0;
	s++;
	for (int part = 0; part < 2; part++) {
		if (*s++ != '.')
			return 0;
		for (digits = 0; *s >= '0' && *s <= '9'; s++)
			if (++digits > 3)
				return 0;
		if (digits == 0)
			return 0;
	}
	return *s == '\0';
}

int
queue_status_check(const struct queue_rcpt_status *st, const char **why)
{
	size_t len;

	if (memchr(st->dsn, '\0', sizeof(st->dsn)) == NULL || !dsn_ok(st->dsn)) {
		*why = "bad enhanced status code";
		return -1;
	}
	len = strnlen(st->reason, sizeof(st->reason));
	if (len == sizeof(st->reason) || !queue_text_ok(st->reason, len)) {
		*why = "bad status reason";
		return -1;
	}
	if (st->attempts > UINT32_MAX || st->last_attempt < 0) {
		*why = "bad attempt count or time";
		return -1;
	}
	return 0;
}

/* A NUL-padded text field: text of at most max bytes, then only NULs. */
static int
padded_text(const unsigned char *p, size_t size, size_t max, char *out)
{
	const unsigned char *nul = memchr(p, '\0', size);
	size_t len;

	if (nul == NULL)
		return -1;
	len = (size_t)(nul - p);
	if (len > max || !queue_text_ok(p, len))
		return -1;
	for (size_t i = len; i < size; i++)
		if (p[i] != 0)
			return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

enum queue_status_copy
queue_status_decode(const unsigned char *copy, struct queue_rcpt_status *st)
{
	size_t i;
	uint64_t last;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < QUEUE_STATUS_COPY && copy[i] == 0; i++)
		;
	if (i == QUEUE_STATUS_COPY)
		return QUEUE_COPY_EMPTY;
	if (queue_crc32(0, copy, QUEUE_STATUS_CRC) != queue_get_u32(copy + QUEUE_STATUS_CRC))
		return QUEUE_COPY_TORN;
	st->seq = queue_get_u32(copy + QUEUE_STATUS_SEQ);
	st->attempts = queue_get_u32(copy + QUEUE_STATUS_ATTEMPTS);
	last = queue_get_u64(copy + QUEUE_STATUS_LAST);
	if (st->seq == 0 || last > INT64_MAX)
		return QUEUE_COPY_BAD;
	st->last_attempt = (long long)last;
	if (padded_text(copy + QUEUE_STATUS_DSN, QUEUE_STATUS_DSN_SIZE, QUEUE_DSN_MAX, st->dsn) <
	                0 ||
	        !dsn_ok(st->dsn))
		return QUEUE_COPY_BAD;
	if (padded_text(copy + QUEUE_STATUS_REASON, QUEUE_STATUS_REASON_SIZE, QUEUE_REASON_MAX,
	            st->reason) < 0)
		return QUEUE_COPY_BAD;
	return QUEUE_COPY_VALID;
}

void
queue_status_encode(unsigned char *copy, const struct queue_rcpt_status *st)
{
	memset(copy, 0, QUEUE_STATUS_COPY);
	queue_put_u32(copy + QUEUE_STATUS_SEQ, (uint32_t)st->seq);
	queue_put_u32(copy + QUEUE_STATUS_ATTEMPTS, (uint32_t)st->attempts);
	queue_put_u64(copy + QUEUE_STATUS_LAST, (uint64_t)st->last_attempt);
	memcpy(copy + QUEUE_STATUS_DSN, st->dsn, strnlen(st->dsn, QUEUE_DSN_MAX));
	memcpy(copy + QUEUE_STATUS_REASON, st->reason, strnlen(st->reason, QUEUE_REASON_MAX));
	queue_put_u32(copy + QUEUE_STATUS_CRC, queue_crc32(0, copy, QUEUE_STATUS_CRC));
}
