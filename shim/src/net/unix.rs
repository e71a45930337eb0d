//! net/unix/af_unix.c: AF_UNIX stream, datagram and seqpacket sockets.
//!
//! The functions keep the kernel's names and, inside, the kernel's order of
//! checks, because that order decides which errno a program sees when more
//! than one thing is wrong (unix_stream_connect looks the peer up before it
//! tells a connected socket EISCONN, for instance).
//!
//! Names: a path bind makes a real socket inode (mknod S_IFSOCK, as
//! unix_bind_bsd does) and the socket remembers its (dev, ino) and file
//! handle, so lookups go by inode: unlink + rebind, renames and symlinks
//! behave as on Linux, and an inode number reused after unlink is not
//! taken for the bound one.
//! Abstract names live only here, keyed by name and type, as the kernel's
//! hash is.

use super::addr::{unix_unnamed, Addr, UnixName};
use super::queue;
use super::scm::{self, ScmCookie, ScmFpList};
use super::skb;
use super::sock::*;
use super::socket::*;
use super::sockopt;
use crate::errno::{Errno, KResult};
use crate::shm::{Host, HostState, UNIX_HASH_SIZE};
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
    set_peek_off: Some(unix_set_peek_off),
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
    set_peek_off: Some(unix_set_peek_off),
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
    set_peek_off: Some(unix_set_peek_off),
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
    // unix_create1 leaves sk_protocol 0, whichever of 0/PF_UNIX was asked.
    let id = sk_alloc(host, g, libc::AF_UNIX as u16, kind as u16, 0, ops)?;
    sh(host, id).max_ack_backlog.store(MAX_DGRAM_QLEN, Ordering::Relaxed);
    Ok(id)
}

/// `unix_release` -> `unix_release_sock`.
fn unix_release(host: &Host, g: &mut HostState, id: SockId) {
    unix_release_sock(host, g, id, false);
    // unix_release_sock ends with unix_gc when sockets are in flight.
    if g.unix_tot_inflight > 0 {
        scm::unix_gc(host, g, &unix_passed_socks, &unix_gc_purge);
    }
}

/// The sockets a socket's receive queue holds in flight.
fn unix_passed_socks(host: &Host, id: SockId) -> Vec<SockId> {
    let st = sh(host, id).state();
    if st == TcpState::Listen {
        return Vec::new();
    }
    if sh(host, id).ops.load(Ordering::Acquire) == OpsId::UnixStream as u32 {
        queue::SkbQueue::lock(host, id).passed_socks()
    } else {
        queue::record_passed_socks(host, id)
    }
}

/// unix_gc's purge of a garbage socket's receive queue.
fn unix_gc_purge(host: &Host, g: &mut HostState, id: SockId) {
    for fp in unix_purge_queue(host, id) {
        scm::scm_fp_destroy(host, g, fp);
    }
}

/// Empties a socket's receive queue, returning the fd lists it held.
fn unix_purge_queue(host: &Host, id: SockId) -> Vec<ScmFpList> {
    if sh(host, id).ops.load(Ordering::Acquire) == OpsId::UnixStream as u32 {
        // kfree_skb of each: sock_wfree gives the senders their wmem back.
        queue::SkbQueue::lock(host, id).purge()
    } else {
        queue::purge_records(host, id)
    }
}

fn unix_release_sock(host: &Host, g: &mut HostState, id: SockId, embrion: bool) {
    ktrace!("unix_release_sock");
    let s = sh(host, id);
    // unix_remove_socket: the name is gone with the socket (the inode stays).
    let c = &mut g.socks[id.idx()];
    c.path_dev = 0;
    c.path_ino = 0;
    c.path_fh = 0;
    c.unix_hashed = false;
    let kind = c.kind as i32;
    g.unix_table.del(id.idx());
    s.set_flag(SOCK_DEAD, true);
    s.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
    let state = s.state();
    s.set_state(TcpState::Close);
    let skpair = SockId::unpack(s.peer.swap(0, Ordering::AcqRel));
    let unread = if kind == libc::SOCK_STREAM {
        !queue::SkbQueue::lock(host, id).is_empty()
    } else {
        queue::first_record_len(host, id).0 > 0
    };
    s.wq.wake();
    if let Some(p) = skpair {
        if kind == libc::SOCK_STREAM || kind == libc::SOCK_SEQPACKET {
            let ps = sh(host, p);
            ktrace!("skpair: SHUTDOWN_MASK{}", if unread || embrion { ", ECONNRESET (unread data)" } else { "" });
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
        ktrace!("listener: release the embryos of the accept queue");
        while let Some(e) = acceptq_pop(g, id) {
            unix_release_sock(host, g, e, true);
            // The queue's reference on the embryo.
            sock_put(host, g, e);
        }
    } else {
        // The fds in flight in the queue are released (unix_destruct_scm).
        let _ = kind;
        for fp in unix_purge_queue(host, id) {
            scm::scm_fp_destroy(host, g, fp);
        }
    }
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

/// `struct file_handle` with room for MAX_HANDLE_SZ bytes.
#[repr(C)]
struct FileHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; 128],
}

