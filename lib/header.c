/*
 * header.c - RFC 5322 header fields; see header.h.
 *
 * Trusts nothing in the fields it reads (they come from the network or
 * from a local user); reads only within the lengths it is given.  Called
 * by cleanup (header processing) and by whatever else reads or writes
 * message headers.
 */
#include <string.h>

#include "header.h"

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

size_t
header_field_name(const char *line, size_t len)
{
	size_t name = 0, i;

	while (name < len && name < HEADER_NAME_MAX) {
		unsigned char c = (unsigned char)line[name];

		if (c <= 32 || c >= 127 || c == ':')
			break;
		name++;
	}
	if (name == 0 || name >= HEADER_NAME_MAX)
		return 0;
	for (i = name; i < len && is_blank(line[i]); i++)
		;
	return i < len && line[i] == ':' ? name : 0;
}

int
header_is_continuation(const char *line, size_t len)
{
	return len > 0 && is_blank(line[0]);
}

int
header_field_is(const char *field, size_t len, const char *name)
{
	size_t n = header_field_name(field, len), want = strlen(name);

	if (n == 0 || n != want)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char a = field[i], b = name[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return 0;
	}
	return 1;
}

void
header_field_value(const char *field, size_t len, struct str *out)
{
	size_t n = header_field_name(field, len), i, start = out->len;

	if (n == 0)
		return;
	i = n;
	while (i < len && field[i] != ':')
		i++;
	for (i++; i < len; i++) {
		if (field[i] == '\r' && i + 1 < len && field[i + 1] == '\n')
			continue;
		if (field[i] == '\n')
			continue;
		if (out->len == start && is_blank(field[i]))
			continue;
		str_appendc(out, field[i]);
	}
	n = out->len;
	while (n > start && is_blank(out->data[n - 1]))
		n--;
	str_truncate(out, n);
}

/* Append one word, on this line or the next; -1 when it cannot fit. */
static int
fold_word(struct str *out, size_t *line, size_t name_len, const char *word, size_t len)
{
	if (*line + 1 + len > HEADER_LINE_SOFT && *line > name_len + 1) {
		str_append(out, "\n\t", 2);
		*line = 1;
	} else {
		str_appendc(out, ' ');
		(*line)++;
	}
	if (*line + len > HEADER_LINE_MAX)
		return -1;
	str_append(out, word, len);
	*line += len;
	return 0;
}

/* Append a phrase whole when it fits a line, else word by word. */
static int
fold_phrase(struct str *out, size_t *line, size_t name_len, const char *p)
{
	size_t len = strlen(p);
	const char *end = p + len;

	if (len == 0)
		return 0;
	if (*line + 1 + len <= HEADER_LINE_SOFT) {
		str_appendc(out, ' ');
		str_append(out, p, len);
		*line += 1 + len;
		return 0;
	}
	if (1 + len <= HEADER_LINE_SOFT) {
		str_append(out, "\n\t", 2);
		str_append(out, p, len);
		*line = 1 + len;
		return 0;
	}
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t word = sp ? (size_t)(sp - p) : (size_t)(end - p);

		if (fold_word(out, line, name_len, p, word) < 0)
			return -1;
		p += word;
		if (p < end)
			p++; /* the space */
	}
	return 0;
}

int
header_fold_phrases(struct str *out, const char *name, const char *const *phrases, size_t n)
{
	size_t start = out->len, line, name_len = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (strchr(phrases[i], '\r') != NULL || strchr(phrases[i], '\n') != NULL)
			return -1;
	str_appendz(out, name);
	str_appendc(out, ':');
	line = name_len + 1;
	for (size_t i = 0; i < n; i++) {
		if (fold_phrase(out, &line, name_len, phrases[i]) < 0 || line > HEADER_LINE_MAX) {
			str_truncate(out, start);
			return -1;
		}
	}
	str_appendc(out, '\n');
	return 0;
}

int
header_fold(struct str *out, const char *name, const char *value)
{
	size_t start = out->len, line, vlen = strlen(value), name_len = strlen(name);
	const char *p = value, *end = value + vlen;

	if (memchr(value, '\r', vlen) != NULL || memchr(value, '\n', vlen) != NULL)
		return -1;
	str_appendz(out, name);
	str_appendc(out, ':');
	line = name_len + 1;
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t word = sp ? (size_t)(sp - p) : (size_t)(end - p);

		if (fold_word(out, &line, name_len, p, word) < 0) {
			str_truncate(out, start);
			return -1;
		}
		p += word;
		if (p < end)
			p++; /* the space */
	}
	str_appendc(out, '\n');
	return 0;
}
