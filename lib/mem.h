/*
 * mem.h - memory allocation that never returns NULL.
 *
 * Every allocation in Tern goes through these wrappers.  Running out of
 * memory is fatal: the process logs one line and exits, and master starts
 * a fresh one.  Sizes are checked for overflow before they are multiplied.
 */
#ifndef TERN_MEM_H
#define TERN_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
