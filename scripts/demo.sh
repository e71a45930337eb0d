#!/usr/bin/env bash
# The seed conversation: server and client, two unmodified processes, on the
# emulated stack, stdin scripted. Then the same run under strace, to show
# that neither program made a kernel socket.
set -euo pipefail
cd "$(dirname "$0")/.."
SHIM="$PWD/target/release/libnetshim.so"
BIN=tests/c/build
export NETSHIM_NS="demo-$$"
PORT=${PORT:-7777}

conversation() {
    local wrap="$1"
    # The server answers each message with the next line of its stdin.
    ( printf 'hello, client\nsee you\n' | $wrap env LD_PRELOAD="$SHIM" "$BIN/server" 127.0.0.1 "$PORT" \
        | sed -u 's/^/[server] /' ) &
    local srv=$!
    sleep 0.5
    printf 'hello, server\nhow are you?\nq\n' | $wrap env LD_PRELOAD="$SHIM" "$BIN/client" 127.0.0.1 "$PORT" \
        | sed -u 's/^/[client] /'
    sleep 0.3
    kill "$srv" 2>/dev/null || true
    pkill -f "$BIN/server 127.0.0.1 $PORT" 2>/dev/null || true
    wait 2>/dev/null || true
}

echo "== the seed server and client on the emulated stack (namespace $NETSHIM_NS)"
conversation ""
echo
echo "== the same under strace: socket-family system calls made by either program"
trace=$(mktemp)
conversation "strace -f -qq -o $trace -e trace=socket,socketpair" >/dev/null
if grep -E 'socket(pair)?\((AF_INET|AF_INET6|AF_UNIX|AF_LOCAL)' "$trace"; then
    echo "FAIL: a kernel socket was created"; rm -f "$trace"; exit 1
fi
echo "none: no socket(AF_INET...) or socket(AF_UNIX...) reached the kernel"
rm -f "$trace" "/dev/shm/netshim-$(id -u)-$NETSHIM_NS.v1"
