//! net/unix/af_unix.c: AF_UNIX stream, datagram and seqpacket sockets.
//!
//! The functions keep the kernel's names and, inside, the kernel's order of
//! checks, because that order decides which errno a program sees when more
//! than one thing is wrong (unix_stream_connect looks the peer up before it
//! tells a connected socket EISCONN, for instance).
//!
//! Names: a path bind makes a real socket inode (mknod S_IFSOCK, as
//! unix_bind_bsd does) and the socket remembers its (dev, ino), so lookups
//! go by inode: unlink + rebind, renames and symlinks behave as on Linux.
//! Abstract names live only here, keyed by name and type, as the kernel's
//! hash is.

use super::addr::{unix_unnamed, Addr, UnixName};
use super::queue;
use super::sock::*;
use super::socket::*;
use super::sockopt;
use crate::errno::{Errno, KResult};
use crate::shm::{Host, HostState};
use crate::{ktrace, syscall};
use std::sync::atomic::Ordering;

pub static UNIX_STREAM_OPS: ProtoOps = ProtoOps {
    name: "unix_stream_ops",
    release: unix_release,
    bind: unix_bind,
    connect: unix_stream_connect,
    accept: unix_accept,
    getname: unix_getname,
    poll: unix_poll,
    ioctl: unix_ioctl,
    listen: unix_listen,
    shutdown: unix_shutdown,
    setsockopt: sock_no_setsockopt,
    getsockopt: sock_no_getsockopt,
    sendmsg: unix_stream_sendmsg,
    recvmsg: unix_stream_recvmsg,
};

pub static UNIX_DGRAM_OPS: ProtoOps = ProtoOps {
    name: "unix_dgram_ops",
    release: unix_release,
    bind: unix_bind,
    connect: unix_dgram_connect,
    accept: sock_no_accept,
    getname: unix_getname,
    poll: unix_dgram_poll,
    ioctl: unix_ioctl,
    listen: sock_no_listen,
    shutdown: unix_shutdown,
    setsockopt: sock_no_setsockopt,
    getsockopt: sock_no_getsockopt,
    sendmsg: unix_dgram_sendmsg,
    recvmsg: unix_dgram_recvmsg,
};

pub static UNIX_SEQPACKET_OPS: ProtoOps = ProtoOps {
    name: "unix_seqpacket_ops",
    release: unix_release,
    bind: unix_bind,
    connect: unix_stream_connect,
    accept: unix_accept,
    getname: unix_getname,
    poll: unix_dgram_poll,
    ioctl: unix_ioctl,
    listen: unix_listen,
    shutdown: unix_shutdown,
    setsockopt: sock_no_setsockopt,
    getsockopt: sock_no_getsockopt,
    sendmsg: unix_seqpacket_sendmsg,
    recvmsg: unix_seqpacket_recvmsg,
};

/// net.unix.max_dgram_qlen
pub const MAX_DGRAM_QLEN: u32 = 10;

fn sh(host: &Host, id: SockId) -> &SockShared {
    &host.shared()[id.idx()]
}

