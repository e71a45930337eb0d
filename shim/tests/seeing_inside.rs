//! "Seeing inside" (issue 7): the trace, `netshim ss`, `netshim run` and the
//! pcap capture, checked from outside on real programs.
//!
//! Why a cargo integration test and not a scenario of tests/programs: the
//! harness runs each scenario natively and under the shim and requires the
//! same output. A capture of *emulated* traffic and a trace of *emulated*
//! calls have no native counterpart (natively there is no emulated
//! traffic; `tcpdump -i lo` would need root and test the kernel, not the
//! shim), so a scenario could only print facts that hold either way, which
//! would not test this code at all. Here each check can fail:
//! - the trace: a refused AF_UNIX connect is traced under `netshim run
//!   --trace` and its line must equal, byte for byte after the `[pid N] `
//!   prefix, the line `strace` prints for the same program on the kernel;
//!   the kernel-path line under it must name unix_stream_connect and
//!   unix_find_other; the program leaves a socket open at exit (the exit
//!   handlers log after TLS destruction: this used to abort); with
//!   `--trace-file` the lines reach the file although the program closed
//!   its stderr. The seed client's whole conversation (socket, connect,
//!   write, read, close on its socket) traced under the shim equals
//!   strace's lines of the same conversation on the kernel, and so do
//!   18 calls whose arguments strace decodes (msghdr with SCM_RIGHTS,
//!   fcntl and ioctl, socket options, shutdown, accept4/dup3 flags, an
//!   abstract name).
//! - `netshim ss -a -t -p` while the seed server and a connected seed
//!   client run: the LISTEN line and both ESTAB lines, owners included,
//!   laid out as ss does; `-axtup` with an AF_UNIX listener.
//! - pcap: the seed server/client conversation on 127.0.0.1 and on ::1
//!   under `netshim run --pcap`, read back by tshark: per connection SYN,
//!   SYN-ACK, ACK, each side's 1024 bytes exactly as the programs sent
//!   them, FIN both ways, each packet once (no duplicate, no tshark
//!   analysis flag such as a retransmission), every checksum good; and a
//!   UDP exchange (two processes) with an ICMP port unreachable.
//!
//! Needs tshark and strace (`make deps` installs both) and the C programs
//! (built here with make, as namespaces.rs does).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn netshim() -> Command {
    let lib = root().join("target/release/libnetshim.so");
    assert!(lib.exists(), "{} is missing: build with `cargo build --release` (make test does)", lib.display());
    let mut c = Command::new(env!("CARGO_BIN_EXE_netshim"));
    c.env("NETSHIM_LIB", lib).env_remove("NETSHIM_LOG").env_remove("RUST_LOG").env_remove("NETSHIM_TRACE_FILE").env_remove("NETSHIM_PCAP");
    c
}

fn seed(name: &str) -> PathBuf {
    let status = Command::new("make").arg("-s").arg("-C").arg(root().join("tests/c")).status().expect("make");
    assert!(status.success(), "building the C programs failed");
    root().join("tests/c/build").join(name)
}

fn need(tool: &str) {
    let ok = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(ok, "{tool} is not installed (make deps installs it)");
}

