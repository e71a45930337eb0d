#!/usr/bin/env bash
# s_socat.sh: socat on TCP (TCP-LISTEN/TCP) and AF_UNIX
# (UNIX-LISTEN/UNIX-CONNECT): an echo server (EXEC:cat) round trip, an
# upload (client to server file) and a download (server file to client),
# each with a 1.3 MB body; every received file byte-identical.
. "$(dirname "$0")/lib.sh"
need socat

A="$SC_TMP/a.txt"
seq 1 200000 >"$A"
T="timeout 30"

# one KIND LISTEN_ADDR CONNECT_ADDR: the three transfers over one kind.
one() {
    local kind=$1 listen=$2 connect=$3 rc
    # Round trip: the server echoes through cat; the client half-closes
    # after its input and waits for the echo to end.
    spawn "$kind-echo.log" $T socat -t 10 "$listen" EXEC:cat
    local srv=$SPAWNED
    $T socat -t 10 - "$connect,retry=100,interval=0.1" <"$A" >"$SC_TMP/$kind-echo.out" 2>"$SC_TMP/$kind-echo.err"
    rc=$?
    wait "$srv"
    case_line "socat_${kind}_echo" "$(same_file "$A" "$SC_TMP/$kind-echo.out"), client exit $rc, server exit $?"

    # Upload: client -> server, into a file.
    spawn "$kind-up.log" $T socat -u "$listen" "CREATE:$SC_TMP/$kind-up.out"
    srv=$SPAWNED
    $T socat -u "FILE:$A" "$connect,retry=100,interval=0.1" 2>"$SC_TMP/$kind-up.err"
    rc=$?
    wait "$srv"
    case_line "socat_${kind}_upload" "$(same_file "$A" "$SC_TMP/$kind-up.out"), client exit $rc, server exit $?"

    # Download: server file -> client.
    spawn "$kind-down.log" $T socat -u "FILE:$A" "$listen"
    srv=$SPAWNED
    $T socat -u "$connect,retry=100,interval=0.1" - >"$SC_TMP/$kind-down.out" 2>"$SC_TMP/$kind-down.err"
    rc=$?
    wait "$srv"
    case_line "socat_${kind}_download" "$(same_file "$A" "$SC_TMP/$kind-down.out"), client exit $rc, server exit $?"
    cat "$SC_TMP"/"$kind"-*.err "$SC_TMP"/"$kind"-*.log >&2 2>/dev/null
}

PORT=$(free_port)
one tcp "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$PORT"
PORT6=$(free_port)
one tcp6 "TCP6-LISTEN:$PORT6,bind=[::1],reuseaddr" "TCP6:[::1]:$PORT6"
SOCK="$SC_TMP/socat.sock"
one unix "UNIX-LISTEN:$SOCK,unlink-early" "UNIX-CONNECT:$SOCK"