/// `unix_create` + `unix_create1`.
pub fn unix_create(host: &Host, g: &mut HostState, ty: i32, protocol: i32) -> KResult<SockId> {
    ktrace!("unix_create");
    if protocol != 0 && protocol != libc::PF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let (kind, ops) = match ty {
        libc::SOCK_STREAM => (libc::SOCK_STREAM, OpsId::UnixStream),
        // SOCK_RAW is mapped to SOCK_DGRAM.
        libc::SOCK_RAW | libc::SOCK_DGRAM => (libc::SOCK_DGRAM, OpsId::UnixDgram),
        libc::SOCK_SEQPACKET => (libc::SOCK_SEQPACKET, OpsId::UnixSeqpacket),
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    let id = sk_alloc(host, g, libc::AF_UNIX as u16, kind as u16, protocol as u16, ops)?;
    sh(host, id).max_ack_backlog.store(MAX_DGRAM_QLEN, Ordering::Relaxed);
    Ok(id)
}

/// `unix_release` -> `unix_release_sock`.
fn unix_release(host: &Host, g: &mut HostState, id: SockId) {
    unix_release_sock(host, g, id, false);
}

fn unix_release_sock(host: &Host, g: &mut HostState, id: SockId, embrion: bool) {
    ktrace!("unix_release_sock");
    let s = sh(host, id);
    // unix_remove_socket: the name is gone with the socket (the inode stays).
    let c = &mut g.socks[id.idx()];
    c.path_dev = 0;
    c.path_ino = 0;
    c.unix_hashed = false;
    let kind = c.kind as i32;
    s.set_flag(SOCK_DEAD, true);
    s.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
    let state = s.state();
    s.set_state(TcpState::Close);
    let skpair = SockId::unpack(s.peer.swap(0, Ordering::AcqRel));
    let unread = if kind == libc::SOCK_STREAM { queue::queued(host, id) > 0 } else { queue::first_record_len(host, id).0 > 0 };
    s.wq.wake();
    if let Some(p) = skpair {
        if kind == libc::SOCK_STREAM || kind == libc::SOCK_SEQPACKET {
            let ps = sh(host, p);
            ps.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
            if unread || embrion {
                ps.err.store(libc::ECONNRESET, Ordering::Release);
            }
            ps.wq.wake();
        }
        sock_put(host, g, p);
    }
    // Flush the receive queue; a listener's queue holds embryos.
    if state == TcpState::Listen {
        while let Some(e) = acceptq_pop(g, id) {
            unix_release_sock(host, g, e, true);
            // The queue's reference on the embryo.
            sock_put(host, g, e);
        }
    } else if kind == libc::SOCK_STREAM {
        queue::purge(host, id);
    } else {
        for passed in queue::purge_records(host, id) {
            fput_inflight(host, g, passed);
        }
    }
}

/// Drops the file reference an in-flight SCM_RIGHTS socket held.
pub fn fput_inflight(host: &Host, g: &mut HostState, id: SockId) {
    fput(host, g, id);
}

fn acceptq_push(g: &mut HostState, l: SockId, e: SockId) {
    let tail = SockId::unpack(g.socks[l.idx()].acceptq_tail);
    g.socks[e.idx()].q_next = 0;
    g.socks[e.idx()].parent = SockId::pack(Some(l));
    match tail {
        Some(t) => g.socks[t.idx()].q_next = SockId::pack(Some(e)),
        None => g.socks[l.idx()].acceptq_head = SockId::pack(Some(e)),
    }
    g.socks[l.idx()].acceptq_tail = SockId::pack(Some(e));
    g.socks[l.idx()].acceptq_len += 1;
}

pub fn acceptq_pop(g: &mut HostState, l: SockId) -> Option<SockId> {
    let head = SockId::unpack(g.socks[l.idx()].acceptq_head)?;
    let next = g.socks[head.idx()].q_next;
    g.socks[l.idx()].acceptq_head = next;
    if next == 0 {
        g.socks[l.idx()].acceptq_tail = 0;
    }
    g.socks[l.idx()].acceptq_len -= 1;
    g.socks[head.idx()].q_next = 0;
    g.socks[head.idx()].parent = 0;
    Some(head)
}

/// `unix_recvq_full`: a listener's queue, or a datagram receiver's.
fn unix_recvq_full(host: &Host, g: &HostState, other: SockId) -> bool {
    let backlog = sh(host, other).max_ack_backlog.load(Ordering::Relaxed);
    let len = if sh(host, other).state() == TcpState::Listen {
        g.socks[other.idx()].acceptq_len
    } else {
        queue::first_record_len(host, other).0
    };
    len > backlog
}

fn cpath(p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    v.push(0);
    v
}

fn stat_path(path: &[u8]) -> KResult<libc::stat> {
    let c = cpath(path);
    // SAFETY: c is NUL-terminated; st is a valid out-pointer.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    unsafe { syscall!(SYS_newfstatat, libc::AT_FDCWD, c.as_ptr(), &mut st as *mut libc::stat, 0) }?;
    Ok(st)
}

/// Live sockets (bounded by the high-water mark).
fn live(g: &HostState) -> impl Iterator<Item = usize> + '_ {
    (0..g.nsocks_hw as usize).filter(move |&i| g.socks[i].in_use)
}

/// `unix_find_other`: the socket bound to a name, checked for type.
fn unix_find_other(host: &Host, g: &HostState, name: &UnixName, addr: &Addr, ty: u16) -> KResult<SockId> {
    ktrace!("unix_find_other");
    match name {
        UnixName::Path(p) => {
            // unix_find_bsd: path lookup, MAY_WRITE, S_ISSOCK, by inode, type.
            let st = stat_path(p)?;
            let c = cpath(p);
            // SAFETY: c is NUL-terminated.
            if unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr() as *const libc::c_char, libc::W_OK, libc::AT_EACCESS) } < 0 {
                return Err(Errno::last());
            }
            if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                return Err(Errno::ECONNREFUSED);
            }
            let found = live(g).find(|&i| {
                let s = &g.socks[i];
                s.family == libc::AF_UNIX as u16 && s.path_ino == st.st_ino && s.path_dev == st.st_dev && s.path_ino != 0
            });
            let i = found.ok_or(Errno::ECONNREFUSED)?;
            if g.socks[i].kind != ty {
                return Err(Errno::EPROTOTYPE);
            }
            Ok(SockId(i as u32))
        }
        UnixName::Abstract(_) => live(g)
            .find(|&i| {
                let s = &g.socks[i];
                s.family == libc::AF_UNIX as u16
                    && s.kind == ty
                    && s.unix_hashed
                    && s.path_ino == 0
                    && !s.addr.is_empty()
                    && s.addr.as_bytes() == addr.as_bytes()
                    && !sh(host, SockId(i as u32)).flag(SOCK_DEAD)
            })
            .map(|i| SockId(i as u32))
            .ok_or(Errno::ECONNREFUSED),
    }
}

