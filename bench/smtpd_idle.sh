#!/bin/sh
# bench/smtpd_idle.sh BUILD - IDLE (10000) sessions after EHLO, from
# source addresses spread over 127.0.0.0/8, with smtpd_connection_limit
# 20000: the total resident memory of the smtpd processes, and the time a
# fresh client needs for a full transaction meanwhile (targets: under
# 200 MiB, under 1 s).  Needs a descriptor limit above 2 * IDLE; the
# script raises its own soft limit to the hard limit.
set -eu
. "$(dirname "$0")/common.sh"
IDLE=${IDLE:-10000}

ulimit -n "$(ulimit -H -n)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE + 200)) ]; then
	echo "smtpd_idle: descriptor limit $(ulimit -n) is too low for $IDLE sessions" >&2
	exit 1
fi
bench_instance "${1:?usage: smtpd_idle.sh BUILD}" \
	"    -o smtpd_connection_limit=20000 -o smtpd_timeout=600s"
trap bench_stop EXIT
bench_start
base=$(bench_rss_kib smtpd)
out=$DIR/load.out
"$BUILD/bench/smtp_load" -p "$PORT" -i "$IDLE" -b 127.0.0.0/8 -w 10 -t root@tern.bench \
	> "$out" &
load=$!
i=0
until grep -q '^fresh_transaction' "$out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 1200 ] || ! kill -0 $load 2>/dev/null; then
		cat "$out" >&2
		echo "smtpd_idle: the load did not come up" >&2
		exit 1
	fi
	sleep 0.1
done
rss=$(bench_rss_kib smtpd)
procs=$(grep -c 'connect from' "$DIR/log/maillog" || true)
cat "$out"
echo "smtpd processes: $(ls -1 /proc | while read -r p; do [ "$(cat /proc/$p/comm 2>/dev/null)" = smtpd ] && tr '\0' ' ' < /proc/$p/cmdline | grep -q -- "$DIR/etc" && echo $p; done | wc -l)"
echo "connections logged: $procs"
echo "smtpd resident memory: $((rss / 1024)) MiB ($rss KiB; $base KiB before the sessions)"
wait $load || true
