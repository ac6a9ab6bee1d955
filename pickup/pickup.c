/*
 * pickup.c - the pickup daemon: takes local submissions from maildrop/
 * and from the Pickup folder to cleanup.
 *
 * master.cf: "pickup unix n - - 60 1 pickup": the socket is public/pickup
 * (postdrop, run by any user through its setgid group, wakes pickup
 * there), the process runs as mail_owner chrooted into the queue
 * directory, master wakes it every 60 seconds and once at start, one
 * process at a time.  Each wakeup is one scan: maildrop/ first, then
 * pickup_directory.  A scan stops at the first temporary failure (cleanup
 * not running, say) and the next wakeup tries again, so mail submitted
 * while the system was down goes out once it runs.  Every
 * PICKUP_SWEEP_INTERVAL the scan also removes maildrop/ temporaries that
 * a killed postdrop left (older than temporary_file_max_age).
 *
 * Trusts nothing it reads (pickup.h); connections to public/pickup other
 * than wakeups are closed unread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "daemon.h"
#include "msg.h"
#include "pickup.h"
#include "queue_dir.h"

int pickup_root_mode;
int pickup_ipc_timeout_ms;
static long long temp_max_age;
static time_t last_sweep;

static void
pre_jail(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pickup_root_mode = !config_bool(cfg, "unprivileged_mode");
	pickup_ipc_timeout_ms = (int)(config_time(cfg, "ipc_timeout") * 1000);
	temp_max_age = config_time(cfg, "temporary_file_max_age");
	(void)pickup_folder_open(config_str(cfg, "pickup_directory"));
}

static void
sweep(void)
{
	struct str err = STR_INIT;
	unsigned long removed = 0;
	time_t now = time(NULL);

	if (last_sweep != 0 && now - last_sweep < PICKUP_SWEEP_INTERVAL)
		return;
	last_sweep = now;
	if (queue_dir_sweep(".", QUEUE_FOLDER_MAILDROP, temp_max_age, now, &removed, &err) !=
	        QUEUE_OK)
		msg_warn("sweep of maildrop/: %s", str_cstr(&err));
	str_free(&err);
}

static void
scan(void)
{
	sweep();
	if (pickup_maildrop_scan() == 0)
		(void)pickup_folder_scan();
}

/* A connection that is not a wakeup: nothing to say to it. */
static void
serve(int fd)
{
	(void)fd;
}

int
main(int argc, char **argv)
{
	static const struct daemon_ops ops = {
	        .model = DAEMON_SINGLE,
	        .pre_jail = pre_jail,
	        .serve = serve,
	        .wakeup = scan,
	};

	return daemon_main(argc, argv, &ops);
}

static int
name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
pickup_take_names(char **names, size_t n, int (*take)(const char *name))
{
	int rc = 0;

	if (n > 1)
		qsort(names, n, sizeof(*names), name_order);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && !daemon_stopping())
			rc = take(names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}
