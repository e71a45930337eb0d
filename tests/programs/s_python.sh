#!/usr/bin/env bash
# s_python.sh: Python's own servers and clients. python3 -m http.server
# serving a directory to curl (bodies byte-identical, a listing, a 404);
# an asyncio echo server with asyncio clients on TCP and on a unix socket
# (concurrent clients, line and bulk round trips, EOF); a socketserver
# forking server with socket.create_connection clients.
. "$(dirname "$0")/lib.sh"
need curl
[ -x "$PY" ] || command -v "$PY" >/dev/null || sc_die "python3 is not installed (make deps)"

# --- http.server + curl ----------------------------------------------------
WWW="$SC_TMP/www"
mkdir -p "$WWW/sub"
$PY -c 'import sys; sys.stdout.buffer.write(bytes((i * 13 + i // 512) % 256 for i in range(700000)))' >"$WWW/data.bin"
printf 'plain text\n' >"$WWW/sub/a.txt"
PORT=$(free_port)
spawn http.log timeout 60 "$PY" -u -m http.server --bind 127.0.0.1 --directory "$WWW" "$PORT"
HTTP=$SPAWNED
if wait_tcp "$PORT"; then case_line http_ready yes; else
    case_line http_ready no; cat "$SC_TMP/http.log" >&2; sc_die "http.server did not start"
fi
URL="http://127.0.0.1:$PORT"
c() { timeout 20 curl -sS --max-time 15 "$@"; }
case_line http_curl_status "$(c -o "$SC_TMP/data.got" -w '%{http_code}' "$URL/data.bin")"
case_line http_curl_body "$(same_file "$WWW/data.bin" "$SC_TMP/data.got")"
c -o "$SC_TMP/a.got" "$URL/sub/a.txt"
case_line http_curl_small_body "$(same_file "$WWW/sub/a.txt" "$SC_TMP/a.got")"
case_line http_curl_listing "$(c "$URL/sub/" | grep -o 'href="a.txt"')"
case_line http_curl_404 "$(c -o /dev/null -w '%{http_code}' "$URL/nope")"
# Five concurrent downloads (the server is threaded).
for i in 1 2 3 4 5; do c -o "$SC_TMP/par$i" "$URL/data.bin" & done
wait_ok=yes
for job in $(jobs -p); do [ "$job" = "$HTTP" ] || wait "$job" || wait_ok=no; done
all=identical
for i in 1 2 3 4 5; do [ "$(same_file "$WWW/data.bin" "$SC_TMP/par$i")" = identical ] || all=different; done
case_line http_curl_parallel "$all, exits ok: $wait_ok"
stop "$HTTP"
case_line http_stopped "$(kill -0 "$HTTP" 2>/dev/null && echo no || echo yes)"

# --- asyncio echo ----------------------------------------------------------
cat >"$SC_TMP/aecho.py" <<'PYEOF'
import asyncio, os, sys

async def handle(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()

async def client(open_conn, i):
    reader, writer = await open_conn()
    lines = []
    for k in range(20):
        writer.write(f"client {i} line {k}\n".encode())
        await writer.drain()
        lines.append(await reader.readline())
    ok_lines = all(l == f"client {i} line {k}\n".encode() for k, l in enumerate(lines))
    bulk = bytes((i + j) % 251 for j in range(300000))
    writer.write(bulk)
    await writer.drain()
    got = await reader.readexactly(len(bulk))
    writer.write_eof()
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    return ok_lines and got == bulk and rest == b""

async def main(kind, where):
    if kind == "tcp":
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        open_conn = lambda: asyncio.open_connection("127.0.0.1", port)
    else:
        server = await asyncio.start_unix_server(handle, where)
        open_conn = lambda: asyncio.open_unix_connection(where)
    async with server:
        results = await asyncio.gather(*(client(open_conn, i) for i in range(8)))
        print(f"asyncio_{kind}_clients: {sum(results)} of {len(results)} round trips identical")
        # A client that connects and leaves at once.
        r, w = await open_conn()
        w.close()
        await w.wait_closed()
        print(f"asyncio_{kind}_server_serving: {server.is_serving()}")
    print(f"asyncio_{kind}_closed: {not server.is_serving()}")

asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None), 30))
PYEOF
timeout 40 "$PY" "$SC_TMP/aecho.py" tcp
case_line asyncio_tcp_exit "$?"
timeout 40 "$PY" "$SC_TMP/aecho.py" unix "$SC_TMP/aecho.sock"
case_line asyncio_unix_exit "$?"

# --- socketserver.ForkingTCPServer + socket clients ---------------------------
cat >"$SC_TMP/fork.py" <<'PYEOF'
import os, socket, socketserver, sys, threading

class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"%d:" % (os.getpid() != PARENT) + line)

PARENT = os.getpid()
with socketserver.ForkingTCPServer(("127.0.0.1", 0), Echo) as srv:
    port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    ok = 0
    for i in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            f = s.makefile("rwb")
            f.write(b"hello %d\n" % i)
            f.flush()
            ok += f.readline() == b"1:hello %d\n" % i
            s.shutdown(socket.SHUT_WR)
            ok += f.read() == b""
    print(f"forking_server_round_trips: {ok} of 10")
    srv.shutdown()
print("forking_server_shutdown: yes")
PYEOF
timeout 40 "$PY" "$SC_TMP/fork.py"
case_line forking_server_exit "$?"