/// A hash of the file handle of `path` (inode number and generation on
/// ext4, tmpfs, xfs, btrfs...), 0 where the filesystem gives none. It is
/// what tells a bound socket's inode from a later one that reuses its
/// number (see `SockCtl::path_fh`).
fn path_fh(path: &[u8]) -> u64 {
    let c = cpath(path);
    let mut h = FileHandle { handle_bytes: 128, handle_type: 0, f_handle: [0; 128] };
    let mut mnt: i32 = 0;
    // SAFETY: c is NUL-terminated; h has room for handle_bytes bytes of
    // handle; mnt is a valid out-pointer. A final symlink is followed, as
    // the path walk of unix_find_bsd (and stat) follows it.
    let r = unsafe {
        syscall!(
            SYS_name_to_handle_at,
            libc::AT_FDCWD,
            c.as_ptr(),
            &mut h as *mut FileHandle,
            &mut mnt as *mut i32,
            libc::AT_SYMLINK_FOLLOW
        )
    };
    if r.is_err() {
        return 0;
    }
    // FNV-1a over the type and the handle bytes; never 0.
    let mut x: u64 = 0xcbf29ce484222325;
    let n = (h.handle_bytes as usize).min(128);
    for b in h.handle_type.to_ne_bytes().iter().chain(h.f_handle[..n].iter()) {
        x ^= *b as u64;
        x = x.wrapping_mul(0x100000001b3);
    }
    x.max(1)
}

/// `unix_abstract_hash`: the table chain of an abstract name (its bytes
/// after the family, as `addr.as_bytes()` holds them).
fn unix_abstract_hash(name: &[u8]) -> usize {
    let mut x: u32 = 0x811c9dc5;
    for b in name {
        x ^= *b as u32;
        x = x.wrapping_mul(0x01000193);
    }
    x as usize % UNIX_HASH_SIZE
}

/// `unix_bsd_hash`: the table chain of a path socket, by its inode.
fn unix_bsd_hash(dev: u64, ino: u64) -> usize {
    let x = (ino ^ dev.rotate_left(32)).wrapping_mul(0x9e3779b97f4a7c15);
    UNIX_HASH_SIZE + (x >> 40) as usize % UNIX_HASH_SIZE
}

/// `__unix_set_addr_hash`: a socket just bound to an abstract name goes
/// on that name's chain.
fn unix_set_addr_hash(g: &mut HostState, id: SockId) {
    let b = unix_abstract_hash(g.socks[id.idx()].addr.as_bytes());
    g.unix_table.add(b, id.idx());
}

/// `unix_insert_bsd_socket`: a socket just bound to a path goes on its
/// inode's chain.
fn unix_insert_bsd_socket(g: &mut HostState, id: SockId) {
    let c = &g.socks[id.idx()];
    let b = unix_bsd_hash(c.path_dev, c.path_ino);
    g.unix_table.add(b, id.idx());
}

/// `unix_find_socket_byinode`: the socket bound to inode (dev, ino),
/// told from an older one of the same number by the file handle `fh`.
fn unix_find_socket_byinode(g: &HostState, dev: u64, ino: u64, fh: u64) -> Option<usize> {
    g.unix_table
        .iter(unix_bsd_hash(dev, ino))
        .filter(|&i| {
            let s = &g.socks[i];
            s.in_use
                && s.family == libc::AF_UNIX as u16
                && s.path_ino == ino
                && s.path_dev == dev
                && s.path_ino != 0
                && (s.path_fh == 0 || fh == 0 || s.path_fh == fh)
        })
        .min()
}

