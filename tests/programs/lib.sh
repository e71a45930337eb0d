# lib.sh: sourced by every scenario script of this folder (s_*.sh).
#
# A scenario runs real programs (servers and their clients) and prints one
# "<case>: <result>" line per fact it checked (tests/c/tcase.h): results are
# facts ("completed, no errors", "identical", "200 only"), never timings,
# rates, ports, pids or request counts that vary. It exits 0 when it ran to
# its end, whatever the facts were; a set-up failure (a program missing, a
# server that never came up) exits non-zero.
#
# The harness runs each scenario twice, on the kernel and under the shim
# (LD_PRELOAD + a fresh NETSHIM_NS, inherited by every program the script
# starts), one run after the other. So a scenario chooses its port afresh
# each run (free_port), keeps its files in a temporary directory of its own
# ($SC_TMP), bounds every step with a timeout, and on any exit kills what it
# started (by pid) and removes $SC_TMP. Servers never daemonize.
#
# Helpers: case_line, need, free_port, spawn, stop, wait_tcp, wait_unix,
# retry, same_file.

set -u
export LC_ALL=C

SC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/netshim-scenario.XXXXXX") || exit 2
SC_PIDS=()
# Python from Debian's package when there is one (a version manager's
# shim script in PATH would add processes and start-up time).
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

sc_cleanup() {
    local p
    for p in "${SC_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for p in "${SC_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${SC_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$SC_TMP"
}
trap sc_cleanup EXIT
trap 'exit 3' INT TERM HUP

# case_line NAME RESULT: one case of the protocol.
case_line() { printf '%s: %s\n' "$1" "$2"; }

# sc_die MESSAGE: the scenario cannot go on (stderr, exit 2).
sc_die() {
    echo "${0##*/}: $*" >&2
    exit 2
}

# need PROGRAM...: every program must be installed (`make deps`).
need() {
    local p
    for p in "$@"; do
        command -v "$p" >/dev/null 2>&1 || sc_die "$p is not installed (make deps)"
    done
}

# free_port: a TCP port in 20000-31999 (below the ephemeral range) that no
# kernel socket uses. Under the shim the namespace is fresh, so any port is
# free there; the kernel check keeps the native run clear of other users.
free_port() {
    local port hex used
    for _ in $(seq 1 200); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        hex=$(printf ':%04X ' "$port")
        used=$(cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null | grep -c -- "$hex")
        if [ "$used" = 0 ]; then
            echo "$port"
            return 0
        fi
    done
    sc_die "no free port"
}

# spawn LOG COMMAND...: starts COMMAND in the background, stdout and stderr
# to $SC_TMP/LOG, stdin from /dev/null; remembers its pid (in $SPAWNED too).
spawn() {
    local log="$SC_TMP/$1"
    shift
    "$@" </dev/null >"$log" 2>&1 &
    SPAWNED=$!
    SC_PIDS+=("$SPAWNED")
}

# stop PID: SIGTERM, then SIGKILL after 3 s; prints nothing, returns the
# exit status (143 for SIGTERM's default action).
stop() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# wait_tcp PORT [HOST]: until a connect succeeds (10 s). The probe opens
# and closes one connection: only for servers that accept many.
wait_tcp() {
    local port=$1 host=${2:-127.0.0.1}
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# wait_unix PATH: until the socket file exists (10 s).
wait_unix() {
    for _ in $(seq 1 100); do
        [ -S "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# retry N COMMAND...: runs COMMAND until it succeeds, at most N times,
# 0.1 s apart (for a client whose server may not listen yet).
retry() {
    local n=$1 rc=1
    shift
    for _ in $(seq 1 "$n"); do
        "$@" && return 0
        rc=$?
        sleep 0.1
    done
    return "$rc"
}

# same_file A B: "identical" or "different (<sizes>)".
same_file() {
    if cmp -s "$1" "$2"; then
        echo identical
    else
        echo "different ($(stat -c %s "$1" 2>/dev/null || echo none) vs $(stat -c %s "$2" 2>/dev/null || echo none) bytes)"
    fi
}