/// A scratch directory and a namespace of this test, removed at the end.
struct Scratch {
    dir: PathBuf,
    ns: String,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let ns = format!("seeing-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&ns);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir, ns }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = netshim().args(["ns", "rm", "-f", &self.ns]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// Kills a child at the end of a test, whatever happened.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The small C program the trace and UDP checks run (built with cc).
const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static socklen_t inet_addr_of(const char *ip, int port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        return sizeof *a;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    return sizeof *a;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "refused") == 0) {
        /* A socket file nobody listens on: bind, close, connect. */
        if (argc >= 4 && strcmp(argv[3], "close-stderr") == 0) close(2);
        struct sockaddr_un a;
        memset(&a, 0, sizeof a);
        a.sun_family = AF_UNIX;
        strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
        unlink(argv[2]);
        int b = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(b, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
        close(b);
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        int r = connect(c, (struct sockaddr *)&a, sizeof a);
        printf("connect: %s\n", r == 0 ? "ok" : errno == ECONNREFUSED ? "ECONNREFUSED" : strerror(errno));
        /* Exit with a listening socket still open: the exit path closes it. */
        struct sockaddr_storage l;
        socklen_t ll = inet_addr_of("127.0.0.1", 0, &l);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        bind(s, (struct sockaddr *)&l, ll);
        listen(s, 1);
        exit(0);
    }
    if (argc >= 5 && strcmp(argv[1], "udp-server") == 0) {
        struct sockaddr_storage a, from;
        socklen_t al = inet_addr_of(argv[2], atoi(argv[3]), &a);
        int s = socket(a.ss_family, SOCK_DGRAM, 0);
        if (bind(s, (struct sockaddr *)&a, al) < 0) { perror("bind"); return 1; }
        printf("ready\n");
        fflush(stdout);
        for (int i = 0; i < atoi(argv[4]); i++) {
            char buf[256], out[300];
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &fl);
            if (n < 0) { perror("recvfrom"); return 1; }
            buf[n] = 0;
            int m = snprintf(out, sizeof out, "pong: %s", buf);
            sendto(s, out, m, 0, (struct sockaddr *)&from, fl);
        }
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "udp-client") == 0) {
        struct sockaddr_storage a, closed;
        socklen_t al = inet_addr_of(argv[2], atoi(argv[3]), &a);
        inet_addr_of(argv[2], atoi(argv[3]) + 1, &closed);
        int s = socket(a.ss_family, SOCK_DGRAM, 0);
        const char *msgs[] = {"ping one", "ping two"};
        for (int i = 0; i < 2; i++) {
            char buf[300];
            sendto(s, msgs[i], strlen(msgs[i]), 0, (struct sockaddr *)&a, al);
            ssize_t n = recv(s, buf, sizeof buf - 1, 0);
            if (n < 0) { perror("recv"); return 1; }
            buf[n] = 0;
            printf("%s\n", buf);
        }
        /* To a port nobody has: the answer is an ICMP port unreachable. */
        sendto(s, "nobody", 6, 0, (struct sockaddr *)&closed, al);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "calls") == 0) {
        /* Calls whose arguments strace decodes; nothing on stdout. */
        int sv[2];
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv);
        char buf[] = "msg\x01\xff", c[CMSG_SPACE(sizeof(int))];
        memset(c, 0, sizeof c);
        struct iovec iov = {buf, 5};
        struct msghdr m = {0};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = c;
        m.msg_controllen = sizeof c;
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &sv[0], sizeof(int));
        sendmsg(sv[0], &m, MSG_DONTWAIT);
        char rb[16], rc[64];
        struct iovec riov = {rb, sizeof rb};
        struct msghdr r = {0};
        r.msg_iov = &riov;
        r.msg_iovlen = 1;
        r.msg_control = rc;
        r.msg_controllen = sizeof rc;
        recvmsg(sv[1], &r, 0);
        int fl = fcntl(sv[0], F_GETFL);
        fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
        int one = 1, n, e;
        ioctl(sv[1], FIONBIO, &one);
        ioctl(sv[1], FIONREAD, &n);
        int s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct linger lg = {1, 0};
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        socklen_t el = sizeof e;
        getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el);
        struct sockaddr_storage a;
        socklen_t al = inet_addr_of("::1", 0, &a);
        bind(s, (struct sockaddr *)&a, al);
        shutdown(sv[0], SHUT_WR);
        accept4(sv[1], NULL, NULL, SOCK_CLOEXEC);
        dup3(sv[0], 20, O_CLOEXEC);
        sendto(sv[0], "x", 1, MSG_NOSIGNAL, NULL, 0);
        struct sockaddr_un u = {AF_UNIX, ""};
        memcpy(u.sun_path, "\0abstract", 9);
        int d = socket(AF_UNIX, SOCK_DGRAM, 0);
        bind(d, (struct sockaddr *)&u, offsetof(struct sockaddr_un, sun_path) + 9);
        return 0;
    }
    fprintf(stderr, "usage: probe calls | refused PATH [close-stderr] | udp-server IP PORT N | udp-client IP PORT\n");
    return 2;
}
"#;

fn probe() -> PathBuf {
    static P: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let dir = root().join("target/seeing-inside");
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("probe.c");
        std::fs::write(&src, PROBE_C).unwrap();
        let bin = dir.join("probe");
        let st = Command::new("cc").args(["-O1", "-Wall", "-o"]).arg(&bin).arg(&src).status().expect("cc");
        assert!(st.success(), "compiling the probe failed");
        bin
    })
    .clone()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

