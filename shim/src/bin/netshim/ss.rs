//! `netshim ss`: the namespace's sockets, as `ss -a -x -t -u -p -n` prints them.

use netshim::inspect::{self, SockRow};
use netshim::net::addr::{InetAddr, UnixName};
use netshim::net::sock::TcpState;
use netshim::shm::Host;
use std::collections::HashMap;
use std::ffi::OsString;

#[derive(Default)]
struct Opts {
    all: bool,
    listening: bool,
    unix: bool,
    tcp: bool,
    udp: bool,
    procs: bool,
    ns: Option<String>,
}

fn parse(args: &[OsString]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let s = a.to_str().ok_or("ss: arguments must be UTF-8")?;
        match s {
            "--ns" => o.ns = Some(it.next().ok_or("--ns needs a value")?.to_string_lossy().into_owned()),
            _ if s.starts_with("--ns=") => o.ns = Some(s[5..].into()),
            "--all" => o.all = true,
            "--listening" => o.listening = true,
            "--unix" => o.unix = true,
            "--tcp" => o.tcp = true,
            "--udp" => o.udp = true,
            "--processes" => o.procs = true,
            "--numeric" => {}
            _ if s.starts_with('-') && !s.starts_with("--") && s.len() > 1 => {
                for c in s[1..].chars() {
                    match c {
                        'a' => o.all = true,
                        'l' => o.listening = true,
                        'x' => o.unix = true,
                        't' => o.tcp = true,
                        'u' => o.udp = true,
                        'p' => o.procs = true,
                        'n' => {}
                        _ => return Err(format!("ss: unknown option -{c}")),
                    }
                }
            }
            _ => return Err(format!("ss: unexpected argument {s:?}")),
        }
    }
    if !(o.unix || o.tcp || o.udp) {
        o.unix = true;
        o.tcp = true;
        o.udp = true;
    }
    Ok(o)
}

pub fn main(args: &[OsString]) -> Result<u8, String> {
    let o = parse(args)?;
    let ns = super::ns_name(o.ns.as_deref());
    let dir = super::shm_dir();
    let host = match Host::open_existing(&dir, &ns) {
        Ok(h) => h,
        Err(e) if e == netshim::errno::Errno::ENOENT => {
            return Err(format!("no namespace {ns:?} ({} does not exist)", Host::file_name(&dir, &ns)));
        }
        Err(e) => return Err(format!("cannot map namespace {ns:?}: {e}")),
    };
    let snap = inspect::snapshot(&host);
    let rows: Vec<SockRow> = snap.socks.iter().chain(&snap.timewait).cloned().collect();
    print!("{}", render(&rows, &o));
    Ok(0)
}

/// The `ss` Netid of a row, or None for a kind that was not asked for.
fn netid(r: &SockRow, o: &Opts) -> Option<&'static str> {
    let unix = r.family == libc::AF_UNIX as u16;
    match (unix, r.kind as i32) {
        (true, libc::SOCK_STREAM) if o.unix => Some("u_str"),
        (true, libc::SOCK_DGRAM) if o.unix => Some("u_dgr"),
        (true, libc::SOCK_SEQPACKET) if o.unix => Some("u_seq"),
        (false, libc::SOCK_STREAM) if o.tcp => Some("tcp"),
        (false, libc::SOCK_DGRAM) if o.udp => Some("udp"),
        _ => None,
    }
}

/// ss's state filter: default connected states only, -l listening (and
/// unconnected datagram sockets), -a everything.
fn wanted(r: &SockRow, o: &Opts) -> bool {
    let listen_like = r.state == TcpState::Listen || r.state == TcpState::Close;
    if o.all {
        return true;
    }
    if o.listening {
        return listen_like;
    }
    !listen_like && r.state != TcpState::TimeWait && r.state != TcpState::SynRecv
}

fn state_name(r: &SockRow) -> &'static str {
    match r.state {
        TcpState::Close => "UNCONN",
        TcpState::Free => "UNCONN",
        s => s.name(),
    }
}

fn unix_name(a: &netshim::net::addr::Addr) -> String {
    match UnixName::of(a) {
        Some(UnixName::Path(p)) => String::from_utf8_lossy(&p).into_owned(),
        Some(UnixName::Abstract(p)) => format!("@{}", String::from_utf8_lossy(&p).replace('\0', "@")),
        None => "*".into(),
    }
}

/// `ss -n`'s address:port for an inet endpoint of a socket of `family`.
fn inet_name(a: &InetAddr, family: u16) -> String {
    let port = if a.port == 0 { "*".to_string() } else { a.port.to_string() };
    if family == libc::AF_INET as u16 || a.is_v4() && family != libc::AF_INET6 as u16 {
        let b = a.v4_bytes();
        format!("{}.{}.{}.{}:{port}", b[0], b[1], b[2], b[3])
    } else {
        format!("[{}]:{port}", std::net::Ipv6Addr::from(a.ip))
    }
}

/// pid -> comm, read once per pid.
fn comm(pid: u32, cache: &mut HashMap<u32, String>) -> String {
    cache
        .entry(pid)
        .or_insert_with(|| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim_end().to_string()).unwrap_or_else(|_| "?".into())
        })
        .clone()
}

/// An address cell: the address, the separator ss prints (`:` for inet,
/// a space between a unix name and its inode) and the port or inode.
#[derive(Clone)]
struct AddrCell {
    addr: String,
    sep: char,
    port: String,
}

