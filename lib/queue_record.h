/*
 * queue_record.h - the records of a queue file, shared by its writer and
 * its reader (queue_file.c, queue_file_read.c).  Callers outside those two
 * use queue_file.h; docs/queue-format.md is the format.
 *
 * A record is type:u8 length:u32be payload.  queue_record_spec() gives
 * each type's bounds and place; queue_crc32() is the CRC-32 of END;
 * queue_record_crc() feeds one record into it with the mutable bytes (a
 * recipient's done byte, a whole STATUS payload, the NOTICES payload)
 * counted as zero.
 */
#ifndef TERN_QUEUE_RECORD_H
#define TERN_QUEUE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "queue_file.h"

#define QUEUE_RECORD_HEADER 5 /* type and length */

enum queue_record_type {
	QREC_MAGIC = 'M',       /* QUEUE_MAGIC, version:u8 */
	QREC_ARRIVAL = 'A',     /* u64be microseconds since the epoch */
	QREC_SENDER = 'S',      /* text, may be empty */
	QREC_ENVID = 'I',       /* text */
	QREC_RET = 'T',         /* u8: 1 FULL, 2 HDRS */
	QREC_FLAGS = 'F',       /* u32be QUEUE_FLAG_* */
	QREC_UID = 'U',         /* u32be */
	QREC_HELO = 'h',        /* text */
	QREC_CLIENT_NAME = 'n', /* text */
	QREC_CLIENT_ADDR = 'a', /* text */
	QREC_CLIENT_PORT = 'p', /* u16be, not 0 */
	QREC_PROTOCOL = 'P',    /* text */
	QREC_TLS_CIPHER = 'c',  /* text */
	QREC_AUTH_LOGIN = 'l',  /* text */
	QREC_NOTICES = 'N',     /* u8 QUEUE_NOTICE_*, updated in place */
	QREC_RCPT = 'R',        /* done:u8 notify:u8 address */
	QREC_ORCPT = 'O',       /* type_len:u8 type address */
	QREC_STATUS = 'D',      /* two status copies */
	QREC_CONTENT = 'C',     /* message text */
	QREC_END = 'E',         /* content:u64be records:u32be rcpts:u32be crc:u32be */
};

/* Where a type may appear. */
enum queue_record_place {
	QREC_PLACE_MAGIC,
	QREC_PLACE_ENVELOPE,
	QREC_PLACE_RECIPIENT,
	QREC_PLACE_CONTENT,
	QREC_PLACE_END,
};

struct queue_record_spec {
	int type;
	const char *name; /* for diagnostics */
	enum queue_record_place place;
	size_t min, max; /* payload length bounds */
	int text;        /* payload is a text field */
	unsigned bit;    /* envelope fields: a distinct bit, to find repeats */
};

/* The spec of a type, or NULL for a type the format does not have. */
const struct queue_record_spec *queue_record_spec(int type);

/* The magic payload. */
#define QUEUE_MAGIC_LEN  (sizeof(QUEUE_MAGIC) - 1)
#define QUEUE_MAGIC_SIZE (QUEUE_MAGIC_LEN + 1)

/* The RCPT payload: done, notify, address. */
#define QUEUE_RCPT_DONE   0
#define QUEUE_RCPT_NOTIFY 1
#define QUEUE_RCPT_ADDR   2

/* One status copy; STATUS holds two. */
#define QUEUE_STATUS_SEQ         0  /* u32be, 0 only in an all-zero copy */
#define QUEUE_STATUS_ATTEMPTS    4  /* u32be */
#define QUEUE_STATUS_LAST        8  /* u64be seconds since the epoch */
#define QUEUE_STATUS_DSN         16 /* 12 bytes, NUL padded */
#define QUEUE_STATUS_DSN_SIZE    12
#define QUEUE_STATUS_REASON      28 /* 256 bytes, NUL padded */
#define QUEUE_STATUS_REASON_SIZE 256
#define QUEUE_STATUS_CRC         284 /* u32be CRC-32 of bytes 0..283 */
#define QUEUE_STATUS_COPY        288
#define QUEUE_STATUS_SIZE        (2 * QUEUE_STATUS_COPY)

#define QUEUE_END_SIZE 20

/* Decoding a status copy. */
enum queue_status_copy {
	QUEUE_COPY_EMPTY, /* all zero: never written */
	QUEUE_COPY_VALID, /* its CRC holds and its fields are valid */
	QUEUE_COPY_TORN,  /* its CRC fails: an interrupted write */
	QUEUE_COPY_BAD,   /* its CRC holds but a field is invalid */
};
enum queue_status_copy queue_status_decode(const unsigned char *copy, struct queue_rcpt_status *st);
void queue_status_encode(unsigned char *copy, const struct queue_rcpt_status *st);
/* 0 when st's dsn and reason may be recorded, else -1 and why. */
int queue_status_check(const struct queue_rcpt_status *st, const char **why);

/* 1 when p[0..len) holds no control character (C0 or DEL), else 0. */
int queue_text_ok(const void *p, size_t len);

uint32_t queue_crc32(uint32_t crc, const void *p, size_t len);
uint32_t queue_record_crc(uint32_t crc, int type, const unsigned char *payload, size_t len);

void queue_put_u16(unsigned char *p, unsigned v);
void queue_put_u32(unsigned char *p, uint32_t v);
void queue_put_u64(unsigned char *p, uint64_t v);
unsigned queue_get_u16(const unsigned char *p);
uint32_t queue_get_u32(const unsigned char *p);
uint64_t queue_get_u64(const unsigned char *p);

#endif
