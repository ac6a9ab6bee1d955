/*
 * str.c - growing strings with explicit length; see str.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "msg.h"
#include "str.h"

void
str_init(struct str *s)
{
	s->data = NULL;
	s->len = 0;
	s->cap = 0;
}

void
str_free(struct str *s)
{
	free(s->data);
	str_init(s);
}

void
str_reset(struct str *s)
{
	s->len = 0;
	if (s->data)
		s->data[0] = '\0';
}

void
str_reserve(struct str *s, size_t extra)
{
	size_t need, cap;

	if (extra > (size_t)-1 / 2 - s->len)
		msg_fatal("string too large");
	need = s->len + extra + 1;
	if (need <= s->cap)
		return;
	cap = s->cap ? s->cap : 32;
	while (cap < need)
		cap *= 2;
	s->data = xrealloc(s->data, cap);
	s->cap = cap;
}

void
str_append(struct str *s, const void *p, size_t n)
{
	str_reserve(s, n);
	if (n)
		memcpy(s->data + s->len, p, n);
	s->len += n;
	s->data[s->len] = '\0';
}

void
str_appendz(struct str *s, const char *z)
{
	str_append(s, z, strlen(z));
}

void
str_appendc(struct str *s, int c)
{
	char ch = (char)c;

	str_append(s, &ch, 1);
}

void
str_set(struct str *s, const void *p, size_t n)
{
	s->len = 0;
	str_append(s, p, n);
}

void
str_setz(struct str *s, const char *z)
{
	str_set(s, z, strlen(z));
}

void
str_truncate(struct str *s, size_t len)
{
	if (len < s->len) {
		s->len = len;
		s->data[len] = '\0';
	}
}

void
str_consume(struct str *s, size_t n)
{
	if (n >= s->len) {
		str_reset(s);
		return;
	}
	memmove(s->data, s->data + n, s->len - n);
	s->len -= n;
	s->data[s->len] = '\0';
}

void
str_vprintf(struct str *s, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		msg_panic("str_vprintf: bad format \"%s\"", fmt);
	str_reserve(s, (size_t)n);
	vsnprintf(s->data + s->len, (size_t)n + 1, fmt, ap);
	s->len += (size_t)n;
}

void
str_printf(struct str *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	str_vprintf(s, fmt, ap);
	va_end(ap);
}

const char *
str_cstr(struct str *s)
{
	if (s->data == NULL)
		str_reserve(s, 0), s->data[0] = '\0';
	return s->data;
}

char *
str_steal(struct str *s)
{
	char *p;

	str_cstr(s);
	p = s->data;
	str_init(s);
	return p;
}

int
str_eq(const struct str *s, const char *z)
{
	size_t n = strlen(z);

	return s->len == n && (n == 0 || memcmp(s->data, z, n) == 0);
}

void
str_lower(struct str *s)
{
	for (size_t i = 0; i < s->len; i++)
		s->data[i] = (char)tolower((unsigned char)s->data[i]);
}

int
str_has_nul(const struct str *s)
{
	return s->len > 0 && memchr(s->data, '\0', s->len) != NULL;
}
