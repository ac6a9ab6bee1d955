/*
 * local_path.c - mailbox paths that cannot leave the Drop.
 *
 * A mailbox is a trusted base directory (drop_directory, a home
 * directory, mail_spool_directory: the administrator's, so symbolic
 * links in it are followed) and components below it that come from a
 * map or from an address.  Components never hold "/" and are never "."
 * or ".."; they are opened one by one with O_NOFOLLOW relative to the
 * previous one, so neither a crafted address nor a link planted in a
 * mailbox tree can make a write land outside the base.
 *
 * The encoding of an address part (local_path_encode) is the only way
 * an address becomes a path: see local.h and docs/local.md.  Called by
 * local_recipient.c and the delivery files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "mem.h"
#include "msg.h"

#define PATH_DIR_MODE  0755 /* directories on the way to a mailbox */
#define PATH_LAST_MODE 0700 /* the mailbox directory itself */

static int
keep_octet(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	        c == '+' || c == '=' || c == '.';
}

int
local_path_encode(const char *name, size_t len, struct str *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = out->len;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (keep_octet(c) && !(i == 0 && c == '.')) {
			str_appendc(out, c);
		} else {
			str_appendc(out, '%');
			str_appendc(out, hex[c >> 4]);
			str_appendc(out, hex[c & 15]);
		}
	}
	if (out->len - start > LOCAL_NAME_MAX) {
		str_truncate(out, start);
		return -1;
	}
	return 0;
}

void
local_path_push(struct local_path *p, const char *component)
{
	p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
	p->v[p->n++] = xstrdup(component);
}

void
local_path_free(struct local_path *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

int
local_path_parse(const char *value, const char *base, struct local_path *p, struct str *why)
{
	size_t blen = strlen(base);
	const char *s = value, *e;

	while (blen > 1 && base[blen - 1] == '/')
		blen--;
	if (*s == '/') {
		if (strncmp(s, base, blen) != 0 || (s[blen] != '/' && s[blen] != '\0')) {
			str_printf(why, "mailbox path \"%s\" is outside %s", value, base);
			return -1;
		}
		s += blen;
	}
	for (; *s; s = e) {
		size_t len;

		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
		for (e = s; *e && *e != '/'; e++)
			;
		len = (size_t)(e - s);
		if (len == 1 && s[0] == '.')
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			str_printf(why, "mailbox path \"%s\" holds \"..\"", value);
			local_path_free(p);
			return -1;
		}
		if (len > LOCAL_NAME_MAX) {
			str_printf(why, "mailbox path \"%s\" has a component over %d octets", value,
			        LOCAL_NAME_MAX);
			local_path_free(p);
			return -1;
		}
		p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
		p->v[p->n++] = xstrndup(s, len);
	}
	if (p->n == 0) {
		str_printf(why, "mailbox path \"%s\" names no directory below %s", value, base);
		local_path_free(p);
		return -1;
	}
	return 0;
}

int
local_fsync_dir(int dirfd)
{
	int rc;

	while ((rc = fsync(dirfd)) < 0 && errno == EINTR)
		;
	/* Some file systems cannot fsync a directory; that is not a failure. */
	if (rc < 0 && (errno == EINVAL || errno == EROFS))
		rc = 0;
	return rc;
}

int
local_path_open(const char *base, const struct local_path *p, int create,
        const struct local_identity *owner, struct str *err)
{
	int fd, next, saved;

	if ((fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		saved = errno;
		str_printf(err, "open %s: %s", base, strerror(saved));
		errno = saved;
		return -1;
	}
	for (size_t i = 0; i < p->n; i++) {
		int last = i + 1 == p->n, made = 0;

		next = openat(fd, p->v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, p->v[i], last ? PATH_LAST_MODE : PATH_DIR_MODE) == 0)
				made = 1;
			else if (errno != EEXIST)
				goto fail;
			if (made && local_fsync_dir(fd) < 0)
				goto fail;
			next = openat(fd, p->v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0)
			goto fail;
		if (made && last && owner != NULL && owner->switch_ids &&
		        fchown(next, owner->uid, owner->gid) < 0) {
			saved = errno;
			close(next);
			errno = saved;
			goto fail;
		}
		close(fd);
		fd = next;
	}
	return fd;

fail:
	saved = errno;
	str_printf(err, "%s %s", create ? "create" : "open", base);
	for (size_t i = 0; i < p->n; i++)
		str_printf(err, "/%s", p->v[i]);
	str_printf(err, ": %s",
	        saved == ELOOP || saved == ENOTDIR
	                ? "a component is a symbolic link or not a directory"
	                : strerror(saved));
	close(fd);
	errno = saved;
	return -1;
}

void
local_mailbox_init(struct local_mailbox *mb)
{
	memset(mb, 0, sizeof(*mb));
}

void
local_mailbox_free(struct local_mailbox *mb)
{
	local_path_free(&mb->path);
	str_free(&mb->display);
	str_free(&mb->domain_dir);
	local_identity_free(mb->owner);
	memset(mb, 0, sizeof(*mb));
}