/// `unix_autobind`: "\0" + five hex digits, unique among this type's names.
fn unix_autobind(host: &Host, g: &mut HostState, id: SockId) -> KResult<()> {
    ktrace!("unix_autobind");
    if !g.socks[id.idx()].addr.is_empty() {
        return Ok(());
    }
    let ty = g.socks[id.idx()].kind;
    let start = (g.next_id as u32).wrapping_mul(2654435761) & 0xfffff;
    for i in 0..0x100000u32 {
        let n = (start + i) & 0xfffff;
        let (name, addr) = UnixName::autobind(n);
        if unix_find_other(host, g, &name, &addr, ty).is_err() {
            g.next_id += 1;
            g.socks[id.idx()].addr = addr;
            g.socks[id.idx()].unix_hashed = true;
            return Ok(());
        }
    }
    Err(Errno::ENOSPC)
}

/// `unix_bind`.
fn unix_bind(host: &Host, id: SockId, uaddr: &[u8]) -> KResult<()> {
    ktrace!("unix_bind");
    with_host(host, |g| {
        if uaddr.len() == 2 && super::addr::family_of(uaddr) == libc::AF_UNIX as u16 {
            return unix_autobind(host, g, id);
        }
        let (name, addr) = UnixName::parse(uaddr)?;
        match name {
            UnixName::Path(p) => unix_bind_bsd(g, id, &p, addr),
            UnixName::Abstract(_) => {
                ktrace!("unix_bind_abstract");
                if !g.socks[id.idx()].addr.is_empty() {
                    return Err(Errno::EINVAL);
                }
                let ty = g.socks[id.idx()].kind;
                if unix_find_other(host, g, &name, &addr, ty).is_ok() {
                    return Err(Errno::EADDRINUSE);
                }
                g.socks[id.idx()].addr = addr;
                g.socks[id.idx()].unix_hashed = true;
                Ok(())
            }
        }
    })
}

