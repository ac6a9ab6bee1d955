# bench/common.sh - shared by the bench scripts: a throw-away Tern
# instance under /tmp in unprivileged mode, on a free loopback port.
#
#	. bench/common.sh
#	bench_instance BUILD "master.cf lines for the listener"   sets DIR, PORT
#	bench_start; ...; bench_stop
#
# Never touches an installed Tern; the instance and its queue are removed
# by bench_stop (set BENCH_KEEP=1 to keep them).

bench_free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_instance() {
	BUILD=$1
	DIR=$(mktemp -d /tmp/tern-bench.XXXXXX)
	PORT=$(bench_free_port)
	mkdir -p "$DIR/etc" "$DIR/log"
	cat > "$DIR/etc/main.cf" <<MAIN
unprivileged_mode = yes
queue_directory = $DIR/spool
drop_directory = $DIR/drop
maillog_file = $DIR/log/maillog
daemon_directory = $BUILD/bin
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = tern.bench
mydestination = tern.bench, localhost
alias_maps =
queue_minfree = 10m
master_stop_grace = 5s
MAIN
	printf '127.0.0.1:%s inet n - n - - smtpd\n%s\n' "$PORT" "$2" > "$DIR/etc/master.cf"
	cat >> "$DIR/etc/master.cf" <<MASTER
cleanup unix - - n - 0 cleanup
rewrite unix - - n - - trivial-rewrite
MASTER
}

bench_start() {
	"$BUILD/bin/tern" -c "$DIR/etc" start
	i=0
	while [ ! -S "$DIR/spool/private/cleanup" ] || [ ! -S "$DIR/spool/private/rewrite" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "bench: the instance did not start" >&2; exit 1; }
		sleep 0.1
	done
}

bench_stop() {
	"$BUILD/bin/tern" -c "$DIR/etc" stop >/dev/null 2>&1 || true
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$DIR"
}

# Total resident memory (KiB) of the instance's processes named $1.
bench_rss_kib() {
	total=0
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = "$1" ] || continue
		tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "$DIR/etc" || continue
		rss=$(awk '/^VmRSS:/ { print $2 }' "$p/status" 2>/dev/null)
		total=$((total + ${rss:-0}))
	done
	echo "$total"
}