/// `unix_find_socket_byname`: the live socket of type `ty` bound to the
/// abstract name `addr`.
fn unix_find_socket_byname(host: &Host, g: &HostState, addr: &Addr, ty: u16) -> Option<usize> {
    g.unix_table
        .iter(unix_abstract_hash(addr.as_bytes()))
        .filter(|&i| {
            let s = &g.socks[i];
            s.in_use
                && s.family == libc::AF_UNIX as u16
                && s.kind == ty
                && s.unix_hashed
                && s.path_ino == 0
                && !s.addr.is_empty()
                && s.addr.as_bytes() == addr.as_bytes()
                && !sh(host, SockId(i as u32)).flag(SOCK_DEAD)
        })
        .min()
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
                ktrace!("unix_find_bsd: not a socket inode -> ECONNREFUSED");
                return Err(Errno::ECONNREFUSED);
            }
            // unix_find_socket_byinode; a socket whose inode was unlinked
            // and whose number now names another inode is not that one.
            let fh = path_fh(p);
            let found = unix_find_socket_byinode(g, st.st_dev, st.st_ino, fh);
            ktrace!("unix_find_bsd: {}", if found.is_some() { "a socket is bound to the inode" } else { "no socket bound to the inode -> ECONNREFUSED" });
            let i = found.ok_or(Errno::ECONNREFUSED)?;
            if g.socks[i].kind != ty {
                ktrace!("unix_find_bsd: socket of another type -> EPROTOTYPE");
                return Err(Errno::EPROTOTYPE);
            }
            Ok(SockId(i as u32))
        }
        UnixName::Abstract(_) => unix_find_socket_byname(host, g, addr, ty).map(|i| SockId(i as u32)).ok_or(Errno::ECONNREFUSED),
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
            unix_set_addr_hash(g, id);
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
                    // The holder may be a process killed with SIGKILL whose
                    // sockets nobody closed yet: reap, then look again.
                    crate::task::reap_dead_locked(host, g);
                    if unix_find_other(host, g, &name, &addr, ty).is_ok() {
                        ktrace!("unix_bind_abstract: name in use -> EADDRINUSE");
                        return Err(Errno::EADDRINUSE);
                    }
                }
                g.socks[id.idx()].addr = addr;
                g.socks[id.idx()].unix_hashed = true;
                unix_set_addr_hash(g, id);
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
    ktrace!("vfs_mknod: {}", match &r { Ok(_) => "created".to_string(), Err(e) if *e == Errno::EEXIST => "EEXIST -> EADDRINUSE".to_string(), Err(e) => format!("{e:?}") });
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
        ktrace!("unix_bind_bsd: socket already bound -> EINVAL");
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
    let fh = path_fh(path);
    let s = &mut g.socks[id.idx()];
    s.addr = addr;
    s.path_dev = st.st_dev;
    s.path_ino = st.st_ino;
    s.path_fh = fh;
    s.unix_hashed = true;
    unix_insert_bsd_socket(g, id);
    Ok(())
}

/// `unix_listen`.
fn unix_listen(host: &Host, id: SockId, backlog: i32) -> KResult<()> {
    ktrace!("unix_listen");
    with_host(host, |g| {
        let c = &mut g.socks[id.idx()];
        if c.kind != libc::SOCK_STREAM as u16 && c.kind != libc::SOCK_SEQPACKET as u16 {
            ktrace!("unix_listen: not a stream or seqpacket socket -> EOPNOTSUPP");
            return Err(Errno::EOPNOTSUPP);
        }
        if c.addr.is_empty() {
            ktrace!("unix_listen: not bound -> EINVAL");
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
        ktrace!("sk_state = TCP_LISTEN, sk_max_ack_backlog = {backlog}");
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
                ktrace!("other is not listening or is shut down -> ECONNREFUSED");
                return Err(Errno::ECONNREFUSED);
            }
            if unix_recvq_full(host, g, other) {
                ktrace!("unix_recvq_full? yes");
                if nonblock {
                    ktrace!("nonblocking -> EAGAIN");
                    return Err(Errno::EAGAIN);
                }
                return Ok(Some(other));
            }
            ktrace!("unix_recvq_full? no");
            let st = s.state();
            if st != TcpState::Close {
                ktrace!("sk_state is not TCP_CLOSE -> {}", if st == TcpState::Established { "EISCONN" } else { "EINVAL" });
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
        ktrace!("unix_accept: not listening -> EINVAL");
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
            // __skb_try_recv_datagram found nothing: a non-blocking call
            // ends with EAGAIN; __skb_wait_for_more_packets then stops on
            // RCV_SHUTDOWN with no error, which unix_accept makes EINVAL.
            if nonblock {
                return Ok(None);
            }
            if s.shutdown() & RCV_SHUTDOWN != 0 || s.state() != TcpState::Listen {
                return Err(Errno::EINVAL);
            }
            Ok(None)
        })
    })?;
    ktrace!("skb_recv_datagram: embryo taken from the accept queue");
    // Room was made in the queue: wake connectors waiting for it.
    s.wq.wake();
    with_host(host, |g| g.socks[tsk.idx()].ss = SsState::Connected);
    Ok(tsk)
}

