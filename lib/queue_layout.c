/*
 * queue_layout.c - create the queue directories with their owners and
 * modes; see queue_layout.h.
 *
 * Trusts its caller's paths (from main.cf); trusts nothing it finds on
 * disk: entries are examined with lstat, so a symbolic link planted in
 * the queue is refused, never followed.  Called by tern setup and master.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_layout.h"

enum dir_owner {
	OWN_ROOT,
	OWN_OWNER,
	OWN_OWNER_SETGID,
};

struct queue_dir_def {
	const char *name;
	mode_t mode;
	enum dir_owner owner;
};

static const struct queue_dir_def queue_dirs[] = {
        {"maildrop", 01730, OWN_OWNER_SETGID},
        {"public", 02710, OWN_OWNER_SETGID},
        {"private", 0700, OWN_OWNER},
        {"incoming", 0700, OWN_OWNER},
        {"active", 0700, OWN_OWNER},
        {"deferred", 0700, OWN_OWNER},
        {"hold", 0700, OWN_OWNER},
        {"corrupt", 0700, OWN_OWNER},
        {"pid", 0755, OWN_ROOT},
};

static int
fail(const char *path, struct str *err)
{
	str_printf(err, "%s: %s", path, strerror(errno));
	return -1;
}

/* mkdir -p for the parents of a top-level directory, mode 0755. */
static int
make_parents(const char *path, struct str *err)
{
	struct str p = STR_INIT;
	int rc = 0;

	str_appendz(&p, path);
	for (size_t i = 1; i < p.len && rc == 0; i++) {
		if (p.data[i] != '/')
			continue;
		p.data[i] = '\0';
		if (mkdir(p.data, 0755) < 0 && errno != EEXIST)
			rc = fail(p.data, err);
		p.data[i] = '/';
	}
	str_free(&p);
	return rc;
}

static int
make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, int set_owner, int fix_existing,
        struct str *err)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno != ENOENT)
			return fail(path, err);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return fail(path, err);
		fix_existing = 1;
		if (lstat(path, &st) < 0)
			return fail(path, err);
	}
	if (!S_ISDIR(st.st_mode)) {
		str_printf(err, "%s: exists and is not a directory", path);
		return -1;
	}
	if (!fix_existing)
		return 0;
	if (set_owner && (st.st_uid != uid || st.st_gid != gid) && chown(path, uid, gid) < 0)
		return fail(path, err);
	/* chown clears set-group-ID: the mode comes after it. */
	if (chmod(path, mode) < 0)
		return fail(path, err);
	return 0;
}

int
queue_layout_create(
        const char *queue_dir, const char *drop_dir, const struct queue_owner *o, struct str *err)
{
	struct str path = STR_INIT;
	int rc;

	if (make_parents(queue_dir, err) < 0)
		return -1;
	if (make_dir(queue_dir, 0755, 0, 0, o->root_mode, 1, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(queue_dirs) / sizeof(queue_dirs[0]); i++) {
		const struct queue_dir_def *d = &queue_dirs[i];
		uid_t uid = d->owner == OWN_ROOT ? 0 : o->owner_uid;
		gid_t gid = d->owner == OWN_ROOT       ? 0
		        : d->owner == OWN_OWNER_SETGID ? o->setgid_gid
		                                       : o->owner_gid;

		str_reset(&path);
		str_printf(&path, "%s/%s", queue_dir, d->name);
		rc = make_dir(str_cstr(&path), d->mode, uid, gid, o->root_mode, 1, err);
		if (rc < 0) {
			str_free(&path);
			return -1;
		}
	}
	str_free(&path);
	if (drop_dir && *drop_dir) {
		if (make_parents(drop_dir, err) < 0)
			return -1;
		if (make_dir(drop_dir, 0755, 0, 0, o->root_mode, 0, err) < 0)
			return -1;
	}
	return 0;
}
