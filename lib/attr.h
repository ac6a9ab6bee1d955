/*
 * attr.h - the framed attribute protocol between Tern's processes.
 *
 * Every request and reply on an internal socket is one frame: a list of
 * (name, value) attributes with explicit lengths.  docs/ipc.md describes
 * the wire format; in short:
 *
 *	frame     = length:u32be body		(length = octets of body)
 *	body      = *attribute
 *	attribute = name_len:u8 name value_len:u32be value
 *
 * Names are 1..ATTR_NAME_MAX octets of [a-z0-9_]; values are any octets.
 * A frame is refused when it is longer than the receiver's limit, holds
 * more than ATTR_COUNT_MAX attributes, has a bad name, or its attributes
 * do not fill the body exactly.  Receivers check every field as if it came
 * from the network: the typed getters below validate as they read.
 */
#ifndef TERN_ATTR_H
#define TERN_ATTR_H

#include <stddef.h>

#include "str.h"

#define ATTR_NAME_MAX    64
#define ATTR_COUNT_MAX   4096
#define ATTR_FRAME_MAX   (4 * 1024 * 1024)
#define ATTR_HEADER_SIZE 4

struct attr {
	size_t name; /* offset of the name in buf */
	size_t name_len;
	size_t value; /* offset of the value in buf (NUL follows it) */
	size_t value_len;
};

struct attr_list {
	struct attr *v;
	size_t n;
	size_t cap;
	struct str buf;
};

void attr_list_init(struct attr_list *l);
void attr_list_reset(struct attr_list *l);
void attr_list_free(struct attr_list *l);

/* Building. Names must be valid (a bad name is a bug: msg_panic). */
void attr_put(struct attr_list *l, const char *name, const void *value, size_t len);
void attr_put_str(struct attr_list *l, const char *name, const char *value);
void attr_put_int(struct attr_list *l, const char *name, long long value);

/* Append one encoded frame to out. */
void attr_encode(const struct attr_list *l, struct str *out);

/*
 * Decode one frame from buf[0..len).  Returns 1 and sets *used when a
 * whole frame was decoded into l (which is reset first), 0 when more input
 * is needed, -1 when the input is malformed (*why says how).
 */
int attr_decode(const char *buf, size_t len, size_t max_frame, struct attr_list *l, size_t *used,
        const char **why);

/* Lookup.  The getters return NULL or -1 when the attribute is missing
 * or invalid; attr_get_str refuses values with NUL octets. */
const struct attr *attr_find(const struct attr_list *l, const char *name);
const char *attr_name(const struct attr_list *l, const struct attr *a);
const char *attr_value(const struct attr_list *l, const struct attr *a);
const char *attr_get_str(const struct attr_list *l, const char *name);
int attr_get_int(const struct attr_list *l, const char *name, long long min, long long max,
        long long *value);

/*
 * Blocking I/O on a socket, each call bounded by timeout_ms (a deadline
 * for the whole frame).  Return 0 on success; -1 on error, timeout or
 * malformed input, with a reason in err; attr_recv returns 1 at a clean
 * end of file before any byte of a frame.
 */
int attr_send(int fd, const struct attr_list *l, int timeout_ms, struct str *err);
int attr_recv(int fd, struct attr_list *l, size_t max_frame, int timeout_ms, struct str *err);

#endif
