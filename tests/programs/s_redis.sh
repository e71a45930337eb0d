#!/usr/bin/env bash
# s_redis.sh: redis-server on a TCP port and a unix socket, driven by
# redis-benchmark (ping, set, get; pipeline 1 and 16) and redis-cli.
. "$(dirname "$0")/lib.sh"
need redis-server redis-benchmark redis-cli

PORT=$(free_port)
SOCK="$SC_TMP/redis.sock"
spawn redis.log timeout 60 redis-server --port "$PORT" --bind 127.0.0.1 \
    --unixsocket "$SOCK" --unixsocketperm 700 --daemonize no --save '' \
    --appendonly no --dir "$SC_TMP" --logfile '' --protected-mode yes
SERVER=$SPAWNED

cli() { timeout 10 redis-cli "$@" 2>&1; }
ready=no
for _ in $(seq 1 100); do
    [ "$(cli -p "$PORT" ping)" = PONG ] && ready=yes && break
    sleep 0.1
done
case_line redis_ready_tcp "$ready"
[ "$ready" = yes ] || { cat "$SC_TMP/redis.log" >&2; sc_die "redis-server did not start"; }
wait_unix "$SOCK"
case_line redis_ready_unix "$(cli -s "$SOCK" ping)"

# bench NAME ARGS...: redis-benchmark in CSV; a run completed when it
# exits 0, prints a row for each of the four tests, and no error.
bench() {
    local name=$1 out="$SC_TMP/$1.out"
    shift
    timeout 40 redis-benchmark "$@" -t ping,set,get -n 2000 -c 20 --csv >"$out" 2>&1
    local rc=$? t missing=""
    for t in PING_INLINE PING_MBULK SET GET; do
        grep -q "^\"$t\"," "$out" || missing="$missing $t"
    done
    if [ "$rc" != 0 ]; then
        case_line "$name" "exit $rc"
    elif [ -n "$missing" ]; then
        case_line "$name" "missing:$missing"
    elif grep -qi 'error' "$out"; then
        case_line "$name" "errors"
    else
        case_line "$name" "completed, no errors"
    fi
    [ "$rc" = 0 ] && [ -z "$missing" ] || sed 's/^/  /' "$out" | head -20 >&2
}
bench redis_bench_tcp_p1 -h 127.0.0.1 -p "$PORT" -P 1
bench redis_bench_tcp_p16 -h 127.0.0.1 -p "$PORT" -P 16
bench redis_bench_unix_p1 -s "$SOCK" -P 1
bench redis_bench_unix_p16 -s "$SOCK" -P 16

# The benchmark's SET writes the one key "key:__rand_int__" (no -r).
case_line redis_dbsize "$(cli -p "$PORT" dbsize)"
value=$(head -c 3000 /dev/zero | tr '\0' 'v')
cli -p "$PORT" set scenario:key "$value" >/dev/null
[ "$(cli -s "$SOCK" get scenario:key)" = "$value" ]
case_line redis_set_tcp_get_unix "$([ $? = 0 ] && echo identical || echo different)"
case_line redis_incr "$(cli -p "$PORT" incr scenario:n) $(cli -s "$SOCK" incr scenario:n)"
case_line redis_dbsize_after "$(cli -s "$SOCK" dbsize)"

cli -p "$PORT" shutdown nosave >/dev/null
for _ in $(seq 1 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
wait "$SERVER"
case_line redis_shutdown "exit $?"
case_line redis_unix_socket_removed "$([ -e "$SOCK" ] && echo no || echo yes)"
