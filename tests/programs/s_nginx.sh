#!/usr/bin/env bash
# s_nginx.sh: nginx (master + 2 worker processes, not a daemon, a config
# generated in a temporary directory, an unprivileged port) serving static
# files to curl (bodies byte-identical to the files, a HEAD, a 404, a
# keep-alive pair) and to wrk (a short run: every response 200, no socket
# errors). Then a graceful stop.
. "$(dirname "$0")/lib.sh"
need nginx curl wrk

PORT=$(free_port)
ROOT="$SC_TMP/www"
mkdir -p "$ROOT" "$SC_TMP/logs" "$SC_TMP/tmp"
# nginx's workers may run as another user: the files must be readable.
chmod 755 "$SC_TMP"
# A deterministic 1 MiB body (sendfile path) and a small one.
$PY -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + i // 256) % 251 for i in range(1 << 20)))' >"$ROOT/big.bin"
printf 'hello from nginx\n' >"$ROOT/index.html"
chmod -R a+rX "$ROOT"

cat >"$SC_TMP/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
user $(id -un) $(id -gn);
pid $SC_TMP/nginx.pid;
error_log $SC_TMP/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
    client_body_temp_path $SC_TMP/tmp/body;
    proxy_temp_path $SC_TMP/tmp/proxy;
    fastcgi_temp_path $SC_TMP/tmp/fastcgi;
    uwsgi_temp_path $SC_TMP/tmp/uwsgi;
    scgi_temp_path $SC_TMP/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $ROOT;
        log_not_found off;
    }
}
CONF

spawn nginx.log timeout 60 nginx -p "$SC_TMP" -e "$SC_TMP/logs/error.log" -c "$SC_TMP/nginx.conf"
SERVER=$SPAWNED
if wait_tcp "$PORT"; then case_line nginx_ready yes; else
    case_line nginx_ready no
    cat "$SC_TMP/nginx.log" "$SC_TMP/logs/error.log" >&2
    sc_die "nginx did not start"
fi

URL="http://127.0.0.1:$PORT"
c() { timeout 20 curl -sS --max-time 15 "$@"; }
c -o "$SC_TMP/big.got" -w '%{http_code}' "$URL/big.bin" >"$SC_TMP/code" 2>"$SC_TMP/curl.err"
case_line nginx_curl_big_status "$(cat "$SC_TMP/code")"
case_line nginx_curl_big_body "$(same_file "$ROOT/big.bin" "$SC_TMP/big.got")"
c -o "$SC_TMP/index.got" "$URL/" 2>>"$SC_TMP/curl.err"
case_line nginx_curl_index_body "$(same_file "$ROOT/index.html" "$SC_TMP/index.got")"
case_line nginx_curl_head "$(c -I "$URL/big.bin" 2>>"$SC_TMP/curl.err" | tr -d '\r' | grep -E '^(HTTP|Content-Length)' | paste -sd ' ')"
case_line nginx_curl_404 "$(c -o /dev/null -w '%{http_code}' "$URL/missing" 2>>"$SC_TMP/curl.err")"
# Two requests on one connection: curl reuses it (keep-alive).
c -o "$SC_TMP/ka1" -o "$SC_TMP/ka2" -w '%{http_code} %{num_connects}\n' "$URL/index.html" "$URL/big.bin" >"$SC_TMP/ka" 2>>"$SC_TMP/curl.err"
case_line nginx_curl_keepalive "$(paste -sd ' ' "$SC_TMP/ka")"
case_line nginx_curl_keepalive_bodies "$(same_file "$ROOT/index.html" "$SC_TMP/ka1"), $(same_file "$ROOT/big.bin" "$SC_TMP/ka2")"
[ -s "$SC_TMP/curl.err" ] && sed 's/^/  curl: /' "$SC_TMP/curl.err" >&2

cat >"$SC_TMP/count.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non200 = 0 end
function response(status, headers, body)
    if status ~= 200 then non200 = non200 + 1 end
end
function done(summary, latency, requests)
    local n = 0
    for _, t in ipairs(threads) do n = n + t:get("non200") end
    local e = summary.errors
    io.write(string.format("WRK non200=%d connect=%d read=%d write=%d status=%d timeout=%d requests>0=%s\n",
        n, e.connect, e.read, e.write, e.status, e.timeout, tostring(summary.requests > 0)))
end
LUA
timeout 30 wrk -t 2 -c 8 -d 1s --timeout 5s -s "$SC_TMP/count.lua" "$URL/index.html" >"$SC_TMP/wrk.out" 2>&1
rc=$?
case_line nginx_wrk_exit "$rc"
case_line nginx_wrk_small "$(grep '^WRK' "$SC_TMP/wrk.out" | cut -c5-)"
timeout 30 wrk -t 2 -c 4 -d 1s --timeout 5s -s "$SC_TMP/count.lua" "$URL/big.bin" >"$SC_TMP/wrk2.out" 2>&1
case_line nginx_wrk_big "$(grep '^WRK' "$SC_TMP/wrk2.out" | cut -c5-)"
grep -q '^WRK non200=0 connect=0 read=0 write=0 status=0 timeout=0' "$SC_TMP/wrk.out" "$SC_TMP/wrk2.out" \
    || cat "$SC_TMP/wrk.out" "$SC_TMP/wrk2.out" >&2

# Graceful stop (SIGQUIT to the master): it waits for its workers.
kill -QUIT "$(cat "$SC_TMP/nginx.pid")"
for _ in $(seq 1 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
wait "$SERVER"
case_line nginx_quit "exit $?"
case_line nginx_error_log "$(grep -cE '\[(alert|crit|emerg|error)\]' "$SC_TMP/logs/error.log") alerts or errors"
grep -E '\[(alert|crit|emerg|error)\]' "$SC_TMP/logs/error.log" | head -5 >&2
