/*
 * daemon.h - the skeleton every Tern daemon runs on, and its contract
 * with master.
 *
 * master starts a daemon as
 *
 *	command -C CONFDIR -n SERVICE -t inet|unix -s NLISTEN [-m] [-u] [-c]
 *		[-w] [-e] [-v] [-l ORIGIN] [-o name=value]... [-- service args...]
 *
 *	-C CONFDIR	the configuration directory (main.cf)
 *	-n SERVICE	the master.cf service name ("smtp", "127.0.0.1:2525")
 *	-t TYPE		inet or unix
 *	-s NLISTEN	listening sockets on descriptors DAEMON_LISTEN_FD ..
 *			DAEMON_LISTEN_FD + NLISTEN - 1; the status pipe is the
 *			next descriptor, DAEMON_LISTEN_FD + NLISTEN
 *	-m		read main.cf from descriptor DAEMON_LISTEN_FD + NLISTEN
 *			+ 1: master's copy of the main.cf it validated, so a
 *			daemon sees the configuration of master's last
 *			(re)load, never a file edited since
 *	-u		master.cf unpriv = y: drop to mail_owner (root mode)
 *	-c		master.cf chroot = y: chroot to queue_directory
 *	-w		the service has a wakeup timer: a connection whose first
 *			frame is request=wakeup is a wakeup, not a client (the
 *			daemon waits up to DAEMON_WAKEUP_WAIT_MS for the first
 *			octets and looks once: a sender writes the frame with
 *			one write(2); anything else goes to the service unread)
 *	-e		also log to standard error (master runs in the foreground)
 *	-l ORIGIN	where the service is defined ("master.cf:12"), the
 *			origin of its -o overrides in diagnostics
 *	-o name=value	a master.cf override of main.cf, in order
 *
 * Whatever follows "--" belongs to the service (ops->pre_jail).
 *
 * daemon_main() loads main.cf (CONFDIR/main.cf, or master's copy) and
 * the overrides, opens the log, calls ops->pre_jail (open tables,
 * certificates, resolver: everything the daemon will need), then, in root mode, chroots to queue_directory
 * when asked (-c) and switches to mail_owner (-u), and verifies the
 * switch.  In unprivileged mode (unprivileged_mode = yes) nothing
 * changes.  Sanitizer builds skip the chroot and say so in the log.
 * The working directory is queue_directory ("/" after a chroot), so
 * "private/NAME" names another service's socket either way.
 *
 * Two service models:
 *
 *   DAEMON_EVENT (smtpd, qmgr, anvil): one process, a libevent loop;
 *	ops->accept(fd) for each new connection on any listener (fd is
 *	non-blocking); the service calls daemon_session_end() when it
 *	closes a connection it was given.
 *   DAEMON_SINGLE (cleanup, trivial-rewrite, local, smtp, pickup): one
 *	connection at a time; ops->serve(fd) runs to completion (fd is
 *	blocking and is closed by the skeleton afterwards); the skeleton
 *	tells master whether the process is busy or idle, so master can
 *	start more processes, up to maxproc.  SIGTERM and SIGHUP stay
 *	blocked while ops->serve runs; daemon_stopping() tells a service
 *	that keeps a connection open between requests that it should end.
 *
 * Both exit after max_idle seconds without a connection or after
 * max_use connections (unless ops->flags has DAEMON_PERSISTENT).  On
 * SIGTERM a daemon stops accepting, finishes its current work and exits;
 * an event daemon's ops->stop is called at once and ops->expire when the
 * grace period (master_stop_grace, less one second) runs out, at which
 * point it must close its sessions.  SIGHUP (master's reload) is the same
 * without the deadline: live sessions continue until they end.  Every
 * table given to daemon_watch_table() is checked every
 * table_change_check_interval; when one changed, the daemon stops
 * accepting, finishes and exits, and master starts a fresh one.
 *
 * Status pipe: the daemon writes struct daemon_status records (one
 * write each, smaller than PIPE_BUF, so never interleaved): BUSY when a
 * single-model daemon takes a connection, AVAIL when it is done with it,
 * GONE when it will accept no more.  master counts a new process as
 * available until it says otherwise.  A failed write means master is
 * gone: the daemon finishes and exits.
 */