/// `unix_bind_bsd`: mknod the socket inode first, then check the socket.
fn unix_bind_bsd(g: &mut HostState, id: SockId, path: &[u8], addr: Addr) -> KResult<()> {
    ktrace!("unix_bind_bsd -> vfs_mknod");
    let c = cpath(path);
    // SAFETY: c is NUL-terminated; mknodat with S_IFSOCK needs no privilege
    // and applies the umask as the kernel's bind does.
    let r = unsafe { syscall!(SYS_mknodat, libc::AT_FDCWD, c.as_ptr(), libc::S_IFSOCK | 0o777, 0) };
    match r {
        Err(e) if e == Errno::EEXIST => return Err(Errno::EADDRINUSE),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    let unlink = || {
        // SAFETY: c is NUL-terminated.
        let _ = unsafe { syscall!(SYS_unlinkat, libc::AT_FDCWD, c.as_ptr(), 0) };
    };
    if !g.socks[id.idx()].addr.is_empty() {
        unlink();
        return Err(Errno::EINVAL);
    }
    let st = match stat_path(path) {
        Ok(st) => st,
        Err(e) => {
            unlink();
            return Err(e);
        }
    };
    let s = &mut g.socks[id.idx()];
    s.addr = addr;
    s.path_dev = st.st_dev;
    s.path_ino = st.st_ino;
    s.unix_hashed = true;
    Ok(())
}

/// `unix_listen`.
fn unix_listen(host: &Host, id: SockId, backlog: i32) -> KResult<()> {
    ktrace!("unix_listen");
    with_host(host, |g| {
        let c = &mut g.socks[id.idx()];
        if c.kind != libc::SOCK_STREAM as u16 && c.kind != libc::SOCK_SEQPACKET as u16 {
            return Err(Errno::EOPNOTSUPP);
        }
        if c.addr.is_empty() {
            return Err(Errno::EINVAL);
        }
        let s = sh(host, id);
        let st = s.state();
        if st != TcpState::Close && st != TcpState::Listen {
            return Err(Errno::EINVAL);
        }
        let backlog = backlog.max(0) as u32;
        if backlog > s.max_ack_backlog.load(Ordering::Relaxed) {
            s.wq.wake();
        }
        s.max_ack_backlog.store(backlog, Ordering::Relaxed);
        s.set_state(TcpState::Listen);
        // init_peercred: connect copies these to the client.
        c.peer_cred = current_cred();
        Ok(())
    })
}

/// `unix_stream_connect` (stream and seqpacket).
fn unix_stream_connect(host: &Host, id: SockId, uaddr: &[u8]) -> KResult<()> {
    ktrace!("unix_stream_connect");
    let (name, addr) = UnixName::parse(uaddr)?;
    let s = sh(host, id);
    with_host(host, |g| {
        if s.flag(SOCK_PASSCRED) {
            unix_autobind(host, g, id)?;
        }
        Ok::<(), Errno>(())
    })?;
    let nonblock = s.nonblocking();
    let deadline = SockShared::deadline(&s.sndtimeo_us);
    let mut other_wq: Option<SockId> = None;
    loop {
        // The wait (if any) is on the listener's queue: unix_wait_for_peer.
        let seq = other_wq.map(|o| sh(host, o).wq.prepare());
        let r = with_host(host, |g| -> KResult<Option<SockId>> {
            let other = unix_find_other(host, g, &name, &addr, g.socks[id.idx()].kind)?;
            let os = sh(host, other);
            if os.state() != TcpState::Listen || os.shutdown() & RCV_SHUTDOWN != 0 {
                return Err(Errno::ECONNREFUSED);
            }
            if unix_recvq_full(host, g, other) {
                ktrace!("unix_recvq_full? yes");
                if nonblock {
                    return Err(Errno::EAGAIN);
                }
                return Ok(Some(other));
            }
            let st = s.state();
            if st != TcpState::Close {
                return Err(if st == TcpState::Established { Errno::EISCONN } else { Errno::EINVAL });
            }
            // The way is open: make the embryo, cross-link, queue it.
            let kind = g.socks[id.idx()].kind;
            let ops = g.socks[id.idx()].ops;
            let newsk = sk_alloc(host, g, libc::AF_UNIX as u16, kind, g.socks[id.idx()].protocol, ops)?;
            ktrace!("unix_create1(embryo) -> queue on listener -> sk_data_ready");
            let ns = sh(host, newsk);
            ns.max_ack_backlog.store(MAX_DGRAM_QLEN, Ordering::Relaxed);
            sock_hold(g, id);
            ns.peer.store(SockId::pack(Some(id)), Ordering::Release);
            ns.set_state(TcpState::Established);
            let listener_addr = g.socks[other.idx()].addr;
            let listener_cred = g.socks[other.idx()].peer_cred;
            let listener_passcred = sh(host, other).flag(SOCK_PASSCRED);
            {
                let n = &mut g.socks[newsk.idx()];
                n.peer_cred = current_cred(); // init_peercred(newsk)
                n.addr = listener_addr;
                n.ss = SsState::Connected;
            }
            ns.set_flag(SOCK_PASSCRED, listener_passcred);
            let c = &mut g.socks[id.idx()];
            c.peer_cred = listener_cred; // copy_peercred(sk, other)
            c.ss = SsState::Connected;
            s.set_state(TcpState::Established);
            sock_hold(g, newsk);
            s.peer.store(SockId::pack(Some(newsk)), Ordering::Release);
            // The queue holds the embryo's first reference (skb->sk).
            acceptq_push(g, other, newsk);
            os.wq.wake();
            Ok(None)
        })?;
        match r {
            None => return Ok(()),
            Some(other) => {
                if let (Some(seq), Some(prev)) = (seq, other_wq) {
                    if prev == other {
                        match sh(host, other).wq.wait(seq, deadline, &|| {
                            crate::task::reap_dead(host);
                        }) {
                            Err(e) if e == Errno::EAGAIN => return Err(Errno::EAGAIN),
                            Err(e) => return Err(e),
                            Ok(()) => {}
                        }
                    }
                }
                other_wq = Some(other);
            }
        }
    }
}

/// `unix_socketpair`: two fresh sockets connected to each other.
pub fn unix_socketpair(host: &Host, g: &mut HostState, a: SockId, b: SockId) {
    ktrace!("unix_socketpair");
    sock_hold(g, a);
    sock_hold(g, b);
    sh(host, a).peer.store(SockId::pack(Some(b)), Ordering::Release);
    sh(host, b).peer.store(SockId::pack(Some(a)), Ordering::Release);
    let cred = current_cred();
    for x in [a, b] {
        g.socks[x.idx()].peer_cred = cred;
        g.socks[x.idx()].ss = SsState::Connected;
        if g.socks[x.idx()].kind != libc::SOCK_DGRAM as u16 {
            sh(host, x).set_state(TcpState::Established);
        }
    }
    if g.socks[a.idx()].kind == libc::SOCK_DGRAM as u16 {
        sh(host, a).set_state(TcpState::Established);
        sh(host, b).set_state(TcpState::Established);
    }
}

/// `unix_accept`.
fn unix_accept(host: &Host, id: SockId, nonblock: bool) -> KResult<SockId> {
    ktrace!("unix_accept");
    let s = sh(host, id);
    let kind = with_host(host, |g| g.socks[id.idx()].kind) as i32;
    if kind != libc::SOCK_STREAM && kind != libc::SOCK_SEQPACKET {
        return Err(Errno::EOPNOTSUPP);
    }
    if s.state() != TcpState::Listen {
        return Err(Errno::EINVAL);
    }
    let deadline = SockShared::deadline(&s.rcvtimeo_us);
    // skb_recv_datagram on the listener's queue.
    let tsk = wait_event(host, &s.wq, nonblock, deadline, || {
        with_host(host, |g| {
            if let Some(e) = s.take_err() {
                return Err(e);
            }
            if let Some(t) = acceptq_pop(g, id) {
                return Ok(Some(t));
            }
            if s.shutdown() & RCV_SHUTDOWN != 0 || s.state() != TcpState::Listen {
                return Err(Errno::EINVAL);
            }
            Ok(None)
        })
    })?;
    // Room was made in the queue: wake connectors waiting for it.
    s.wq.wake();
    with_host(host, |g| g.socks[tsk.idx()].ss = SsState::Connected);
    Ok(tsk)
}

/// `unix_getname`.
fn unix_getname(host: &Host, id: SockId, peer: bool) -> KResult<Addr> {
    with_host(host, |g| {
        let who = if peer { sh(host, id).peer().ok_or(Errno::ENOTCONN)? } else { id };
        let a = g.socks[who.idx()].addr;
        Ok(if a.is_empty() { unix_unnamed() } else { a })
    })
}

/// `unix_writable`: room in what this socket has in flight.
fn unix_writable(host: &Host, id: SockId, state: TcpState) -> bool {
    if state == TcpState::Listen {
        return false;
    }
    match sh(host, id).peer() {
        Some(p) => {
            let q = sh(host, p).rx.lock();
            let cap = queue::capacity(host, &q);
            q.used() * 4 <= cap
        }
        None => true,
    }
}

/// `unix_poll` (stream).
fn unix_poll(host: &Host, id: SockId) -> u32 {
    let s = sh(host, id);
    let state = s.state();
    let shutdown = s.shutdown();
    let mut mask = 0u32;
    if s.err.load(Ordering::Relaxed) != 0 {
        mask |= libc::POLLERR as u32;
    }
    if shutdown == SHUTDOWN_MASK {
        mask |= libc::POLLHUP as u32;
    }
    if shutdown & RCV_SHUTDOWN != 0 {
        mask |= (libc::POLLRDHUP | libc::POLLIN | libc::POLLRDNORM) as u32;
    }
    let readable = if state == TcpState::Listen {
        with_host(host, |g| g.socks[id.idx()].acceptq_len > 0)
    } else {
        queue::queued(host, id) > 0
    };
    if readable {
        mask |= (libc::POLLIN | libc::POLLRDNORM) as u32;
    }
    if state == TcpState::Close {
        mask |= libc::POLLHUP as u32;
    }
    if unix_writable(host, id, state) {
        mask |= (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) as u32;
    }
    mask
}

/// `unix_dgram_poll` (datagram and seqpacket).
fn unix_dgram_poll(host: &Host, id: SockId) -> u32 {
    let s = sh(host, id);
    let state = s.state();
    let shutdown = s.shutdown();
    let kind = with_host(host, |g| g.socks[id.idx()].kind) as i32;
    let mut mask = 0u32;
    if s.err.load(Ordering::Relaxed) != 0 {
        mask |= libc::POLLERR as u32;
    }
    if shutdown & RCV_SHUTDOWN != 0 {
        mask |= (libc::POLLRDHUP | libc::POLLIN | libc::POLLRDNORM) as u32;
    }
    if shutdown == SHUTDOWN_MASK {
        mask |= libc::POLLHUP as u32;
    }
    let readable = if state == TcpState::Listen {
        with_host(host, |g| g.socks[id.idx()].acceptq_len > 0)
    } else {
        queue::first_record_len(host, id).0 > 0
    };
    if readable {
        mask |= (libc::POLLIN | libc::POLLRDNORM) as u32;
    }
    if kind == libc::SOCK_SEQPACKET {
        if state == TcpState::Close {
            mask |= libc::POLLHUP as u32;
        }
        if state == TcpState::SynSent {
            return mask;
        }
    }
    let mut writable = state != TcpState::Listen;
    if writable {
        if let Some(other) = s.peer() {
            let back = sh(host, other).peer() == Some(id);
            if !back && with_host(host, |g| unix_recvq_full(host, g, other)) {
                writable = false;
            }
        }
    }
    if writable {
        mask |= (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) as u32;
    }
    mask
}

/// `unix_ioctl`: SIOCINQ (FIONREAD) and SIOCOUTQ.
fn unix_ioctl(host: &Host, id: SockId, cmd: u64) -> KResult<i32> {
    let s = sh(host, id);
    let kind = with_host(host, |g| g.socks[id.idx()].kind) as i32;
    match cmd {
        libc::FIONREAD => {
            if s.state() == TcpState::Listen {
                return Err(Errno::EINVAL);
            }
            if kind == libc::SOCK_STREAM {
                Ok(queue::queued(host, id) as i32)
            } else {
                Ok(queue::first_record_len(host, id).1 as i32)
            }
        }
        libc::TIOCOUTQ => {
            // SIOCOUTQ: bytes sent and not yet read by the peer.
            Ok(match s.peer() {
                Some(p) if kind == libc::SOCK_STREAM => queue::queued(host, p) as i32,
                _ => 0,
            })
        }
        _ => Err(Errno::ENOTTY),
    }
}

/// `unix_shutdown`.
fn unix_shutdown(host: &Host, id: SockId, how: i32) -> KResult<()> {
    ktrace!("unix_shutdown");
    if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
        return Err(Errno::EINVAL);
    }
    let mode = (how + 1) as u32;
    let s = sh(host, id);
    s.shutdown.fetch_or(mode, Ordering::AcqRel);
    s.wq.wake();
    let kind = with_host(host, |g| g.socks[id.idx()].kind) as i32;
    if let Some(other) = s.peer() {
        if kind == libc::SOCK_STREAM || kind == libc::SOCK_SEQPACKET {
            let mut peer_mode = 0;
            if mode & RCV_SHUTDOWN != 0 {
                peer_mode |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                peer_mode |= RCV_SHUTDOWN;
            }
            let os = sh(host, other);
            os.shutdown.fetch_or(peer_mode, Ordering::AcqRel);
            os.wq.wake();
        }
    }
    Ok(())
}

