/*
 * local_alias.c - where expansions come from: alias_maps, :include:
 * files and .forward files, and how their items read.
 *
 * An item list is separated by commas (and, in files, by newlines, where
 * a line whose first non-blank is "#" is a comment); double quotes keep
 * commas and blanks inside one item and are removed.  An item is
 *
 *	|command	a command (local_command.c)
 *	/file		a file to append to; /dir/ a maildir
 *	:include:/file	more items from that file
 *	\user		user's own mailbox, not expanded again
 *	user, user@dom	an address (<...> around it is dropped)
 *
 * The privileges of an alias's commands and files are those of the owner
 * of the table's file (for cdb:/etc/tern/aliases, aliases.cdb), or
 * default_privs when that is root or the table has no file.
 *
 * Files are read as the identity the caller names (local_privs.c), so a
 * user's .forward cannot name a file that user could not read.  A
 * .forward is used only when it is a regular file (not a symbolic link),
 * owned by its user or by root, and not writable by group or others;
 * otherwise it is ignored with a warning, as sendmail and Postfix do.
 * Called by local_recipient.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "mem.h"
#include "msg.h"
#include "table.h"

#define INCLUDE_PREFIX "include:" /* after the first ":" */

/* ---- items ---- */

static int
blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
push_item(struct local_items *items, enum local_item_kind kind, const char *text, size_t len)
{
	while (len > 0 && blank((unsigned char)*text)) {
		text++;
		len--;
	}
	while (len > 0 && blank((unsigned char)text[len - 1]))
		len--;
	if (len == 0)
		return;
	if (items->n == items->cap) {
		items->cap = items->cap ? items->cap * 2 : 8;
		items->v = xreallocarray(items->v, items->cap, sizeof(*items->v));
	}
	items->v[items->n].kind = kind;
	items->v[items->n].text = xstrndup(text, len);
	items->n++;
}

