//! Looking at a namespace from outside: what `netshim ss` and `netshim ns`
//! read. Everything is copied under the host lock in one short critical
//! section (as `ss` gets one consistent dump from sock_diag), then the lock
//! is released and the caller formats at leisure.

use crate::net::addr::{Addr, InetAddr};
use crate::net::sock::{OpsId, SockId, TcpState};
use crate::shm::Host;
use crate::task;
use std::sync::atomic::Ordering;

/// One socket as `ss` shows it.
#[derive(Clone, Debug)]
pub struct SockRow {
    /// Slot index: the socket's identity (shown as the inode of AF_UNIX sockets).
    pub id: u32,
    pub family: u16,
    /// SOCK_STREAM / SOCK_DGRAM / SOCK_SEQPACKET.
    pub kind: u16,
    pub state: TcpState,
    /// AF_UNIX: the bound name (empty: unnamed).
    pub unix_addr: Addr,
    /// AF_UNIX: the peer's slot and name.
    pub peer: Option<u32>,
    pub peer_unix_addr: Addr,
    /// AF_INET/AF_INET6: local address with `inet_num`, remote address.
    pub laddr: InetAddr,
    pub raddr: InetAddr,
    /// Recv-Q and Send-Q as ss reports them: for a listener the accept
    /// queue length and the backlog, otherwise queued bytes.
    pub recv_q: u64,
    pub send_q: u64,
    /// Whether the socket is hashed (bound or connected): an inet socket
    /// that is neither does not appear in `ss`.
    pub hashed: bool,
    /// (pid, fd) of every fd that refers to the socket.
    pub users: Vec<(u32, i32)>,
}

/// A process of the namespace.
#[derive(Clone, Debug)]
pub struct ProcRow {
    pub pid: u32,
    pub nfds: usize,
}

/// A copy of a namespace's sockets and processes.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub socks: Vec<SockRow>,
    /// TCP timewait entries (not sockets: no fd, no slot).
    pub timewait: Vec<SockRow>,
    pub procs: Vec<ProcRow>,
}

/// Copies the sockets and fd tables of `host` (host lock held only for the copy).
pub fn snapshot(host: &Host) -> Snapshot {
    let g = host.header().host.lock();
    let mut out = Snapshot::default();
    let mut users: std::collections::HashMap<u32, Vec<(u32, i32)>> = Default::default();
    for (slot, p) in g.procs.iter().enumerate() {
        if !p.in_use {
            continue;
        }
        let ents = task::entries(host, slot, p.fd_limit);
        for (fd, e) in &ents {
            users.entry(e.sock.0).or_default().push((p.pid, *fd));
        }
        out.procs.push(ProcRow { pid: p.pid, nfds: ents.len() });
    }
    for i in 0..g.nsocks_hw as usize {
        let c = &g.socks[i];
        if !c.in_use || c.ops == OpsId::None {
            continue;
        }
        let s = &host.shared()[i];
        let state = s.state();
        let peer = SockId::unpack(s.peer.load(Ordering::Acquire)).filter(|p| g.socks[p.idx()].in_use);
        let stream = c.kind == libc::SOCK_STREAM as u16 || c.kind == libc::SOCK_SEQPACKET as u16;
        let (recv_q, send_q) = if state == TcpState::Listen {
            (c.acceptq_len as u64, s.max_ack_backlog.load(Ordering::Relaxed) as u64)
        } else {
            let id = SockId(i as u32);
            // unix_diag: unix_inq_len and unix_outq_len (sk_wmem_alloc).
            let rq = if c.family != libc::AF_UNIX as u16 {
                s.rx.lock().used() as u64
            } else if c.kind == libc::SOCK_STREAM as u16 {
                crate::net::queue::SkbQueue::lock(host, id).inq_len() as u64
            } else if stream {
                crate::net::queue::records_total_len(host, id) as u64
            } else {
                crate::net::queue::first_record_len(host, id).1 as u64
            };
            let sq = if c.family == libc::AF_UNIX as u16 { crate::net::skb::sk_wmem_alloc_get(s) as u64 } else { 0 };
            (rq, sq)
        };
        let hashed = c.family == libc::AF_UNIX as u16 || c.num != 0 || state != TcpState::Close;
        out.socks.push(SockRow {
            id: i as u32,
            family: c.family,
            kind: c.kind,
            state,
            unix_addr: c.addr,
            peer: peer.map(|p| p.0),
            peer_unix_addr: peer.map(|p| g.socks[p.idx()].addr).unwrap_or_default(),
            laddr: c.laddr.with_port(c.num),
            raddr: c.raddr,
            recv_q,
            send_q,
            hashed,
            users: users.remove(&(i as u32)).unwrap_or_default(),
        });
    }
    // TIME_WAIT (and orphan FIN_WAIT2) entries, as inet_diag dumps the
    // timewait socks with the full ones; numbered after the socket slots.
    let now = crate::sys::monotonic_ns();
    for (k, tw) in crate::net::inet_timewait::live(&g.tw, now).enumerate() {
        out.timewait.push(SockRow {
            id: (crate::shm::MAX_SOCKS + k) as u32,
            family: tw.family,
            kind: libc::SOCK_STREAM as u16,
            state: tw.state(),
            unix_addr: Addr::default(),
            peer: None,
            peer_unix_addr: Addr::default(),
            laddr: tw.laddr,
            raddr: tw.raddr,
            recv_q: 0,
            send_q: 0,
            hashed: true,
            users: Vec::new(),
        });
    }
    out
}