/// SIGPIPE for the calling thread, as `send_sig(SIGPIPE, current, 0)`.
pub fn send_sigpipe() {
    // SAFETY: raising a signal in the calling thread is what the kernel does here.
    unsafe {
        libc::raise(libc::SIGPIPE);
    }
}

/// The credentials a message carries when either side asked for them.
fn passcred_wanted(host: &Host, a: SockId, b: SockId) -> bool {
    sh(host, a).flag(SOCK_PASSCRED) || sh(host, b).flag(SOCK_PASSCRED)
}

/// Builds SCM_CREDENTIALS for recvmsg when SO_PASSCRED is on.
fn put_creds(msg: &mut RecvMsg<'_>, cred: Cred) {
    let mut data = Vec::with_capacity(12);
    data.extend_from_slice(&cred.pid.to_ne_bytes());
    data.extend_from_slice(&cred.uid.to_ne_bytes());
    data.extend_from_slice(&cred.gid.to_ne_bytes());
    sockopt::put_cmsg(msg, libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &data);
}

/// `unix_stream_sendmsg`.
fn unix_stream_sendmsg(host: &Host, id: SockId, msg: &SendMsg<'_>) -> KResult<usize> {
    ktrace!("unix_stream_sendmsg");
    let s = sh(host, id);
    if msg.flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if msg.name.is_some_and(|n| !n.is_empty()) {
        return Err(if s.state() == TcpState::Established { Errno::EISCONN } else { Errno::EOPNOTSUPP });
    }
    let other = s.peer().ok_or(Errno::ENOTCONN)?;
    let passed = sockopt::scm_rights_in(host, msg.control)?;
    if !passed.is_empty() {
        // Passing fds over a stream socket is not emulated yet.
        sockopt::scm_rights_drop(host, &passed);
        return Err(Errno::EOPNOTSUPP);
    }
    let pipe_err = |sent: usize| -> KResult<usize> {
        if sent > 0 {
            return Ok(sent);
        }
        if msg.flags & libc::MSG_NOSIGNAL == 0 {
            send_sigpipe();
        }
        Err(Errno::EPIPE)
    };
    if s.shutdown() & SEND_SHUTDOWN != 0 {
        return pipe_err(0);
    }
    let len = queue::iov_len(&msg.iov);
    let nonblock = msg.flags & libc::MSG_DONTWAIT != 0;
    let deadline = SockShared::deadline(&s.sndtimeo_us);
    let os = sh(host, other);
    let mut sent = 0;
    while sent < len || len == 0 {
        let seq = s.wq.prepare();
        if os.flag(SOCK_DEAD) || os.shutdown() & RCV_SHUTDOWN != 0 {
            return pipe_err(sent);
        }
        if s.shutdown() & SEND_SHUTDOWN != 0 {
            return pipe_err(sent);
        }
        if len == 0 {
            return Ok(0);
        }
        let n = queue::stream_put(host, other, &msg.iov, sent, len - sent);
        if n > 0 {
            sent += n;
            ktrace!("skb_queue_tail(other) -> sk_data_ready");
            os.wq.wake();
            continue;
        }
        if nonblock {
            return if sent > 0 { Ok(sent) } else { Err(Errno::EAGAIN) };
        }
        match s.wq.wait(seq, deadline, &|| {
            crate::task::reap_dead(host);
        }) {
            Ok(()) => {}
            Err(e) => return if sent > 0 { Ok(sent) } else { Err(e) },
        }
    }
    Ok(sent)
}

