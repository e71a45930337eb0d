#!/usr/bin/env bash
# s_memcached.sh: memcached (2 worker threads) on TCP and on a unix socket;
# a Python client doing set/get round trips of small and large values,
# multi-get, incr and delete over several connections, and an nc session
# of the text protocol.
. "$(dirname "$0")/lib.sh"
need memcached nc

user=()
[ "$(id -u)" = 0 ] && user=(-u "$(id -un)")

cat >"$SC_TMP/client.py" <<'PYEOF'
import socket, sys

kind, where, prefix = sys.argv[1], sys.argv[2], sys.argv[3]

def connect():
    if kind == "tcp":
        s = socket.create_connection(("127.0.0.1", int(where)), timeout=10)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(where)
    return s, s.makefile("rb")

def cmd(s, f, line, data=None):
    s.sendall(line + b"\r\n" + (data + b"\r\n" if data is not None else b""))
    return f.readline()

def get(s, f, *keys):
    s.sendall(b"get " + b" ".join(keys) + b"\r\n")
    out = {}
    while True:
        line = f.readline()
        if line == b"END\r\n":
            return out
        _, key, _, n = line.split()
        out[key] = f.read(int(n) + 2)[:-2]

conns = [connect() for _ in range(4)]
ok = 0
total = 0
for i in range(200):
    s, f = conns[i % 4]
    key = b"%s:k%d" % (prefix.encode(), i)
    val = bytes((i * 31 + j) % 256 for j in range(i * 5))
    total += 2
    ok += cmd(s, f, b"set %s 0 0 %d" % (key, len(val)), val) == b"STORED\r\n"
    s2, f2 = conns[(i + 1) % 4]
    ok += get(s2, f2, key) == {key: val}
print(f"memcached_{kind}_set_get: {ok} of {total} round trips ok")

s, f = conns[0]
big = bytes((j * 7) % 253 for j in range(500000))
r1 = cmd(s, f, b"set big 0 0 %d" % len(big), big)
s2, f2 = conns[3]
print(f"memcached_{kind}_big_value: {r1.strip().decode()}, {'identical' if get(s2, f2, b'big') == {b'big': big} else 'different'}")
keys = [b"%s:k%d" % (prefix.encode(), i) for i in range(0, 200, 10)]
got = get(s, f, *keys)
print(f"memcached_{kind}_multiget: {len(got)} of {len(keys)} keys")
cmd(s, f, b"set n 0 0 1", b"5")
print(f"memcached_{kind}_incr: {cmd(s, f, b'incr n 37').strip().decode()}")
print(f"memcached_{kind}_delete: {cmd(s, f, b'delete n').strip().decode()} then {get(s2, f2, b'n')}")
for s, f in conns:
    s.sendall(b"quit\r\n")
    print(f"memcached_{kind}_quit_eof: {f.read() == b''}")
    s.close()
PYEOF

# nc_session KIND NC_ARGS...: the text protocol through nc.
nc_session() {
    local kind=$1
    shift
    printf 'set nckey 0 0 5\r\nhello\r\nget nckey\r\nappend nckey 0 0 6\r\n world\r\ngets nckey\r\nquit\r\n' \
        | timeout 10 nc -N "$@" | tr -d '\r' | sed -E 's/^(VALUE nckey 0 11) [0-9]+$/\1 <cas>/' | paste -sd '|'
}

PORT=$(free_port)
spawn mc-tcp.log timeout 60 memcached "${user[@]}" -l 127.0.0.1 -p "$PORT" -U 0 -t 2 -c 64 -m 16
MC=$SPAWNED
if wait_tcp "$PORT"; then case_line memcached_tcp_ready yes; else
    case_line memcached_tcp_ready no; cat "$SC_TMP/mc-tcp.log" >&2; sc_die "memcached did not start"
fi
timeout 30 "$PY" "$SC_TMP/client.py" tcp "$PORT" t
case_line memcached_tcp_client_exit "$?"
case_line memcached_tcp_nc "$(nc_session tcp 127.0.0.1 "$PORT")"
stop "$MC"

SOCK="$SC_TMP/mc.sock"
spawn mc-unix.log timeout 60 memcached "${user[@]}" -s "$SOCK" -a 0700 -t 2 -c 64 -m 16
MC=$SPAWNED
wait_unix "$SOCK" && sleep 0.2
timeout 30 "$PY" "$SC_TMP/client.py" unix "$SOCK" u
case_line memcached_unix_client_exit "$?"
case_line memcached_unix_nc "$(nc_session unix -U "$SOCK")"
stop "$MC"
case_line memcached_stopped "$(kill -0 "$MC" 2>/dev/null && echo no || echo yes)"
