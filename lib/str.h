/*
 * str.h - growing strings with explicit length.
 *
 * A struct str holds bytes (which may include NUL) and always keeps one
 * spare NUL after them, so str_cstr() is valid for text.  Growth is
 * geometric; allocation failure is fatal (mem.h).  A zeroed struct str is
 * a valid empty string (STR_INIT).
 */
#ifndef TERN_STR_H
#define TERN_STR_H

#include <stdarg.h>
#include <stddef.h>

struct str {
	char *data;
	size_t len;
	size_t cap;
};

#define STR_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void str_init(struct str *s);
void str_free(struct str *s);
void str_reset(struct str *s);
void str_reserve(struct str *s, size_t extra);
void str_append(struct str *s, const void *p, size_t n);
void str_appendz(struct str *s, const char *z);
void str_appendc(struct str *s, int c);
void str_set(struct str *s, const void *p, size_t n);
void str_setz(struct str *s, const char *z);
void str_truncate(struct str *s, size_t len);
void str_consume(struct str *s, size_t n);
__attribute__((format(printf, 2, 3))) void str_printf(struct str *s, const char *fmt, ...);
__attribute__((format(printf, 2, 0))) void str_vprintf(struct str *s, const char *fmt, va_list ap);
const char *str_cstr(struct str *s);
char *str_steal(struct str *s);
int str_eq(const struct str *s, const char *z);
void str_lower(struct str *s);
int str_has_nul(const struct str *s);

#endif
