/*
 * qmgr_map.c - a hash table from strings to pointers: active messages by
 * queue ID, destinations by transport and next hop, IDs waiting for
 * intake.  Chained, FNV-1a, doubled when it holds more entries than
 * buckets.  Trusts its caller; called by every part of qmgr.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "qmgr.h"

#define QMGR_MAP_INITIAL 64 /* buckets of a new map */

struct entry {
	char *key;
	void *value;
	uint32_t hash;
	struct entry *next;
};

struct qmgr_map {
	struct entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
};

static uint32_t
hash_key(const char *key)
{
	uint32_t h = 2166136261u;

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 16777619u;
	}
	return h;
}

struct qmgr_map *
qmgr_map_new(void)
{
	struct qmgr_map *m = xcalloc(1, sizeof(*m));

	m->nbuckets = QMGR_MAP_INITIAL;
	m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
	return m;
}

void
qmgr_map_free(struct qmgr_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e->key);
			free(e);
		}
	}
	free(m->buckets);
	free(m);
}

static struct entry **
find_slot(const struct qmgr_map *m, const char *key, uint32_t h)
{
	struct entry **p = &m->buckets[h & (m->nbuckets - 1)];

	for (; *p; p = &(*p)->next)
		if ((*p)->hash == h && strcmp((*p)->key, key) == 0)
			break;
	return p;
}

void *
qmgr_map_get(const struct qmgr_map *m, const char *key)
{
	struct entry **p = find_slot(m, key, hash_key(key));

	return *p ? (*p)->value : NULL;
}

static void
grow(struct qmgr_map *m)
{
	size_t n = m->nbuckets * 2;
	struct entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < m->nbuckets; i++) {
		struct entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

void
qmgr_map_put(struct qmgr_map *m, const char *key, void *value)
{
	uint32_t h = hash_key(key);
	struct entry **p = find_slot(m, key, h), *e;

	if (*p) {
		(*p)->value = value;
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->value = value;
	e->hash = h;
	*p = e;
	if (++m->count > m->nbuckets)
		grow(m);
}

void *
qmgr_map_remove(struct qmgr_map *m, const char *key)
{
	struct entry **p = find_slot(m, key, hash_key(key)), *e = *p;
	void *value;

	if (e == NULL)
		return NULL;
	*p = e->next;
	value = e->value;
	free(e->key);
	free(e);
	m->count--;
	return value;
}

size_t
qmgr_map_count(const struct qmgr_map *m)
{
	return m->count;
}

void
qmgr_map_walk(
        const struct qmgr_map *m, void (*fn)(const char *key, void *value, void *arg), void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct entry *e = m->buckets[i]; e; e = e->next)
			fn(e->key, e->value, arg);
}