// ----- the trace ------------------------------------------------------------------

/// The line strace prints for a call, spaces before ` = ` folded (strace
/// pads short calls to column 40).
fn unpad(l: &str) -> String {
    match l.rsplit_once(" = ") {
        Some((call, ret)) => format!("{} = {ret}", call.trim_end()),
        None => l.to_string(),
    }
}

#[test]
fn trace_lines_are_strace_lines() {
    need("strace");
    let sc = Scratch::new("trace");
    let sock = sc.path("s.sock");
    let sock_s = sock.to_str().unwrap();

    // Under the shim, with --trace.
    let child = netshim().args(["run", "--ns", &sc.ns, "--trace", "--"]).arg(probe()).args(["refused", sock_s]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "the traced program failed: {:?}\n{se}", out.status);
    assert_eq!(so, "connect: ECONNREFUSED\n");
    assert!(!se.contains("panicked"), "a panic in the trace:\n{se}");
    let lines: Vec<&str> = se.lines().collect();
    let tag = format!("[pid {pid}] ");
    // fd 3 was closed after the bind, so the second socket is 3 again.
    let want = format!("connect(3, {{sa_family=AF_UNIX, sun_path=\"{sock_s}\"}}, 110) = -1 ECONNREFUSED (Connection refused)");
    let at = lines.iter().position(|l| l.starts_with(&tag) && l[tag.len()..].starts_with("connect(")).unwrap_or_else(|| panic!("no connect line with {tag:?}:\n{se}"));
    assert_eq!(&lines[at][tag.len()..], want, "the connect line");
    let path = lines.get(at + 1).copied().unwrap_or("");
    assert!(path.starts_with(&format!("[pid {pid}]   ")), "no kernel-path line under the connect line: {path:?}");
    for f in ["unix_stream_connect", "unix_find_other", "ECONNREFUSED"] {
        assert!(path.contains(f), "the kernel path does not name {f}: {path:?}");
    }
    assert!(lines.iter().any(|l| l.starts_with(&tag) && l.contains("+++ exiting")), "no exit line:\n{se}");
    let calls: Vec<String> = lines.iter().filter(|l| l.starts_with(&tag) && !l[tag.len()..].starts_with(' ') && !l.contains("+++")).map(|l| l[tag.len()..].to_string()).collect();

    // The same program on the kernel, under strace.
    let st_out = sc.path("strace.out");
    let o = Command::new("strace").args(["-qq", "-e", "trace=socket,bind,connect,listen", "-o"]).arg(&st_out).arg(probe()).args(["refused", sock_s]).output().unwrap();
    assert!(o.status.success(), "strace run failed: {}", text(&o).1);
    let st = std::fs::read_to_string(&st_out).unwrap();
    let kernel: Vec<String> = st.lines().filter(|l| !l.starts_with("+++")).map(unpad).collect();
    // Every socket call strace saw reads the same in the shim's trace
    // (the kernel's ephemeral port aside: bind of port 0 is the same text).
    let ours: Vec<String> = calls.iter().filter(|l| ["socket(", "bind(", "connect(", "listen("].iter().any(|p| l.starts_with(p))).cloned().collect();
    assert_eq!(ours.len(), 7, "socket, bind, socket, connect, socket, bind, listen:\n{se}");
    assert_eq!(ours, kernel, "the shim's trace lines vs strace's\nshim:\n{se}\nstrace:\n{st}");

    // --trace-file: the lines go to the file, also when stderr is closed
    // (and fd 2 is then the first socket the program makes).
    let tf = sc.path("trace.txt");
    let out = netshim().args(["run", "--ns", &sc.ns, "--trace-file"]).arg(&tf).arg("--").arg(probe()).args(["refused", sock_s, "close-stderr"]).output().unwrap();
    assert!(out.status.success());
    let t = std::fs::read_to_string(&tf).unwrap_or_default();
    let want2 = want.replacen("connect(3,", "connect(2,", 1);
    assert!(t.lines().any(|l| l.starts_with("[pid ") && l.ends_with(&format!("] {want2}"))), "the trace file lacks the connect line {want2:?}:\n{t}");
    assert!(text(&out).1.is_empty(), "trace lines on stderr with --trace-file");
}