/// `unix_stream_read_generic` for recvmsg.
fn unix_stream_recvmsg(host: &Host, id: SockId, msg: &mut RecvMsg<'_>) -> KResult<usize> {
    ktrace!("unix_stream_recvmsg -> unix_stream_read_generic");
    let s = sh(host, id);
    let flags = msg.flags;
    if s.state() != TcpState::Established {
        return Err(Errno::EINVAL);
    }
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let peek = flags & libc::MSG_PEEK != 0;
    let nonblock = flags & libc::MSG_DONTWAIT != 0;
    let size = queue::iov_len_mut(&msg.iov);
    let target = if flags & libc::MSG_WAITALL != 0 { size } else { 1.min(size) };
    let deadline = SockShared::deadline(&s.rcvtimeo_us);
    let mut copied = 0;
    loop {
        let seq = s.wq.prepare();
        let n = {
            let mut rest: Vec<&mut [u8]> = Vec::new();
            let mut skip = copied;
            for b in msg.iov.iter_mut() {
                if skip >= b.len() {
                    skip -= b.len();
                    continue;
                }
                rest.push(&mut b[skip..]);
                skip = 0;
            }
            queue::stream_take(host, id, &mut rest, peek)
        };
        if n > 0 {
            copied += n;
            if let Some(p) = s.peer() {
                // The writer may be waiting for room: sk_write_space.
                sh(host, p).wq.wake();
                if msg.name.is_none() {
                    let a = with_host(host, |g| g.socks[p.idx()].addr);
                    if !a.is_empty() {
                        msg.name = Some(a);
                    }
                }
            }
            if peek || copied >= target {
                break;
            }
            continue;
        }
        if copied >= target && target > 0 {
            break;
        }
        if size == 0 {
            break;
        }
        if let Some(e) = s.take_err() {
            if copied > 0 {
                break;
            }
            return Err(e);
        }
        if s.shutdown() & RCV_SHUTDOWN != 0 {
            // unix_stream_read_generic peeks the queue and tests sk_shutdown
            // under one unix_state_lock, so bytes queued before the peer shut
            // down are read before the EOF. Here the take above and this
            // flag are separate loads, and the peer may have written and
            // closed in between: with the flag seen, look at the queue again.
            if queue::queued(host, id) > 0 {
                continue;
            }
            break;
        }
        if nonblock {
            if copied > 0 {
                break;
            }
            return Err(Errno::EAGAIN);
        }
        if let Err(e) = s.wq.wait(seq, deadline, &|| {
            crate::task::reap_dead(host);
        }) {
            if copied > 0 {
                break;
            }
            return Err(e);
        }
    }
    if s.flag(SOCK_PASSCRED) {
        if let Some(p) = s.peer() {
            let cred = with_host(host, |g| g.socks[p.idx()].cred);
            put_creds(msg, cred);
        }
    }
    Ok(copied)
}

