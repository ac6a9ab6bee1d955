#!/bin/sh
# bench/smtpd_accept.sh BUILD - messages per second that smtpd accepts,
# each answered 250 only after cleanup's durable commit (fsync of the
# file and of incoming/).  SESSIONS (20) parallel sessions send MESSAGES
# (2000) messages of SIZE (4096) octets with bench/smtp_load.c.
set -eu
. "$(dirname "$0")/common.sh"
SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-4096}

bench_instance "${1:?usage: smtpd_accept.sh BUILD}" ""
trap bench_stop EXIT
bench_start
echo "smtpd acceptance: $SESSIONS sessions, $MESSAGES messages of $SIZE octets"
"$BUILD/bench/smtp_load" -p "$PORT" -s "$SESSIONS" -m "$MESSAGES" -z "$SIZE" \
	-t root@tern.bench
queued=$(ls "$DIR/spool/incoming" | grep -vc '^tmp\.' || true)
echo "queue files committed: $queued"