/// The seed client's socket calls, traced under the shim, read as strace
/// prints them for the same conversation on the kernel: socket, connect,
/// write and read (buffers quoted and cut at 32 bytes), close.
#[test]
fn the_seed_clients_trace_reads_as_strace() {
    need("strace");
    let sc = Scratch::new("client-trace");
    // A port free on the kernel (for the native run) is free in the fresh
    // namespace too.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let answers = b"answer one\nanswer two\n";
    let input = b"hello one\nhello two\nq\n";
    let conversation = |shim: bool| -> String {
        let mut srv = if shim { netshim() } else { Command::new("env") };
        if shim {
            srv.args(["run", "--ns", &sc.ns, "--"]);
        }
        let mut server = srv.arg(seed("server")).args(["127.0.0.1", &port]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        server.stdin.take().unwrap().write_all(answers).unwrap();
        let server = Reap(server);
        wait_for("the server", || {
            if shim {
                ss(&sc.ns, "-tl").contains(&format!("127.0.0.1:{port}"))
            } else {
                std::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap())).is_err()
            }
        });
        let st_out = sc.path("client.strace");
        let mut cli = if shim {
            let mut c = netshim();
            c.args(["run", "--ns", &sc.ns, "--trace", "--"]);
            c
        } else {
            let mut c = Command::new("strace");
            c.args(["-qq", "-e", "trace=socket,connect,read,write,close", "-o"]).arg(&st_out);
            c
        };
        let mut client = cli.arg(seed("client")).args(["127.0.0.1", &port]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        client.stdin.take().unwrap().write_all(input).unwrap();
        let out = client.wait_with_output().unwrap();
        assert!(out.status.success(), "client (shim: {shim}): {}", text(&out).1);
        drop(server);
        let lines = if shim { text(&out).1 } else { std::fs::read_to_string(&st_out).unwrap() };
        // The calls on the client's socket (fd 3), from its first socket().
        let mut v: Vec<String> = Vec::new();
        for l in lines.lines() {
            let l = match l.strip_prefix("[pid ") {
                Some(rest) => match rest.split_once("] ") {
                    Some((_, call)) if !call.starts_with(' ') => call,
                    _ => continue,
                },
                None => l,
            };
            if l.starts_with("socket(") || (!v.is_empty() && (l.starts_with("connect(3,") || l.starts_with("read(3,") || l.starts_with("write(3,") || l.starts_with("close(3)"))) {
                v.push(unpad(l));
            }
        }
        v.join("\n")
    };
    let ours = conversation(true);
    let kernel = conversation(false);
    assert!(ours.contains("write(3, \"hello one\\n\\0"), "no traced write of the first message:\n{ours}");
    assert_eq!(ours, kernel, "the shim's trace of the seed client vs strace on the kernel");
}