impl AddrCell {
    fn inet(a: &InetAddr, family: u16) -> AddrCell {
        let s = inet_name(a, family);
        let i = s.rfind(':').unwrap_or(s.len());
        AddrCell { addr: s[..i].to_string(), sep: ':', port: s.get(i + 1..).unwrap_or("").to_string() }
    }
}

/// One row: Netid, State, Recv-Q, Send-Q, local, peer, Process.
struct Row {
    netid: String,
    state: String,
    recv_q: String,
    send_q: String,
    local: AddrCell,
    peer: AddrCell,
    process: String,
}

/// The whole table, as text, laid out as `ss` does: every column left
/// aligned except the addresses, which are right-aligned on the `:` (or
/// the space before a unix socket's inode) with the port left-aligned
/// after it, under a `Local Address:Port` header split the same way.
fn render(rows: &[SockRow], o: &Opts) -> String {
    let mut out: Vec<Row> = Vec::new();
    let mut comms = HashMap::new();
    let order = |r: &SockRow| match (r.family == libc::AF_UNIX as u16, r.kind as i32) {
        (true, _) => 0,
        (false, libc::SOCK_DGRAM) => 1,
        _ => 2,
    };
    let mut sorted: Vec<&SockRow> = rows.iter().filter(|r| r.hashed).collect();
    sorted.sort_by_key(|r| (order(r), r.id));
    let kinds = [o.unix, o.tcp, o.udp].iter().filter(|&&k| k).count();
    for r in sorted {
        let Some(id) = netid(r, o) else { continue };
        if !wanted(r, o) {
            continue;
        }
        let (local, peer) = if r.family == libc::AF_UNIX as u16 {
            let ino = r.id + 1;
            let peer = match r.peer {
                Some(p) => AddrCell { addr: unix_name(&r.peer_unix_addr), sep: ' ', port: (p + 1).to_string() },
                None => AddrCell { addr: "*".into(), sep: ' ', port: "0".into() },
            };
            (AddrCell { addr: unix_name(&r.unix_addr), sep: ' ', port: ino.to_string() }, peer)
        } else {
            let peer = if r.raddr.port == 0 { InetAddr::any(r.family).with_port(0) } else { r.raddr };
            (AddrCell::inet(&r.laddr, r.family), AddrCell::inet(&peer, r.family))
        };
        let process = if o.procs && !r.users.is_empty() {
            let list: Vec<String> = r.users.iter().map(|&(pid, fd)| format!("(\"{}\",pid={pid},fd={fd})", comm(pid, &mut comms))).collect();
            format!("users:({})", list.join(","))
        } else {
            String::new()
        };
        out.push(Row {
            netid: id.into(),
            state: state_name(r).into(),
            recv_q: r.recv_q.to_string(),
            send_q: r.send_q.to_string(),
            local,
            peer,
            process,
        });
    }
    let header = Row {
        netid: "Netid".into(),
        state: "State".into(),
        recv_q: "Recv-Q".into(),
        send_q: "Send-Q".into(),
        local: AddrCell { addr: "Local Address".into(), sep: ':', port: "Port".into() },
        peer: AddrCell { addr: "Peer Address".into(), sep: ':', port: "Port".into() },
        process: "Process".into(),
    };
    let w = |f: &dyn Fn(&Row) -> usize| out.iter().chain(std::iter::once(&header)).map(f).max().unwrap_or(0);
    let (wn, ws, wr, wq) = (w(&|r| r.netid.len()), w(&|r| r.state.len()), w(&|r| r.recv_q.len()), w(&|r| r.send_q.len()));
    let (wla, wlp) = (w(&|r| r.local.addr.chars().count()), w(&|r| r.local.port.len()));
    let (wpa, wpp) = (w(&|r| r.peer.addr.chars().count()), w(&|r| r.peer.port.len()));
    let mut text = String::new();
    for row in std::iter::once(&header).chain(out.iter()) {
        let mut line = String::new();
        if kinds > 1 {
            line.push_str(&format!("{:<wn$} ", row.netid));
        }
        line.push_str(&format!("{:<ws$} {:<wr$} {:<wq$} ", row.state, row.recv_q, row.send_q));
        line.push_str(&format!("{:>wla$}{}{:<wlp$} ", row.local.addr, row.local.sep, row.local.port));
        line.push_str(&format!("{:>wpa$}{}{:<wpp$} ", row.peer.addr, row.peer.sep, row.peer.port));
        if o.procs {
            line.push_str(&row.process);
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_names() {
        assert_eq!(inet_name(&InetAddr::v4([127, 0, 0, 1], 7777), libc::AF_INET as u16), "127.0.0.1:7777");
        assert_eq!(inet_name(&InetAddr::v4([0; 4], 0), libc::AF_INET as u16), "0.0.0.0:*");
        assert_eq!(inet_name(&InetAddr::any(libc::AF_INET6 as u16).with_port(80), libc::AF_INET6 as u16), "[::]:80");
        assert_eq!(inet_name(&InetAddr::v4([127, 0, 0, 1], 9), libc::AF_INET6 as u16), "[::ffff:127.0.0.1]:9");
    }

    #[test]
    fn combined_flags() {
        let o = parse(&["-tlnp".into()]).unwrap();
        assert!(o.tcp && o.listening && o.procs && !o.unix && !o.udp && !o.all);
        let o = parse(&["--ns".into(), "x".into()]).unwrap();
        assert!(o.unix && o.tcp && o.udp);
        assert_eq!(o.ns.as_deref(), Some("x"));
        assert!(parse(&["-z".into()]).is_err());
    }
}