/// `unix_dgram_connect`.
fn unix_dgram_connect(host: &Host, id: SockId, uaddr: &[u8]) -> KResult<()> {
    ktrace!("unix_dgram_connect");
    if uaddr.len() < 2 {
        return Err(Errno::EINVAL);
    }
    let s = sh(host, id);
    if super::addr::family_of(uaddr) == libc::AF_UNSPEC as u16 {
        // Disconnect.
        return with_host(host, |g| {
            if let Some(old) = SockId::unpack(s.peer.swap(0, Ordering::AcqRel)) {
                sock_put(host, g, old);
            }
            s.set_state(TcpState::Close);
            Ok(())
        });
    }
    let (name, addr) = UnixName::parse(uaddr)?;
    with_host(host, |g| {
        if s.flag(SOCK_PASSCRED) {
            unix_autobind(host, g, id)?;
        }
        let other = unix_find_other(host, g, &name, &addr, g.socks[id.idx()].kind)?;
        let os = sh(host, other);
        // unix_may_send
        if let Some(op) = os.peer() {
            if op != id {
                return Err(Errno::EPERM);
            }
        }
        sock_hold(g, other);
        if let Some(old) = SockId::unpack(s.peer.swap(SockId::pack(Some(other)), Ordering::AcqRel)) {
            sock_put(host, g, old);
        }
        s.set_state(TcpState::Established);
        Ok(())
    })
}

/// Reads SCM_RIGHTS out of a message's control data.
fn rights(host: &Host, msg: &SendMsg<'_>) -> KResult<Vec<SockId>> {
    sockopt::scm_rights_in(host, msg.control)
}