/// `netshim ss -axtup` (several kinds: the Netid column) lists an AF_UNIX
/// listener with its path, inode and owner.
#[test]
fn ss_lists_unix_sockets() {
    let sc = Scratch::new("ss-unix");
    let path = sc.path("u.sock");
    let p = path.to_str().unwrap().to_string();
    let server = netshim().args(["run", "--ns", &sc.ns, "--"]).arg(seed("unix_server")).arg(&path).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid = server.id();
    let _server = Reap(server);
    let owner = format!("users:((\"unix_server\",pid={pid},fd=3))");
    let t0 = Instant::now();
    loop {
        let table = ss(&sc.ns, "-axtup");
        let found = table.lines().any(|l| {
            let c = cols(l);
            c.len() == 9 && c[..4] == ["u_str", "LISTEN", "0", "1024"] && c[4] == p && c[5].parse::<u32>().is_ok() && c[6..] == ["*", "0", owner.as_str()]
        });
        if found {
            assert!(table.starts_with("Netid State"), "the Netid column:\n{table}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "no u_str LISTEN line for {p} owned by unix_server:\n{table}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Calls whose arguments strace decodes (msghdr with SCM_RIGHTS, fcntl
/// flags, ioctl, socket options, shutdown, accept4 and dup3 flags, an
/// abstract name) read the same in the shim's trace and in strace's.
#[test]
fn decoded_arguments_read_as_strace() {
    need("strace");
    let sc = Scratch::new("calls");
    let out = netshim().args(["run", "--ns", &sc.ns, "--trace", "--"]).arg(probe()).arg("calls").output().unwrap();
    let (_, se) = text(&out);
    assert!(out.status.success(), "{se}");
    let ours: Vec<String> = se
        .lines()
        .filter_map(|l| l.strip_prefix("[pid ").and_then(|r| r.split_once("] ")).map(|(_, c)| c))
        .filter(|c| !c.starts_with(' ') && !c.starts_with("+++") && !c.starts_with("close("))
        .map(str::to_string)
        .collect();
    let st_out = sc.path("calls.strace");
    let o = Command::new("strace").args(["-qq", "-e", "trace=%network,fcntl,ioctl,dup3", "-o"]).arg(&st_out).arg(probe()).arg("calls").output().unwrap();
    assert!(o.status.success(), "{}", text(&o).1);
    let st = std::fs::read_to_string(&st_out).unwrap();
    let kernel: Vec<String> = st.lines().skip_while(|l| !l.starts_with("socketpair(")).filter(|l| !l.starts_with("+++")).map(unpad).collect();
    assert_eq!(ours.len(), 18, "the probe's 18 socket calls:\n{se}");
    assert_eq!(ours, kernel, "the shim's trace vs strace on the kernel");
}

// ----- ss and the TCP capture ------------------------------------------------------------

/// `netshim ss` of the namespace (empty while the namespace does not
/// exist yet: the first program of the test creates it).
fn ss(ns: &str, opts: &str) -> String {
    let o = netshim().args(["ss", "--ns", ns, opts]).output().unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success() || err.contains("no namespace"), "netshim ss failed: {err}");
    out
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(15), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Split on runs of spaces, the way one reads an `ss` line.
fn cols(l: &str) -> Vec<&str> {
    l.split_whitespace().collect()
}

/// One TCP or UDP packet as tshark decodes it.
#[derive(Debug, Clone, PartialEq)]
struct Pkt {
    stream: String,
    src: String,
    sport: u16,
    dport: u16,
    flags: u16,
    seq: u64,
    ack: u64,
    payload: Vec<u8>,
    checksums: String,
    analysis: String,
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    tshark_fields(file, filter, fields, "occurrence=f")
}

/// `tshark -T fields`, each field's first occurrence (`occurrence=f`) or all
/// of them joined by '|' (`occurrence=a`).
fn tshark_fields(file: &Path, filter: &str, fields: &[&str], occurrence: &str) -> Vec<Vec<String>> {
    let mut c = Command::new("tshark");
    c.arg("-r").arg(file);
    for o in ["tcp.check_checksum:TRUE", "ip.check_checksum:TRUE", "udp.check_checksum:TRUE", "tcp.relative_sequence_numbers:FALSE"] {
        c.args(["-o", o]);
    }
    // The payload is the programs' bytes, whatever the ports: a random
    // ephemeral port that some dissector claims (mDNS on 5353, say) would
    // otherwise decode them as that protocol and call them malformed.
    c.args(["-d", "udp.port==1-65535,data", "-d", "tcp.port==1-65535,data"]);
    c.args(["-Y", filter, "-T", "fields", "-E", "separator=/t", "-E", occurrence, "-E", "aggregator=|"]);
    for f in fields {
        c.args(["-e", f]);
    }
    let o = c.output().expect("tshark");
    assert!(o.status.success(), "tshark failed: {}", text(&o).1);
    text(&o).0.lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

fn tcp_packets(file: &Path) -> Vec<Pkt> {
    let f = ["tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq", "tcp.ack", "tcp.payload", "tcp.checksum.status", "ip.checksum.status", "tcp.analysis.flags"];
    tshark(file, "tcp", &f)
        .into_iter()
        .map(|r| Pkt {
            stream: r[0].clone(),
            src: if r[1].is_empty() { r[2].clone() } else { r[1].clone() },
            sport: r[3].parse().unwrap(),
            dport: r[4].parse().unwrap(),
            flags: u16::from_str_radix(r[5].trim_start_matches("0x"), 16).unwrap(),
            seq: r[6].parse().unwrap(),
            ack: r[7].parse().unwrap(),
            payload: unhex(&r[8]),
            checksums: format!("{}/{}", r[9], r[10]),
            analysis: r.get(11).cloned().unwrap_or_default(),
        })
        .collect()
}

/// Bad checksums or other problems tshark's experts report (warnings and errors).
fn expert_problems(file: &Path) -> Vec<Vec<String>> {
    tshark(file, "_ws.expert.severity >= 0x600000 || _ws.malformed", &["frame.number", "_ws.expert.message"])
}

/// One TCP stream as tshark sees it, a line per packet with its expert
/// messages: what a failed check shows.
fn stream_dump(file: &Path, stream: &str) -> String {
    let f = ["frame.number", "tcp.srcport", "tcp.flags.str", "tcp.seq", "tcp.ack", "tcp.len", "tcp.window_size_value"];
    let mut out: String = tshark(file, &format!("tcp.stream == {stream}"), &f).iter().map(|r| r.join("  ") + "\n").collect();
    // Every expert message of the capture (a packet may carry several).
    for r in tshark_fields(file, "_ws.expert", &["frame.number", "tcp.stream", "_ws.expert.message"], "occurrence=a") {
        out += &format!("expert: frame {} stream {}: {}\n", r[0], r.get(1).map_or("", |s| s), r.get(2).map_or("", |s| s));
    }
    out
}

fn reply_buf(line: &str) -> Vec<u8> {
    let mut b = line.as_bytes().to_vec();
    b.resize(1024, 0);
    b
}

const SYN: u16 = 0x02;
const ACK: u16 = 0x10;
const FIN: u16 = 0x01;
const RST: u16 = 0x04;
const PSH: u16 = 0x08;

/// The seed conversation on `ip` under `netshim run --pcap`, `netshim ss`
/// while it runs, then the capture read back with tshark.
fn seed_conversation(tag: &str, ip: &str) {
    need("tshark");
    let sc = Scratch::new(tag);
    let pcap = sc.path("conv.pcap");
    let port = "7777";
    let mut server = netshim()
        .args(["run", "--ns", &sc.ns, "--pcap"])
        .arg(&pcap)
        .arg("--")
        .arg(seed("server"))
        .args([ip, port])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server_pid = server.id();
    server.stdin.take().unwrap().write_all(b"answer one\nanswer two\n").unwrap();
    let server = Reap(server);
    let local = if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
    wait_for("the server's LISTEN line", || ss(&sc.ns, "-tl").contains(&local));

    let mut client = netshim()
        .args(["run", "--ns", &sc.ns, "--pcap"])
        .arg(&pcap)
        .arg("--")
        .arg(seed("client"))
        .args([ip, port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client_pid = client.id();
    // The client connects, then waits for its first line: both ends are
    // established now, and `ss` shows them with their owners.
    let any = if ip.contains(':') { "[::]:*" } else { "0.0.0.0:*" };
    let listen = format!("users:((\"server\",pid={server_pid},fd=3))");
    let srv_end = format!("users:((\"server\",pid={server_pid},fd=4))");
    let cli_end = format!("users:((\"client\",pid={client_pid},fd=3))");
    let shows_all = |table: &str| {
        let lines: Vec<&str> = table.lines().collect();
        let listening = lines.iter().any(|l| cols(l) == ["LISTEN", "0", "1024", local.as_str(), any, listen.as_str()]);
        let server_end = lines.iter().any(|l| {
            let c = cols(l);
            c.len() == 6 && c[..3] == ["ESTAB", "0", "0"] && c[3] == local && c[5] == srv_end
        });
        let client_end = lines.iter().any(|l| {
            let c = cols(l);
            c.len() == 6 && c[..3] == ["ESTAB", "0", "0"] && c[4] == local && c[5] == cli_end
        });
        listening && server_end && client_end
    };
    let t0 = Instant::now();
    let mut table = ss(&sc.ns, "-atp");
    while !shows_all(&table) {
        assert!(t0.elapsed() < Duration::from_secs(15), "netshim ss -atp never showed the LISTEN line and both ESTAB ends with their owners:\n{table}");
        std::thread::sleep(Duration::from_millis(50));
        table = ss(&sc.ns, "-atp");
    }
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(cols(lines[0]), ["State", "Recv-Q", "Send-Q", "Local", "Address:Port", "Peer", "Address:Port", "Process"], "ss header:\n{table}");
    // ss's column layout: the Local column's ':' lines up with the header's.
    let colon = lines[0].find("Address:Port").unwrap() + "Address".len();
    for l in &lines[1..] {
        assert_eq!(l.as_bytes().get(colon), Some(&b':'), "the ':' of {l:?} is not under the header's:\n{table}");
    }

    client.stdin.take().unwrap().write_all(b"hello one\nhello two\nq\n").unwrap();
    let out = client.wait_with_output().unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "client failed: {se}");
    assert!(so.contains(" say: answer one") && so.contains(" say: answer two"), "client output: {so:?}");
    // The server is back in accept (its third connection had no message).
    wait_for("the third connection to close", || ss(&sc.ns, "-t").lines().count() == 1);
    drop(server);

    // The capture.
    let pk = tcp_packets(&pcap);
    let src = ip.to_string();
    let streams: std::collections::BTreeSet<String> = pk.iter().map(|p| p.stream.clone()).collect();
    assert_eq!(streams.len(), 3, "three connections (two messages and the one the client closed at 'q'): {pk:#?}");
    let msgs = [(&b"hello one\n"[..], "answer one\n"), (b"hello two\n", "answer two\n")];
    for (i, s) in streams.iter().enumerate() {
        let c: Vec<&Pkt> = pk.iter().filter(|p| &p.stream == s).collect();
        let server_port: u16 = port.parse().unwrap();
        let from_client = |p: &&Pkt| p.dport == server_port;
        assert!(c.iter().all(|p| p.src == src), "packets from another address than {src}: {c:#?}");
        // The handshake.
        assert!(c.len() >= 3, "stream {s}: {c:#?}");
        assert_eq!((c[0].flags, from_client(&c[0])), (SYN, true), "stream {s}: first packet is the client's SYN: {c:#?}");
        assert_eq!((c[1].flags, from_client(&c[1])), (SYN | ACK, false), "stream {s}: then the SYN-ACK: {c:#?}");
        assert_eq!((c[2].flags, from_client(&c[2])), (ACK, true), "stream {s}: then the ACK: {c:#?}");
        assert_eq!(c[1].ack, c[0].seq.wrapping_add(1) & 0xffff_ffff, "SYN-ACK acknowledges the SYN");
        assert_eq!(c[2].ack, c[1].seq.wrapping_add(1) & 0xffff_ffff, "ACK acknowledges the SYN-ACK");
        // The bytes each side sent, in order, once.
        let sent = |dir: bool| c.iter().filter(|p| from_client(p) == dir).flat_map(|p| p.payload.clone()).collect::<Vec<u8>>();
        if i < 2 {
            assert_eq!(sent(true), reply_buf(std::str::from_utf8(msgs[i].0).unwrap()), "stream {s}: the client's bytes");
            assert_eq!(sent(false), reply_buf(msgs[i].1), "stream {s}: the server's bytes");
            assert!(c.iter().filter(|p| !p.payload.is_empty()).all(|p| p.flags & PSH != 0), "data segments carry PSH");
        } else {
            assert!(sent(true).is_empty() && sent(false).is_empty(), "stream {s}: the 'q' connection carries no data: {c:#?}");
        }
        // The teardown: a FIN from each side, each acknowledged, or a RST.
        let fins: Vec<bool> = c.iter().filter(|p| p.flags & FIN != 0).map(from_client).collect();
        let rst = c.iter().any(|p| p.flags & RST != 0);
        assert!(rst || (fins.contains(&true) && fins.contains(&false) && fins.len() == 2), "stream {s}: FIN from both sides: {c:#?}");
        let last = c.last().unwrap();
        assert!(rst || last.flags == ACK, "stream {s}: the last FIN is acknowledged: {c:#?}");
        // Each packet once: no two identical segments, nothing tshark
        // calls a retransmission, duplicate ACK or lost segment.
        for (j, p) in c.iter().enumerate() {
            assert!(!c[..j].contains(p), "stream {s}: packet written twice: {p:?}");
            assert!(p.analysis.is_empty(), "stream {s}: tshark analysis flags on {p:?}:\n{}", stream_dump(&pcap, s));
        }
    }
    let want_ck = if ip.contains(':') { "1/" } else { "1/1" };
    assert!(pk.iter().all(|p| p.checksums == want_ck), "checksum status (1 = good): {:?}", pk.iter().map(|p| &p.checksums).collect::<Vec<_>>());
    let bad = expert_problems(&pcap);
    assert!(bad.is_empty(), "tshark expert warnings or errors: {bad:?}");
}

#[test]
fn pcap_and_ss_of_the_seed_conversation_ipv4() {
    seed_conversation("v4", "127.0.0.1");
}

#[test]
fn pcap_and_ss_of_the_seed_conversation_ipv6() {
    seed_conversation("v6", "::1");
}

// ----- UDP ---------------------------------------------------------------------------

fn udp_exchange(tag: &str, ip: &str) {
    need("tshark");
    let sc = Scratch::new(tag);
    let pcap = sc.path("udp.pcap");
    let port = "7778";
    let mut server = netshim()
        .args(["run", "--ns", &sc.ns, "--pcap"])
        .arg(&pcap)
        .arg("--")
        .arg(probe())
        .args(["udp-server", ip, port, "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server_pid = server.id();
    let mut ready = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    let server = Reap(server);
    let table = ss(&sc.ns, "-aup");
    let local = if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
    let any = if ip.contains(':') { "[::]:*" } else { "0.0.0.0:*" };
    let owner = format!("users:((\"probe\",pid={server_pid},fd=3))");
    assert!(table.lines().any(|l| cols(l) == ["UNCONN", "0", "0", local.as_str(), any, owner.as_str()]), "no UNCONN line of the UDP server:\n{table}");

    let out = netshim().args(["run", "--ns", &sc.ns, "--pcap"]).arg(&pcap).arg("--").arg(probe()).args(["udp-client", ip, port]).output().unwrap();
    let (so, se) = text(&out);
    assert!(out.status.success(), "udp client: {se}");
    assert_eq!(so, "pong: ping one\npong: ping two\n");
    let mut server = server;
    let st = server.0.wait().unwrap();
    assert!(st.success(), "udp server: {st:?}");

    let f = ["udp.srcport", "udp.dstport", "udp.payload", "udp.checksum.status", "ip.checksum.status"];
    let rows = tshark(&pcap, "udp && !icmp && !icmpv6", &f);
    let server_port: u16 = port.parse().unwrap();
    let got: Vec<(u16, u16, Vec<u8>)> = rows.iter().map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap(), unhex(&r[2]))).collect();
    let client_port = got.first().map(|g| g.0).unwrap_or(0);
    assert_ne!(client_port, server_port);
    let want = vec![
        (client_port, server_port, b"ping one".to_vec()),
        (server_port, client_port, b"pong: ping one".to_vec()),
        (client_port, server_port, b"ping two".to_vec()),
        (server_port, client_port, b"pong: ping two".to_vec()),
        (client_port, server_port + 1, b"nobody".to_vec()),
    ];
    assert_eq!(got, want, "the datagrams (source port, destination port, payload), each once, in order");
    let want_ck = if ip.contains(':') { "1\t" } else { "1\t1" };
    assert!(rows.iter().all(|r| format!("{}\t{}", r[3], r[4]) == want_ck), "checksum status (1 = good): {rows:?}");
    let icmp = tshark(&pcap, "icmp || icmpv6", &["icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code", "icmp.checksum.status", "icmpv6.checksum.status"]);
    let want_icmp = if ip.contains(':') { ["", "", "1", "4", "", "1"] } else { ["3", "3", "", "", "1", ""] };
    assert_eq!(icmp.len(), 1, "one ICMP port unreachable: {icmp:?}");
    assert_eq!(icmp[0], want_icmp, "ICMP port unreachable with a good checksum");
    let bad = expert_problems(&pcap);
    assert!(bad.is_empty(), "tshark expert warnings or errors: {bad:?}");
}

#[test]
fn pcap_of_a_udp_exchange_ipv4() {
    udp_exchange("udp4", "127.0.0.1");
}

#[test]
fn pcap_of_a_udp_exchange_ipv6() {
    udp_exchange("udp6", "::1");
}