/* One raw item, quotes already removed. */
static void
classify(struct local_items *items, const char *s, size_t len)
{
	while (len > 0 && blank((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && blank((unsigned char)s[len - 1]))
		len--;
	if (len == 0)
		return;
	if (s[0] == '|')
		push_item(items, LOCAL_ITEM_COMMAND, s + 1, len - 1);
	else if (s[0] == '/')
		push_item(items, LOCAL_ITEM_FILE, s, len);
	else if (len > 9 && s[0] == ':' && strncasecmp(s + 1, INCLUDE_PREFIX, 8) == 0)
		push_item(items, LOCAL_ITEM_INCLUDE, s + 9, len - 9);
	else if (s[0] == '\\')
		push_item(items, LOCAL_ITEM_NOEXPAND, s + 1, len - 1);
	else if (s[0] == '<' && len >= 2 && s[len - 1] == '>')
		push_item(items, LOCAL_ITEM_ADDRESS, s + 1, len - 2);
	else
		push_item(items, LOCAL_ITEM_ADDRESS, s, len);
}

void
local_items_parse(const char *text, int lines, struct local_items *items)
{
	struct str item = STR_INIT;
	int quoted = 0, line_start = 1;

	for (const char *p = text;; p++) {
		if (lines && line_start && !quoted) {
			const char *q = p;

			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '#') {
				while (*q && *q != '\n')
					q++;
				p = q;
			}
			line_start = 0;
		}
		if (*p == '\0' || (!quoted && (*p == ',' || (lines && *p == '\n')))) {
			classify(items, item.data ? item.data : "", item.len);
			str_reset(&item);
			if (*p == '\0')
				break;
			line_start = *p == '\n';
			continue;
		}
		if (*p == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\')) {
			str_appendc(&item, *++p);
			continue;
		}
		if (*p == '\n')
			line_start = 1;
		str_appendc(&item, *p);
	}
	str_free(&item);
}

void
local_items_free(struct local_items *items)
{
	for (size_t i = 0; i < items->n; i++)
		free(items->v[i].text);
	free(items->v);
	memset(items, 0, sizeof(*items));
}

/* ---- alias_maps ---- */

int
local_alias_lookup(
        const char *key, struct str *value, struct local_identity **privs, struct str *err)
{
	for (size_t i = 0; i < local_cfg.alias_maps.n; i++) {
		int rc = table_lookup(local_cfg.alias_maps.t[i], key, value, err);

		if (rc < 0)
			return -1;
		if (rc == 1) {
			*privs = local_identity_unroot(local_cfg.alias_privs[i]);
			return 1;
		}
	}
	return 0;
}

/* ---- files read as a user ---- */

struct read_task {
	const char *path;
	const struct local_identity *id;
	int forward;
};

/* The task's data: "A" (absent or ignored), or "F uid\n" and the text. */
static void
read_task(void *arg, struct local_result *res)
{
	struct read_task *t = arg;
	struct stat st;
	char buf[8192];
	ssize_t n;
	int fd;

	fd = open(t->path,
	        O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | (t->forward ? O_NOFOLLOW : 0));
	if (fd < 0) {
		if (t->forward && (errno == ENOENT || errno == ENOTDIR || errno == EACCES)) {
			if (errno == EACCES)
				msg_warn("cannot read %s: %m; ignored", t->path);
			local_result_set(res, LOCAL_SENT, "2.0.0", "absent");
			str_setz(&res->data, "A");
			return;
		}
		if (t->forward && errno == ELOOP) {
			msg_warn("%s is a symbolic link; ignored", t->path);
			local_result_set(res, LOCAL_SENT, "2.0.0", "ignored");
			str_setz(&res->data, "A");
			return;
		}
		local_result_set(res, errno == ENOENT ? LOCAL_BOUNCE : LOCAL_DEFER,
		        errno == ENOENT ? "5.3.0" : "4.3.0", "cannot open %s: %s", t->path,
		        strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		local_result_set(res, LOCAL_BOUNCE, "5.3.0", "%s is not a regular file", t->path);
		close(fd);
		return;
	}
	if (t->forward &&
	        ((st.st_uid != t->id->uid && st.st_uid != 0 &&
	                 !(local_cfg.unprivileged && st.st_uid == geteuid())) ||
	                (st.st_mode & 022) != 0)) {
		msg_warn("%s is not owned by %s or is writable by others; ignored", t->path,
		        *t->id->user ? t->id->user : "its user");
		local_result_set(res, LOCAL_SENT, "2.0.0", "ignored");
		str_setz(&res->data, "A");
		close(fd);
		return;
	}
	if (st.st_size > LOCAL_FILE_SIZE_MAX) {
		local_result_set(res, LOCAL_BOUNCE, "5.3.0", "%s is larger than %d bytes", t->path,
		        LOCAL_FILE_SIZE_MAX);
		close(fd);
		return;
	}
	str_reset(&res->data);
	str_printf(&res->data, "F %lu %lu\n", (unsigned long)st.st_uid, (unsigned long)st.st_gid);
	while ((n = read(fd, buf, sizeof(buf))) > 0 &&
	        res->data.len + (size_t)n <= LOCAL_FILE_SIZE_MAX + 64)
		str_append(&res->data, buf, (size_t)n);
	if (n < 0) {
		local_result_set(
		        res, LOCAL_DEFER, "4.3.0", "read %s: %s", t->path, strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	local_result_set(res, LOCAL_SENT, "2.0.0", "read");
}

int
local_read_file(const char *path, const struct local_identity *id, int forward, struct str *text,
        uid_t *uid, gid_t *gid, struct local_result *res)
{
	struct read_task t = {path, id, forward};
	const char *nl, *p;
	char *end;
	unsigned long u, g;

	local_run_as(id, 0, read_task, &t, res);
	if (res->status != LOCAL_SENT)
		return -1;
	if (res->data.len == 1 && res->data.data[0] == 'A')
		return 0;
	nl = res->data.data ? memchr(res->data.data, '\n', res->data.len) : NULL;
	if (res->data.len < 3 || res->data.data[0] != 'F' || res->data.data[1] != ' ' || nl == NULL)
		goto bad;
	p = res->data.data + 2;
	u = strtoul(p, &end, 10);
	if (end == p || *end != ' ')
		goto bad;
	p = end + 1;
	g = strtoul(p, &end, 10);
	if (end == p || end != nl)
		goto bad;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	str_set(text, nl + 1, res->data.len - (size_t)(nl + 1 - res->data.data));
	if (str_has_nul(text)) {
		local_result_set(res, LOCAL_BOUNCE, "5.3.0", "%s holds a NUL octet", path);
		return -1;
	}
	return 1;
bad:
	local_result_set(res, LOCAL_DEFER, "4.3.0", "reading %s: malformed result", path);
	return -1;
}
