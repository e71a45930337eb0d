#!/usr/bin/env bash
# s_netcat.sh: netcat-openbsd on TCP (v4 and v6) and AF_UNIX (-U): an
# upload (the client sends a file and half-closes with -N) and a download
# (the listener sends one); every received file byte-identical. (Both
# directions on one connection is not a case: nc quits when the network
# side ends, so how much of the listener's file goes out is a race.)
. "$(dirname "$0")/lib.sh"
need nc
nc -h 2>&1 | grep -q OpenBSD || sc_die "nc is not netcat-openbsd (make deps)"

A="$SC_TMP/a.txt" B="$SC_TMP/b.txt" SOCK=""
seq 1 200000 >"$A"
seq 300000 -1 100000 >"$B"
T="timeout 30"

# one KIND LISTEN_ARGS... -- CONNECT_ARGS...
one() {
    local kind=$1 rc srv
    shift
    local listen=() connect=()
    while [ "$1" != -- ]; do listen+=("$1"); shift; done
    shift
    connect=("$@")

    # Upload: the client sends A and half-closes; the server only receives.
    [ -z "$SOCK" ] || rm -f "$SOCK"
    $T nc -l -d "${listen[@]}" >"$SC_TMP/$kind-up.srv" 2>"$SC_TMP/$kind-up.err" &
    srv=$!
    SC_PIDS+=("$srv")
    retry 100 $T nc -N "${connect[@]}" <"$A" >/dev/null 2>>"$SC_TMP/$kind-up.err"
    rc=$?
    wait "$srv"
    case_line "nc_${kind}_upload" "$(same_file "$A" "$SC_TMP/$kind-up.srv"), client exit $rc, server exit $?"

    # Download: the server sends B and closes; the client only receives.
    [ -z "$SOCK" ] || rm -f "$SOCK"
    $T nc -N -l "${listen[@]}" <"$B" >/dev/null 2>"$SC_TMP/$kind-down.err" &
    srv=$!
    SC_PIDS+=("$srv")
    retry 100 $T nc -d "${connect[@]}" >"$SC_TMP/$kind-down.cli" 2>>"$SC_TMP/$kind-down.err"
    rc=$?
    wait "$srv"
    case_line "nc_${kind}_download" "$(same_file "$B" "$SC_TMP/$kind-down.cli"), client exit $rc, server exit $?"
    cat "$SC_TMP/$kind"-*.err >&2
}

PORT=$(free_port)
one tcp 127.0.0.1 "$PORT" -- 127.0.0.1 "$PORT"
PORT=$(free_port)
one tcp6 -6 ::1 "$PORT" -- -6 ::1 "$PORT"
# nc -l -U leaves its socket file behind: `one` removes it before each listener.
SOCK="$SC_TMP/nc.sock"
one unix -U "$SOCK" -- -U "$SOCK"