/// `unix_set_peek_off`: `sk_peek_off` under the iolock (SO_PEEK_OFF).
fn unix_set_peek_off(host: &Host, id: SockId, val: i32) -> KResult<()> {
    sockopt::sk_set_peek_off(host, id, val)
}

/// `unix_getname`.
fn unix_getname(host: &Host, id: SockId, peer: bool) -> KResult<Addr> {
    with_host(host, |g| {
        let who = if peer { sh(host, id).peer().ok_or(Errno::ENOTCONN)? } else { id };
        let a = g.socks[who.idx()].addr;
        Ok(if a.is_empty() { unix_unnamed() } else { a })
    })
}

/// `unix_writable`: this socket's sk_wmem_alloc is at most a quarter of
/// its sk_sndbuf.
fn unix_writable(host: &Host, id: SockId, state: TcpState) -> bool {
    skb::unix_writable(sh(host, id), state)
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
        let q = queue::SkbQueue::lock(host, id);
        if q.oob_skb().is_some() {
            // CONFIG_AF_UNIX_OOB
            mask |= libc::POLLPRI as u32;
        }
        !q.is_empty()
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
    let mut writable = unix_writable(host, id, state);
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

const SIOCATMARK: u64 = 0x8905;

/// `unix_ioctl`: SIOCINQ (FIONREAD), SIOCOUTQ and SIOCATMARK.
fn unix_ioctl(host: &Host, id: SockId, cmd: u64) -> KResult<i32> {
    let s = sh(host, id);
    let kind = with_host(host, |g| g.socks[id.idx()].kind) as i32;
    match cmd {
        libc::FIONREAD => {
            // unix_inq_len
            if s.state() == TcpState::Listen {
                return Err(Errno::EINVAL);
            }
            Ok(match kind {
                libc::SOCK_STREAM => queue::SkbQueue::lock(host, id).inq_len(),
                libc::SOCK_SEQPACKET => queue::records_total_len(host, id),
                _ => queue::first_record_len(host, id).1,
            } as i32)
        }
        // unix_outq_len: sk_wmem_alloc_get, in truesize units.
        libc::TIOCOUTQ => Ok(skb::sk_wmem_alloc_get(s) as i32),
        SIOCATMARK => {
            // CONFIG_AF_UNIX_OOB: at the mark when the first skb is the
            // oob_skb, or is read out and the oob_skb (if any) is next.
            if kind != libc::SOCK_STREAM {
                let (n, len) = queue::first_record_len(host, id);
                return Ok((n > 0 && len == 0) as i32);
            }
            let q = queue::SkbQueue::lock(host, id);
            let Some(pos) = q.peek() else { return Ok(0) };
            let oob = q.oob_skb();
            let next = q.peek_next(pos);
            Ok((Some(pos) == oob || (q.hdr(pos).unread() == 0 && (oob.is_none() || next == oob))) as i32)
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
            ktrace!("other: peer shutdown bits set -> sk_state_change(other)");
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

/// `maybe_add_creds`: the skb's credentials, unless SCM_CREDENTIALS gave
/// some: the sending process's when either end wants them, else none.
fn skb_creds(host: &Host, scm: &ScmCookie, sk: SockId, other: SockId) -> Cred {
    match scm.creds {
        Some(c) => c,
        None if passcred_wanted(host, sk, other) => scm::current_uid_gid(),
        None => scm::NO_CREDS,
    }
}

/// `unix_stream_sendmsg`: the data goes in skbs of `unix_stream_skb_size`,
/// each charged to this socket (`sock_alloc_send_pskb`, which waits while
/// sk_wmem_alloc >= sk_sndbuf); with MSG_OOB the last byte goes in an skb
/// of its own that becomes the peer's oob_skb (`queue_oob`).
fn unix_stream_sendmsg(host: &Host, id: SockId, msg: &SendMsg<'_>) -> KResult<usize> {
    ktrace!("unix_stream_sendmsg");
    let mut scm = scm::scm_send(host, msg.control)?;
    let r = unix_stream_sendmsg_scm(host, id, msg, &mut scm);
    // scm_destroy: whatever no skb took.
    scm::scm_destroy(host, &mut scm);
    r
}

fn unix_stream_sendmsg_scm(host: &Host, id: SockId, msg: &SendMsg<'_>, scm: &mut ScmCookie) -> KResult<usize> {
    let s = sh(host, id);
    let mut len = queue::iov_len(&msg.iov);
    let oob = msg.flags & libc::MSG_OOB != 0;
    if oob {
        // CONFIG_AF_UNIX_OOB: the last byte is the out-of-band one.
        if len == 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        len -= 1;
    }
    if msg.name.is_some_and(|n| !n.is_empty()) {
        return Err(if s.state() == TcpState::Established { Errno::EISCONN } else { Errno::EOPNOTSUPP });
    }
    ktrace!("unix_peer: {}", if s.peer().is_some() { "connected" } else { "none -> ENOTCONN" });
    let other = s.peer().ok_or(Errno::ENOTCONN)?;
    let mut fds_sent = false;
    let sigpipe = || {
        if msg.flags & libc::MSG_NOSIGNAL == 0 {
            send_sigpipe();
        }
    };
    if s.shutdown() & SEND_SHUTDOWN != 0 {
        ktrace!("SEND_SHUTDOWN -> EPIPE");
        sigpipe();
        return Err(Errno::EPIPE);
    }
    let nonblock = msg.flags & libc::MSG_DONTWAIT != 0;
    let deadline = SockShared::deadline(&s.sndtimeo_us);
    let os = sh(host, other);
    let mut sent = 0;
    // `sent ? : err`
    let partial = |sent: usize, e: Errno| if sent > 0 { Ok(sent) } else { Err(e) };
    while sent < len {
        let seq = s.wq.prepare();
        let size = skb::unix_stream_skb_size(len - sent, s.sndbuf.load(Ordering::Relaxed));
        if let Err(e) = skb::sock_alloc_send_pskb_wait(host, id, nonblock, deadline) {
            return partial(sent, e);
        }
        // unix_state_lock(other)
        if os.flag(SOCK_DEAD) || os.shutdown() & RCV_SHUTDOWN != 0 {
            ktrace!("other is dead or RCV_SHUTDOWN -> EPIPE");
            // out_pipe
            if sent == 0 {
                sigpipe();
            }
            return partial(sent, Errno::EPIPE);
        }
        // Only send the fds in the first buffer (unix_scm_to_skb).
        let cred = skb_creds(host, scm, id, other);
        let fp = if fds_sent { None } else { scm.fp.as_ref() };
        let n = {
            // One writer into other's queue at a time (its copy may run
            // outside the queue's lock: queue::COPY_UNLOCKED).
            let _writer = os.rx_writer.lock();
            let mut q = queue::SkbQueue::lock(host, other);
            if size > queue::COPY_UNLOCKED && fp.is_none() {
                q.queue_tail_unlocked(id, &msg.iov, sent, size, skb::unix_stream_truesize, cred)
            } else {
                q.queue_tail(id, &msg.iov, sent, size, skb::unix_stream_truesize, false, cred, fp)
            }
        };
        if n > 0 && !fds_sent {
            // The skb holds the list now.
            scm.fp = None;
            fds_sent = true;
        }
        if n == 0 {
            // The receive ring itself is full (a sk_sndbuf beyond what the
            // emulation's ring holds): wait for the reader like for wmem.
            if nonblock {
                return partial(sent, Errno::EAGAIN);
            }
            if let Err(e) = s.wq.wait(seq, deadline, &|| {
                crate::task::reap_dead(host);
            }) {
                return partial(sent, e);
            }
            continue;
        }
        sent += n;
        ktrace!("skb_queue_tail(other) -> sk_data_ready");
        os.wq.wake();
    }
    if oob {
        // queue_oob: sock_alloc_send_skb(sk, 1), then the peer checks.
        loop {
            let seq = s.wq.prepare();
            if let Err(e) = skb::sock_alloc_send_pskb_wait(host, id, nonblock, deadline) {
                return partial(sent, e);
            }
            if os.flag(SOCK_DEAD) || os.shutdown() & RCV_SHUTDOWN != 0 {
                return partial(sent, Errno::EPIPE);
            }
            let cred = skb_creds(host, scm, id, other);
            let fp = if fds_sent { None } else { scm.fp.as_ref() };
            let n = {
                let _writer = os.rx_writer.lock();
                queue::SkbQueue::lock(host, other).queue_tail(id, &msg.iov, len, 1, |_| skb::skb_truesize(1, 0), true, cred, fp)
            };
            if n == 1 {
                if !fds_sent {
                    scm.fp = None;
                }
                break;
            }
            if nonblock {
                return partial(sent, Errno::EAGAIN);
            }
            if let Err(e) = s.wq.wait(seq, deadline, &|| {
                crate::task::reap_dead(host);
            }) {
                return partial(sent, e);
            }
        }
        ktrace!("queue_oob -> sk_send_sigurg -> sk_data_ready");
        os.wq.wake();
        sent += 1;
    }
    Ok(sent)
}

/// `sk_peek_offset_bwd`.
fn sk_peek_offset_bwd(s: &SockShared, val: i64) {
    let off = s.sk_peek_off.load(Ordering::Relaxed);
    if off >= 0 {
        s.sk_peek_off.store((off as i64 - val).clamp(0, i32::MAX as i64) as i32, Ordering::Relaxed);
    }
}

/// `sk_peek_offset_fwd`.
fn sk_peek_offset_fwd(s: &SockShared, val: i64) {
    sk_peek_offset_bwd(s, -val);
}

/// `manage_oob`: what reading finds at `pos` given the socket's oob_skb:
/// read skbs are dropped, the oob skb ends a read that copied something,
/// and (without SO_OOBINLINE) is dropped or stepped over otherwise.
fn manage_oob(q: &mut queue::SkbQueue<'_>, pos: u64, flags: i32, copied: usize, urginline: bool) -> Option<u64> {
    let peek = flags & libc::MSG_PEEK != 0;
    let oob = q.oob_skb();
    let h = q.hdr(pos);
    if h.unread() > 0 && Some(pos) != oob {
        return Some(pos);
    }
    let mut skb = Some(pos);
    if h.unread() == 0 {
        if copied > 0 && (oob.is_none() || Some(pos) == oob) {
            skb = None;
        } else if peek {
            skb = q.peek_next(pos);
        } else {
            // read_skb: unlinked and consumed.
            skb = q.peek_next(pos);
            q.unlink_head();
        }
        skb?;
    }
    let pos = skb?;
    if Some(pos) != oob {
        return Some(pos);
    }
    if copied > 0 {
        None
    } else if !peek {
        q.clear_oob();
        if !urginline {
            // unread_skb: the oob byte is dropped from the stream.
            q.unlink_head();
            return q.peek();
        }
        Some(pos)
    } else if !urginline {
        q.peek_next(pos)
    } else {
        Some(pos)
    }
}

/// `unix_stream_recv_urg`: MSG_OOB takes the oob_skb's byte.
fn unix_stream_recv_urg(host: &Host, id: SockId, msg: &mut RecvMsg<'_>) -> KResult<usize> {
    ktrace!("unix_stream_recv_urg");
    let s = sh(host, id);
    // mutex_lock(&u->iolock)
    let _reader = s.rx_reader.lock();
    let mut q = queue::SkbQueue::lock(host, id);
    let pos = match q.oob_skb() {
        Some(p) if !s.flag(SOCK_URGINLINE) => p,
        _ => return Err(Errno::EINVAL),
    };
    let peek = msg.flags & libc::MSG_PEEK != 0;
    if !peek {
        q.clear_oob();
    }
    let mut h = q.hdr(pos);
    let n = queue::iov_len_mut(&msg.iov).min(1);
    q.copy_out(pos, h.consumed as usize, &mut msg.iov, 0, n);
    if !peek {
        h.consumed += 1;
        h.flags &= !queue::SKB_OOB;
        q.set_hdr(pos, h);
    }
    msg.msg_flags |= libc::MSG_OOB;
    Ok(1)
}

/// `unix_stream_read_generic` for recvmsg.
fn unix_stream_recvmsg(host: &Host, id: SockId, msg: &mut RecvMsg<'_>) -> KResult<usize> {
    ktrace!("unix_stream_recvmsg -> unix_stream_read_generic");
    let s = sh(host, id);
    let flags = msg.flags;
    if s.state() != TcpState::Established {
        ktrace!("not connected -> EINVAL");
        return Err(Errno::EINVAL);
    }
    if flags & libc::MSG_OOB != 0 {
        return unix_stream_recv_urg(host, id, msg);
    }
    let peek = flags & libc::MSG_PEEK != 0;
    let nonblock = flags & libc::MSG_DONTWAIT != 0;
    let mut size = queue::iov_len_mut(&msg.iov);
    // sock_rcvlowat
    let target = if flags & libc::MSG_WAITALL != 0 { size } else { 1.min(size) }.max(1);
    let deadline = SockShared::deadline(&s.rcvtimeo_us);
    let urginline = s.flag(SOCK_URGINLINE);
    let mut copied = 0usize;
    let mut err: Option<Errno> = None;
    let mut consumed_any = false;
    // sk_peek_offset
    let mut skip = if peek { s.sk_peek_off.load(Ordering::Relaxed).max(0) as usize } else { 0 };
    // The scm cookie: the first skb's credentials (when SO_PASSCRED) and
    // the fds of the skb that ends the read.
    let passcred = s.flag(SOCK_PASSCRED);
    let mut check_creds = false;
    let mut scm_cred = Cred { pid: 0, uid: 0, gid: 0 };
    let mut scm_fp: Option<ScmFpList> = None;
    loop {
        // redo:
        let seq = s.wq.prepare();
        let mut stop;
        {
            // mutex_lock(&u->iolock): one reader at a time, whose copy may
            // run outside the queue's lock (queue::COPY_UNLOCKED).
            let _reader = s.rx_reader.lock();
            let mut q = queue::SkbQueue::lock(host, id);
            let mut skb = q.peek();
            'again: loop {
                if let Some(pos) = skb {
                    skb = manage_oob(&mut q, pos, flags, copied, urginline);
                    if skb.is_none() && copied > 0 {
                        stop = true;
                        break 'again;
                    }
                }
                let Some(mut pos) = skb else {
                    // POSIX 1003.1g mandates this order.
                    stop = true;
                    if copied >= target {
                    } else if let Some(e) = s.take_err() {
                        err = Some(e);
                    } else if s.shutdown() & RCV_SHUTDOWN != 0 {
                        ktrace!("receive queue empty, RCV_SHUTDOWN -> EOF");
                    } else if nonblock {
                        ktrace!("receive queue empty, nonblocking -> EAGAIN");
                        err = Some(Errno::EAGAIN);
                    } else {
                        ktrace!("receive queue empty -> unix_stream_data_wait");
                        stop = false; // unix_stream_data_wait
                    }
                    break 'again;
                };
                let mut h = q.hdr(pos);
                while skip >= h.unread() {
                    skip -= h.unread();
                    match q.peek_next(pos) {
                        Some(n) => {
                            pos = n;
                            h = q.hdr(pos);
                        }
                        None => {
                            skb = None;
                            continue 'again;
                        }
                    }
                }
                if check_creds {
                    // Never glue messages from different writers.
                    if h.cred != scm_cred {
                        stop = true;
                        break 'again;
                    }
                } else if passcred {
                    // Copy credentials.
                    scm_cred = h.cred;
                    check_creds = true;
                }
                let chunk = (h.unread() - skip).min(size);
                if chunk > queue::COPY_UNLOCKED {
                    if !q.copy_out_unlocked(pos, h.consumed as usize + skip, &mut msg.iov, copied, chunk) {
                        // Purged meanwhile: the skb went before this read took it.
                        skb = q.peek();
                        continue 'again;
                    }
                    h = q.hdr(pos);
                } else {
                    q.copy_out(pos, h.consumed as usize + skip, &mut msg.iov, copied, chunk);
                }
                copied += chunk;
                size -= chunk;
                if !peek {
                    // Mark read part of skb as used.
                    h.consumed += chunk as u32;
                    if h.nfp != 0 {
                        // unix_detach_fds
                        scm_fp = q.take_fp(pos, false);
                        h.nfp = 0;
                    }
                    q.set_hdr(pos, h);
                    sk_peek_offset_bwd(s, chunk as i64);
                    consumed_any = true;
                    if h.unread() > 0 {
                        stop = true;
                        break 'again;
                    }
                    q.unlink_head();
                    // if (scm.fp) break; } while (size);
                    stop = size == 0 || scm_fp.is_some();
                    break 'again;
                }
                if h.nfp != 0 {
                    // unix_peek_fds
                    scm_fp = q.take_fp(pos, true);
                }
                sk_peek_offset_fwd(s, chunk as i64);
                if scm_fp.is_some() {
                    stop = true;
                    break 'again;
                }
                skip = 0;
                match q.peek_next(pos) {
                    Some(n) => skb = Some(n),
                    None => {
                        stop = true;
                        break 'again;
                    }
                }
            }
            if !stop && skb.is_some() {
                // A whole skb was read and size is left: read on.
                drop(q);
                continue;
            }
        }
        if stop {
            break;
        }
        if let Err(e) = s.wq.wait(seq, deadline, &|| {
            crate::task::reap_dead(host);
        }) {
            if e != Errno::EAGAIN {
                err = Some(e);
                break;
            }
            // The timeout ran out: the next pass says EAGAIN (timeo == 0).
            if copied >= target {
                break;
            }
            err = Some(Errno::EAGAIN);
            break;
        }
    }
    if copied > 0 {
        if let Some(p) = s.peer() {
            if consumed_any {
                // The writer may wait for ring room (sk_write_space is
                // sock_wfree's, when its wmem falls).
                sh(host, p).wq.wake();
            }
            // if (state->msg && state->msg->msg_name) unix_copy_addr(...)
            if msg.want_name && msg.name.is_none() {
                let a = with_host(host, |g| g.socks[p.idx()].addr);
                if !a.is_empty() {
                    msg.name = Some(a);
                }
            }
        }
    }
    if copied == 0 {
        if let Some(e) = err {
            if let (Some(fp), false) = (scm_fp, peek) {
                with_host(host, |g| scm::scm_fp_destroy(host, g, fp));
            }
            return Err(e);
        }
    }
    scm::scm_recv_unix(host, id, msg, scm_cred, scm_fp, peek);
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

/// `unix_dgram_sendmsg` (also seqpacket's).
fn unix_dgram_sendmsg(host: &Host, id: SockId, msg: &SendMsg<'_>) -> KResult<usize> {
    ktrace!("unix_dgram_sendmsg");
    let mut scm = scm::scm_send(host, msg.control)?;
    let r = unix_dgram_sendmsg_scm(host, id, msg, &mut scm);
    scm::scm_destroy(host, &mut scm);
    r
}

fn unix_dgram_sendmsg_scm(host: &Host, id: SockId, msg: &SendMsg<'_>, scm: &mut ScmCookie) -> KResult<usize> {
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
    let nonblock = msg.flags & libc::MSG_DONTWAIT != 0;
    let deadline = SockShared::deadline(&s.sndtimeo_us);
    // sock_alloc_send_pskb: the skb is charged to this socket, so a full
    // sk_sndbuf (or SEND_SHUTDOWN, or a pending error) stops the send
    // before the receiver is even looked up.
    skb::sock_alloc_send_pskb_wait(host, id, nonblock, deadline)?;
    let truesize = skb::unix_dgram_truesize(len);
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
                ktrace!("other is dead -> {}", if kind == libc::SOCK_SEQPACKET { "EPIPE" } else { "ECONNREFUSED" });
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
            if !full_q { ktrace!("unix_recvq_full? no"); }
            seq = seq_of(other);
            if !full_q {
                let from = if g.socks[id.idx()].addr.is_empty() { Addr::default() } else { g.socks[id.idx()].addr };
                let cred = skb_creds(host, scm, id, other);
                if queue::record_put_owned(host, other, cred, &from, scm.fp.as_ref(), &msg.iov, Some((id, truesize))) {
                    // The skb holds the fd list now.
                    scm.fp = None;
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
    let (rec, skip) = loop {
        let seq = s.wq.prepare();
        if let Some(e) = s.take_err() {
            return Err(e);
        }
        // sk_peek_offset
        let off = if peek { s.sk_peek_off.load(Ordering::Relaxed) } else { 0 };
        if let Some(r) = queue::record_take_at(host, id, &mut msg.iov, peek, off) {
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
    if rec.copied < rec.len - skip {
        msg.msg_flags |= libc::MSG_TRUNC;
    }
    if peek {
        sk_peek_offset_fwd(s, rec.copied as i64);
    } else {
        sk_peek_offset_bwd(s, rec.len as i64);
    }
    // scm_set_cred, unix_detach_fds / unix_peek_fds, scm_recv_unix.
    scm::scm_recv_unix(host, id, msg, rec.cred, rec.fp, peek);
    Ok(if flags & libc::MSG_TRUNC != 0 { rec.len - skip } else { rec.copied })
}

fn unix_seqpacket_sendmsg(host: &Host, id: SockId, msg: &SendMsg<'_>) -> KResult<usize> {
    if let Some(e) = sh(host, id).take_err() {
        return Err(e);
    }
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