#ifndef TERN_DAEMON_H
#define TERN_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "str.h"

struct event_base;
struct table;

#define DAEMON_LISTEN_FD        3    /* first listening socket */
#define DAEMON_LISTEN_MAX       64   /* listening sockets per service */
#define DAEMON_TABLE_MAX        64   /* tables one daemon can watch */
#define DAEMON_WAKEUP_WAIT_MS   1000 /* wait for a wakeup frame after accept */
#define DAEMON_WAKEUP_FRAME_MAX 64   /* a wakeup frame is smaller than this */
#define DAEMON_OVERRIDE_MAX     256  /* -o overrides per service */

/* Status records on the pipe to master. */
enum daemon_state {
	DAEMON_STATUS_AVAIL = 1, /* ready for a connection */
	DAEMON_STATUS_BUSY = 2,  /* serving; cannot take another */
	DAEMON_STATUS_GONE = 3,  /* accepts no more; will exit */
};

struct daemon_status {
	int32_t pid;
	int32_t state; /* enum daemon_state */
};

enum daemon_model {
	DAEMON_SINGLE,
	DAEMON_EVENT,
};

/* ops->flags */
#define DAEMON_PERSISTENT 0x01 /* never exit for max_idle or max_use (qmgr, anvil) */

struct daemon_ops {
	enum daemon_model model;
	int flags;
	/* Before chroot and the privilege switch; argc/argv are the service
	 * arguments after "--" (argv[0] is the program name). */
	void (*pre_jail)(int argc, char **argv);
	/* After the switch, before the first connection.  May be NULL. */
	void (*post_jail)(void);
	/* DAEMON_SINGLE: serve one connection, blocking. */
	void (*serve)(int fd);
	/* DAEMON_EVENT: take a new non-blocking connection. */
	void (*accept)(int fd);
	/* A request=wakeup frame arrived (master's timer, pickup, postdrop).
	 * May be NULL: the wakeup is then only logged in verbose mode. */
	void (*wakeup)(void);
	/* DAEMON_EVENT: the daemon stopped accepting (SIGTERM, SIGHUP, a
	 * changed table, max_use); finish and call daemon_session_end().
	 * reason is for the log.  May be NULL. */
	void (*stop)(const char *reason);
	/* DAEMON_EVENT: the grace period is over: close every session now.
	 * May be NULL. */
	void (*expire)(void);
};

/* Run the daemon; returns the process exit status. */
int daemon_main(int argc, char **argv, const struct daemon_ops *ops);

/* The service's name, type ("inet"/"unix") and the loop of an event
 * daemon (created before pre_jail, so services can register early). */
const char *daemon_service(void);
const char *daemon_type(void);
struct event_base *daemon_event_base(void);

/* Watch a table opened in pre_jail (at most DAEMON_TABLE_MAX). */
void daemon_watch_table(struct table *t);

/* DAEMON_EVENT: a connection given to ops->accept is finished. */
void daemon_session_end(void);

/* DAEMON_EVENT: work the service started itself (qmgr's connection to a
 * delivery agent) that a stop must wait for as for a session; ended
 * with daemon_session_end(). */
void daemon_session_begin(void);

/* The configuration directory (-C), for files other than main.cf. */
const char *daemon_confdir(void);

/* The service asks to finish its work and exit (event: after its
 * sessions end; single: after the current connection). */
void daemon_stop(const char *reason);

/* 1 once the daemon has stopped accepting, or, in the single model, when
 * SIGTERM or SIGHUP waits for ops->serve to return: a service that keeps
 * a connection open between requests checks this and ends it. */
int daemon_stopping(void);

/*
 * Send request=wakeup to the UNIX socket at path without blocking:
 * connect, write one frame, close.  Returns 0, or -1 with the reason in
 * err (no such socket, nobody listening, backlog full).
 */
int daemon_wakeup_send(const char *path, struct str *err);

/* 1 when buf[0..len) starts with a frame request=wakeup (its length in
 * *used), 0 when it starts with something else, -1 when more octets are
 * needed to tell. */
int daemon_wakeup_frame(const char *buf, size_t len, size_t *used);

#endif
