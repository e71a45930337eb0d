#!/usr/bin/env bash
# s_seed.sh: the seed programs of tests/c (server/client on 127.0.0.1, on
# 0.0.0.0 and on ::1, unix_server/unix_client on a path and an abstract
# name) holding their scripted conversation, and prefork_server (4 forked
# workers accepting on one listener) answering 4 concurrent seed clients.
. "$(dirname "$0")/lib.sh"
BIN="$SC_DIR/../c/build"
for p in server client unix_server unix_client prefork_server; do
    [ -x "$BIN/$p" ] || sc_die "$BIN/$p is missing (make build)"
done

ABS="@netshim-seed-$$-$RANDOM"

# The client's prompts and the replies it printed, on one line.
flat() { tr -d '\0' | sed -e 's/you say: //g' -e "s|$SC_TMP|<tmp>|g" -e "s|$ABS|@<name>|g" | paste -sd '|'; }

# wait_unix_listen NAME: until a connect to the path or @abstract name works.
wait_unix_listen() {
    retry 100 "$PY" -c '
import socket, sys
n = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.connect("\0" + n[1:] if n.startswith("@") else n)' "$1" 2>/dev/null
}

# conversation KIND SERVER_CMD... -- CLIENT_CMD...
conversation() {
    local kind=$1 srv rc
    shift
    local scmd=() ccmd=()
    while [ "$1" != -- ]; do scmd+=("$1"); shift; done
    shift
    ccmd=("$@")
    printf 'answer one\nanswer two\nanswer three\n' >"$SC_TMP/$kind.answers"
    timeout 30 "${scmd[@]}" <"$SC_TMP/$kind.answers" >"$SC_TMP/$kind.srv" 2>"$SC_TMP/$kind.srverr" &
    srv=$!
    SC_PIDS+=("$srv")
    if [ "$kind" = tcp ] || [ "$kind" = tcpany ] || [ "$kind" = tcp6 ]; then
        wait_tcp "${scmd[-1]}" "${scmd[-2]}"
    else
        wait_unix_listen "${scmd[-1]}"
    fi
    printf 'hello one\nhello two\nhello three\nq\n' \
        | timeout 30 "${ccmd[@]}" >"$SC_TMP/$kind.cli" 2>"$SC_TMP/$kind.clierr"
    rc=$?
    case_line "seed_${kind}_client" "$(flat <"$SC_TMP/$kind.cli"), exit $rc"
    # The server waits for a fourth client; its stdin has no fourth answer,
    # so it exits 0 at that client's message.
    printf 'bye\nq\n' | timeout 30 "${ccmd[@]}" >/dev/null 2>&1
    wait "$srv"
    rc=$?
    case_line "seed_${kind}_server" "$(flat <"$SC_TMP/$kind.srv"), exit $rc"
    cat "$SC_TMP/$kind.srverr" "$SC_TMP/$kind.clierr" >&2
}

PORT=$(free_port)
conversation tcp "$BIN/server" 127.0.0.1 "$PORT" -- "$BIN/client" 127.0.0.1 "$PORT"
PORT=$(free_port)
conversation tcpany "$BIN/server" 0.0.0.0 "$PORT" -- "$BIN/client" 127.0.0.1 "$PORT"
PORT=$(free_port)
conversation tcp6 "$BIN/server" ::1 "$PORT" -- "$BIN/client" ::1 "$PORT"
conversation unix "$BIN/unix_server" "$SC_TMP/seed.sock" -- "$BIN/unix_client" "$SC_TMP/seed.sock"
conversation abstract "$BIN/unix_server" "$ABS" -- "$BIN/unix_client" "$ABS"

# --- prefork_server: 4 workers on one listener, 4 concurrent clients --------
PORT=$(free_port)
spawn prefork.out timeout 60 "$BIN/prefork_server" 127.0.0.1 "$PORT" 4
PRE=$SPAWNED
for _ in $(seq 1 100); do grep -q listening "$SC_TMP/prefork.out" && break; sleep 0.1; done
case_line prefork_listening "$(grep -c listening "$SC_TMP/prefork.out")"
for c in 1 2 3 4; do
    for m in 1 2 3 4 5; do echo "client $c message $m"; done >"$SC_TMP/pf$c.in"
    echo q >>"$SC_TMP/pf$c.in"
    timeout 30 "$BIN/client" 127.0.0.1 "$PORT" <"$SC_TMP/pf$c.in" >"$SC_TMP/pf$c.out" 2>"$SC_TMP/pf$c.err" &
    SC_PIDS+=($!)
done
ok=0
for c in 1 2 3 4; do
    wait "${SC_PIDS[-$c]}" && ok=$((ok + 1))
done
good=0
for c in 1 2 3 4; do
    for m in 1 2 3 4 5; do
        grep -q "127.0.0.1 say: echo: client $c message $m\$" <(tr -d '\0' <"$SC_TMP/pf$c.out" | sed 's/you say: //g') && good=$((good + 1))
    done
done
case_line prefork_clients "$ok of 4 exited 0, $good of 20 replies right"
kill -TERM "$PRE"
wait "$PRE"
rc=$?
case_line prefork_stop "$(grep prefork: "$SC_TMP/prefork.out"), exit $rc"
cat "$SC_TMP"/pf*.err >&2