/// `unix_dgram_sendmsg` (also seqpacket's).
fn unix_dgram_sendmsg(host: &Host, id: SockId, msg: &SendMsg<'_>) -> KResult<usize> {
    ktrace!("unix_dgram_sendmsg");
    let s = sh(host, id);
    if msg.flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let target = match msg.name {
        Some(n) if !n.is_empty() => Some(UnixName::parse(n)?),
        _ => None,
    };
    let kind = with_host(host, |g| g.socks[id.idx()].kind) as i32;
    if target.is_none() && s.peer().is_none() {
        return Err(Errno::ENOTCONN);
    }
    let len = queue::iov_len(&msg.iov);
    let sndbuf = s.sndbuf.load(Ordering::Relaxed) as usize;
    if len + 32 > sndbuf || !queue::record_fits(host, 110, len) {
        return Err(Errno::EMSGSIZE);
    }
    let passed = rights(host, msg)?;
    let nonblock = msg.flags & libc::MSG_DONTWAIT != 0;
    let deadline = SockShared::deadline(&s.sndtimeo_us);
    let result = (|| loop {
        let mut wait_on: Option<SockId> = None;
        let seq_of = |o: SockId| sh(host, o).wq.prepare();
        let mut seq = 0;
        let r = with_host(host, |g| -> KResult<Option<usize>> {
            if passcred_wanted(host, id, id) && g.socks[id.idx()].addr.is_empty() {
                unix_autobind(host, g, id)?;
            }
            let other = match &target {
                Some((name, addr)) => unix_find_other(host, g, name, addr, kind as u16)?,
                None => s.peer().ok_or(Errno::ENOTCONN)?,
            };
            let os = sh(host, other);
            // unix_may_send
            if let Some(op) = os.peer() {
                if op != id {
                    return Err(Errno::EPERM);
                }
            }
            if os.flag(SOCK_DEAD) {
                if kind == libc::SOCK_SEQPACKET {
                    return Err(Errno::EPIPE);
                }
                if s.peer() == Some(other) {
                    s.peer.store(0, Ordering::Release);
                    s.set_state(TcpState::Close);
                    sock_put(host, g, other);
                    return Err(Errno::ECONNREFUSED);
                }
                return Err(Errno::ECONNREFUSED);
            }
            if os.shutdown() & RCV_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            let full_q = other != id && os.peer() != Some(id) && unix_recvq_full(host, g, other);
            seq = seq_of(other);
            if !full_q {
                let from = if g.socks[id.idx()].addr.is_empty() { Addr::default() } else { g.socks[id.idx()].addr };
                let cred = g.socks[id.idx()].cred;
                if queue::record_put(host, other, cred, &from, &passed, &msg.iov) {
                    ktrace!("skb_queue_tail(other) -> sk_data_ready");
                    os.wq.wake();
                    return Ok(Some(len));
                }
            } else {
                ktrace!("unix_recvq_full? yes");
            }
            wait_on = Some(other);
            Ok(None)
        })?;
        if let Some(n) = r {
            return Ok(n);
        }
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        let other = wait_on.expect("waiting needs a receiver");
        sh(host, other).wq.wait(seq, deadline, &|| {
            crate::task::reap_dead(host);
        })?;
    })();
    if result.is_err() {
        sockopt::scm_rights_drop(host, &passed);
    }
    result
}

/// `unix_dgram_recvmsg` (also seqpacket's).
fn unix_dgram_recvmsg(host: &Host, id: SockId, msg: &mut RecvMsg<'_>) -> KResult<usize> {
    ktrace!("unix_dgram_recvmsg");
    let s = sh(host, id);
    let flags = msg.flags;
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let kind = with_host(host, |g| g.socks[id.idx()].kind) as i32;
    let peek = flags & libc::MSG_PEEK != 0;
    let nonblock = flags & libc::MSG_DONTWAIT != 0;
    let deadline = SockShared::deadline(&s.rcvtimeo_us);
    let rec = loop {
        let seq = s.wq.prepare();
        if let Some(e) = s.take_err() {
            return Err(e);
        }
        if let Some(r) = queue::record_take(host, id, &mut msg.iov, peek) {
            break r;
        }
        if s.shutdown() & RCV_SHUTDOWN != 0 {
            if !nonblock || kind == libc::SOCK_SEQPACKET {
                return Ok(0);
            }
        }
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        if kind == libc::SOCK_SEQPACKET && s.state() != TcpState::Established {
            return Err(Errno::ENOTCONN);
        }
        s.wq.wait(seq, deadline, &|| {
            crate::task::reap_dead(host);
        })?;
    };
    // Room was made: wake senders waiting on this queue.
    s.wq.wake();
    if !rec.from.is_empty() {
        msg.name = Some(rec.from);
    }
    if rec.copied < rec.len {
        msg.msg_flags |= libc::MSG_TRUNC;
    }
    if s.flag(SOCK_PASSCRED) {
        put_creds(msg, rec.cred);
    }
    if !peek && !rec.socks.is_empty() {
        msg.rights = rec.socks;
    }
    Ok(if flags & libc::MSG_TRUNC != 0 { rec.len } else { rec.copied })
}

fn unix_seqpacket_sendmsg(host: &Host, id: SockId, msg: &SendMsg<'_>) -> KResult<usize> {
    if sh(host, id).state() != TcpState::Established {
        return Err(Errno::ENOTCONN);
    }
    let m = SendMsg { iov: msg.iov.clone(), name: None, control: msg.control, flags: msg.flags };
    unix_dgram_sendmsg(host, id, &m)
}

fn unix_seqpacket_recvmsg(host: &Host, id: SockId, msg: &mut RecvMsg<'_>) -> KResult<usize> {
    if sh(host, id).state() != TcpState::Established {
        return Err(Errno::ENOTCONN);
    }
    unix_dgram_recvmsg(host, id, msg)
}

/// The accept-queue push for the other families (inet's children).
pub fn acceptq_push_pub(g: &mut HostState, l: SockId, e: SockId) {
    acceptq_push(g, l, e);
}
