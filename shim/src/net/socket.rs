//! net/socket.c: the system calls, file references and `proto_ops` dispatch.
//!
//! Each `__sys_*` function here is what the kernel function of that name
//! does after the user copy: find the socket behind the fd, check the
//! generic things, then call the protocol's operation through the socket's
//! `ProtoOps` table, as `sock->ops->bind(...)` does.

use super::addr::Addr;
use super::sock::*;
use super::{inet, sockopt, unix};
use crate::errno::{Errno, KResult};
use crate::shm::{Host, HostState};
use crate::task::{self, FdEntry};
use crate::{syscall, sys};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What sendmsg carries in (`struct msghdr` after copy_msghdr_from_user).
pub struct SendMsg<'a> {
    pub iov: super::smallvec::IovVec<'a>,
    pub name: Option<&'a [u8]>,
    pub control: &'a [u8],
    pub flags: i32,
}

/// What recvmsg fills in.
pub struct RecvMsg<'a> {
    pub iov: super::smallvec::IovVecMut<'a>,
    pub flags: i32,
    /// The sender's address (datagram sockets), if any.
    pub name: Option<Addr>,
    /// Whether the caller has room for the address (`msg->msg_name` set):
    /// `unix_stream_read_generic` copies it only then (`unix_copy_addr`).
    pub want_name: bool,
    /// Room the caller gave for control messages.
    pub control_cap: usize,
    /// Control messages built (cmsghdr-encoded).
    pub control: Vec<u8>,
    /// msg_flags out (MSG_TRUNC, MSG_CTRUNC, ...); in, MSG_CMSG_CLOEXEC
    /// (what scm_detach_fds gives the new fds).
    pub msg_flags: i32,
    /// Bytes of the caller's buffers from the first one that passed
    /// `access_ok` but cannot be touched (a null or first-page pointer);
    /// `iov` holds only the buffers before it. The kernel faults there only
    /// when it copies data in; protocols that do not model that get EFAULT
    /// up front (`__sys_recvmsg`).
    pub bad_tail: usize,
}

impl RecvMsg<'_> {
    /// The total length of the caller's buffers (`msg_data_left`).
    pub fn size(&self) -> usize {
        super::queue::iov_len_mut(&self.iov) + self.bad_tail
    }
}

/// The kernel's `struct proto_ops`: one table per family and type.
pub struct ProtoOps {
    pub name: &'static str,
    pub release: fn(&Host, &mut HostState, SockId),
    pub bind: fn(&Host, SockId, &[u8]) -> KResult<()>,
    pub connect: fn(&Host, SockId, &[u8]) -> KResult<()>,
    pub accept: fn(&Host, SockId, bool) -> KResult<SockId>,
    pub getname: fn(&Host, SockId, bool) -> KResult<Addr>,
    pub poll: fn(&Host, SockId) -> u32,
    pub ioctl: fn(&Host, SockId, u64) -> KResult<i32>,
    pub listen: fn(&Host, SockId, i32) -> KResult<()>,
    pub shutdown: fn(&Host, SockId, i32) -> KResult<()>,
    pub setsockopt: fn(&Host, SockId, i32, i32, &[u8]) -> KResult<()>,
    /// The last argument is the caller's optlen, unchecked (`int __user *optlen`).
    pub getsockopt: fn(&Host, SockId, i32, i32, i32) -> KResult<Vec<u8>>,
    pub sendmsg: fn(&Host, SockId, &SendMsg<'_>) -> KResult<usize>,
    pub recvmsg: fn(&Host, SockId, &mut RecvMsg<'_>) -> KResult<usize>,
    /// `set_peek_off` (SO_PEEK_OFF); None where the kernel's table has none.
    pub set_peek_off: Option<fn(&Host, SockId, i32) -> KResult<()>>,
}

// The kernel's sock_no_* stand-ins for operations a type does not have.
pub fn sock_no_bind(_: &Host, _: SockId, _: &[u8]) -> KResult<()> {
    Err(Errno::EOPNOTSUPP)
}
pub fn sock_no_accept(_: &Host, _: SockId, _: bool) -> KResult<SockId> {
    Err(Errno::EOPNOTSUPP)
}
pub fn sock_no_listen(_: &Host, _: SockId, _: i32) -> KResult<()> {
    Err(Errno::EOPNOTSUPP)
}
pub fn sock_no_setsockopt(_: &Host, _: SockId, _: i32, _: i32, _: &[u8]) -> KResult<()> {
    Err(Errno::EOPNOTSUPP)
}
pub fn sock_no_getsockopt(_: &Host, _: SockId, _: i32, _: i32, _: i32) -> KResult<Vec<u8>> {
    Err(Errno::EOPNOTSUPP)
}

/// The ops table of a socket.
pub fn ops_of(id: OpsId) -> &'static ProtoOps {
    match id {
        OpsId::UnixStream => &unix::UNIX_STREAM_OPS,
        OpsId::UnixDgram => &unix::UNIX_DGRAM_OPS,
        OpsId::UnixSeqpacket => &unix::UNIX_SEQPACKET_OPS,
        OpsId::InetStream => &inet::INET_STREAM_OPS,
        OpsId::InetDgram => &inet::INET_DGRAM_OPS,
        OpsId::None => &unix::UNIX_DGRAM_OPS, // unreachable for a live socket
    }
}

/// Runs `f` under the host lock.
pub fn with_host<T>(host: &Host, f: impl FnOnce(&mut HostState) -> T) -> T {
    let mut g = host.header().host.lock();
    f(&mut g)
}

/// The ops of a live socket (`sock->ops`), read without the host lock.
pub fn ops(host: &Host, id: SockId) -> &'static ProtoOps {
    ops_of(OpsId::from_u32(host.shared()[id.idx()].ops.load(Ordering::Acquire)))
}

// ----- struct sock lifetime -------------------------------------------------

/// `sk_alloc` + `sock_init_data`: a fresh socket with one reference (the file's).
pub fn sk_alloc(host: &Host, g: &mut HostState, family: u16, kind: u16, protocol: u16, ops: OpsId) -> KResult<SockId> {
    let idx = sk_free_slot(g).ok_or(Errno::ENFILE)?;
    let id = SockId(idx as u32);
    if g.socks[idx].pending_connect != 0 {
        g.tcp_pending_connects = g.tcp_pending_connects.saturating_sub(1);
    }
    let c = &mut g.socks[idx];
    let gen = c.gen.wrapping_add(1);
    *c = SockCtl {
        in_use: true,
        family,
        kind,
        protocol,
        ops,
        ss: SsState::Unconnected,
        gen,
        f_count: 0,
        refcnt: 1,
        addr: Addr::default(),
        peer_addr: Addr::default(),
        path_dev: 0,
        path_ino: 0,
        backlog: 0,
        acceptq_head: 0,
        acceptq_tail: 0,
        acceptq_len: 0,
        q_next: 0,
        parent: 0,
        peer_cred: Cred { pid: 0, uid: u32::MAX, gid: u32::MAX },
        cred: current_cred(),
        opts: Opts { ttl: -1, ..Opts::default() },
        pending_connect: 0,
        laddr: super::addr::InetAddr::any(family),
        raddr: super::addr::InetAddr::any(family),
        num: 0,
        userlocks: 0,
        pending_since: 0,
        unix_hashed: false,
        ehashed: false,
        inet: Default::default(),
        path_fh: 0,
        unix_inflight: 0,
    };
    let sh = &host.shared()[idx];
    {
        let mut q = sh.rx.lock();
        q.head = 0;
        q.tail = 0;
        q.nrec = 0;
        q.limit = 0;
        q.oob = 0;
        q.urg_data = 0;
        q.urg_seq = 0;
        q.gen = q.gen.wrapping_add(1);
    }
    sh.ops.store(ops as u32, Ordering::Release);
    crate::pcap::sk_alloc(sh);
    sh.wq.reset_watchers();
    sh.state.store(TcpState::Close as u32, Ordering::Release);
    sh.shutdown.store(0, Ordering::Release);
    sh.err.store(0, Ordering::Release);
    sh.peer.store(0, Ordering::Release);
    sh.f_flags.store(0, Ordering::Release);
    sh.sndbuf.store(sockopt::WMEM_DEFAULT, Ordering::Relaxed);
    sh.rcvbuf.store(sockopt::RMEM_DEFAULT, Ordering::Relaxed);
    sh.rcvtimeo_us.store(0, Ordering::Relaxed);
    sh.sndtimeo_us.store(0, Ordering::Relaxed);
    sh.wmem_queued.store(0, Ordering::Relaxed);
    sh.max_ack_backlog.store(0, Ordering::Relaxed);
    sh.flags.store(0, Ordering::Release);
    // sock_init_data: sk_wmem_alloc starts empty (tagged with this slot's
    // generation), sk_peek_off at -1.
    sh.sk_wmem_alloc.store((gen as u64) << 32, Ordering::Release);
    sh.sk_peek_off.store(-1, Ordering::Relaxed);
    sh.errq_len.store(0, Ordering::Release);
    g.nsocks_hw = g.nsocks_hw.max(idx as u32 + 1);
    Ok(id)
}

/// The lowest slot free to reuse (`!in_use && refcnt == 0`), as a scan
/// of the table would find it, from the map of taken slots.
fn sk_free_slot(g: &mut HostState) -> Option<usize> {
    let socks = &g.socks;
    g.sk_slots.alloc(|i| !socks[i].in_use && socks[i].refcnt == 0)
}

/// `sk_destruct` for the tables: the slot leaves every hash chain it is
/// on (`inet_unhash`, `unix_remove_socket`, the in-flight list).
fn sk_unhash(g: &mut HostState, idx: usize) {
    g.inet_bhash.del(idx);
    g.inet_lhash.del(idx);
    g.unix_table.del(idx);
    g.gc_inflight_list.del(idx);
    g.socks[idx].num = 0;
}

/// `sock_hold`.
pub fn sock_hold(g: &mut HostState, id: SockId) {
    g.socks[id.idx()].refcnt += 1;
}

/// `sock_put`: frees the slot with the last reference.
pub fn sock_put(host: &Host, g: &mut HostState, id: SockId) {
    let c = &mut g.socks[id.idx()];
    debug_assert!(c.refcnt > 0);
    c.refcnt = c.refcnt.saturating_sub(1);
    if c.refcnt == 0 {
        if c.in_use {
            c.in_use = false;
            host.shared()[id.idx()].set_state(TcpState::Free);
            sk_unhash(g, id.idx());
        }
        g.sk_slots.clear(id.idx());
    }
}

/// `fput`: drops one file reference; the last one releases the socket
/// (`sock_close` -> `__sock_release` -> `ops->release`).
pub fn fput(host: &Host, g: &mut HostState, id: SockId) {
    let c = &mut g.socks[id.idx()];
    if !c.in_use || c.f_count == 0 {
        return;
    }
    c.f_count -= 1;
    if c.f_count == 0 {
        // __fput -> eventpoll_release: the file's epoll items go.
        host.epoll().eventpoll_release(id.idx());
        host.shared()[id.idx()].wq.mark_epitems();
        crate::ktrace!("sock_close -> __sock_release -> {}", ops_of(c.ops).name);
        (ops_of(c.ops).release)(host, g, id);
        sock_put(host, g, id);
    }
}

/// The credentials of the calling process.
pub fn current_cred() -> Cred {
    // SAFETY: these getters cannot fail.
    unsafe { Cred { pid: sys::getpid() as i32, uid: libc::geteuid(), gid: libc::getegid() } }
}

// ----- files --------------------------------------------------------------

/// The memfd name placeholders carry, as /proc/<pid>/fd shows it.
pub const PLACEHOLDER_LINK: &str = "/memfd:netshim-socket";

/// Makes a placeholder fd: a real, unique kernel file that holds the fd
/// number for the emulated socket. Returns (fd, inode).
fn placeholder(cloexec: bool) -> KResult<(i32, u64)> {
    let flags = if cloexec { libc::MFD_CLOEXEC } else { 0 };
    // SAFETY: the name is a NUL-terminated static string.
    let fd = unsafe { syscall!(SYS_memfd_create, b"netshim-socket\0".as_ptr(), flags) }? as i32;
    match task::placeholder_ino(fd) {
        Some(ino) => Ok((fd, ino)),
        None => {
            sys::close_fd(fd);
            Err(Errno::EMFILE)
        }
    }
}

/// `sock_map_fd`: gives a socket an fd in this process (taking a file reference).
pub fn sock_map_fd(host: &Host, g: &mut HostState, id: SockId, flags: i32) -> KResult<i32> {
    let (fd, ino) = placeholder(flags & libc::SOCK_CLOEXEC != 0)?;
    if let Err(e) = task::install(host, g, fd, FdEntry { sock: id, ino: ino as u32 }) {
        sys::close_fd(fd);
        return Err(e);
    }
    g.socks[id.idx()].f_count += 1;
    if flags & libc::SOCK_NONBLOCK != 0 {
        host.shared()[id.idx()].f_flags.fetch_or(libc::O_NONBLOCK as u32, Ordering::Relaxed);
    }
    Ok(fd)
}

/// dup/dup2/dup3/F_DUPFD of a socket fd: `newfd` is a real copy of the
/// placeholder already made by the caller; record it and take a reference.
pub fn fd_dup(host: &Host, old: FdEntry, newfd: i32) -> KResult<()> {
    let ino = task::placeholder_ino(newfd).ok_or(Errno::EBADF)?;
    with_host(host, |g| {
        if let Some(prev) = task::uninstall(host, newfd) {
            fput(host, g, prev.sock);
        }
        task::install(host, g, newfd, FdEntry { sock: old.sock, ino: ino as u32 })?;
        g.socks[old.sock.idx()].f_count += 1;
        Ok(())
    })
}

/// close(): forgets the fd and drops its file reference. The caller closes
/// the placeholder.
pub fn fd_close(host: &Host, fd: i32) {
    with_host(host, |g| {
        if let Some(e) = task::uninstall(host, fd) {
            fput(host, g, e.sock);
        }
    })
}

// ----- blocking ------------------------------------------------------------

/// Sleeps on `wq` until `f` yields a value: `wait_event_interruptible_timeout`
/// around a condition. `f` returning Ok(None) means "not yet".
/// Non-blocking callers get EAGAIN at once; a passed deadline gives EAGAIN.
pub fn wait_event<T>(
    host: &Host,
    wq: &WaitQueue,
    nonblock: bool,
    deadline: Option<Instant>,
    mut f: impl FnMut() -> KResult<Option<T>>,
) -> KResult<T> {
    loop {
        let seq = wq.prepare();
        if let Some(v) = f()? {
            return Ok(v);
        }
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        wq.wait(seq, deadline, &|| {
            task::reap_dead(host);
        })?;
    }
}

// ----- system calls ----------------------------------------------------------

/// Whether the emulation handles a socket(2) of this family and type, or
/// the kernel should (other families, raw sockets).
pub fn emulates(family: i32, ty: i32) -> bool {
    let t = ty & 0xf;
    match family {
        libc::AF_UNIX => true,
        libc::AF_INET | libc::AF_INET6 => t != libc::SOCK_RAW && t != 10 /* SOCK_PACKET */,
        _ => false,
    }
}

/// `__sys_socket`.
pub fn __sys_socket(host: &Host, family: i32, ty: i32, protocol: i32) -> KResult<i32> {
    crate::ktrace!("__sys_socket -> sock_create");
    let flags = ty & !0xf;
    if flags & !(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) != 0 {
        crate::ktrace!("flags other than SOCK_CLOEXEC|SOCK_NONBLOCK -> EINVAL");
        return Err(Errno::EINVAL);
    }
    let ty = ty & 0xf;
    // __sock_create
    if !(0..46).contains(&family) {
        crate::ktrace!("__sock_create: family >= NPROTO -> EAFNOSUPPORT");
        return Err(Errno::EAFNOSUPPORT);
    }
    if !(0..11).contains(&ty) {
        return Err(Errno::EINVAL);
    }
    with_host(host, |g| {
        let id = match family {
            libc::AF_UNIX => unix::unix_create(host, g, ty, protocol)?,
            _ => inet::inet_create(host, g, family as u16, ty, protocol)?,
        };
        crate::ktrace!("sock_map_fd -> fd_install");
        match sock_map_fd(host, g, id, flags) {
            Ok(fd) => Ok(fd),
            Err(e) => {
                fput_new(host, g, id);
                Err(e)
            }
        }
    })
}

/// Releases a socket that never got an fd.
fn fput_new(host: &Host, g: &mut HostState, id: SockId) {
    g.socks[id.idx()].f_count = 1;
    fput(host, g, id);
}

/// `__sys_socketpair`.
pub fn __sys_socketpair(host: &Host, family: i32, ty: i32, protocol: i32) -> KResult<(i32, i32)> {
    crate::ktrace!("__sys_socketpair");
    let flags = ty & !0xf;
    if flags & !(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let ty = ty & 0xf;
    if !(0..46).contains(&family) {
        return Err(Errno::EAFNOSUPPORT);
    }
    if !(0..11).contains(&ty) {
        return Err(Errno::EINVAL);
    }
    with_host(host, |g| {
        let (a, b) = match family {
            libc::AF_UNIX => {
                let a = unix::unix_create(host, g, ty, protocol)?;
                let b = match unix::unix_create(host, g, ty, protocol) {
                    Ok(b) => b,
                    Err(e) => {
                        fput_new(host, g, a);
                        return Err(e);
                    }
                };
                unix::unix_socketpair(host, g, a, b);
                (a, b)
            }
            _ => {
                // inet_create succeeds, then ops->socketpair is sock_no_socketpair.
                let a = inet::inet_create(host, g, family as u16, ty, protocol)?;
                fput_new(host, g, a);
                return Err(Errno::EOPNOTSUPP);
            }
        };
        let fa = match sock_map_fd(host, g, a, flags) {
            Ok(fd) => fd,
            Err(e) => {
                fput_new(host, g, a);
                fput_new(host, g, b);
                return Err(e);
            }
        };
        match sock_map_fd(host, g, b, flags) {
            Ok(fb) => Ok((fa, fb)),
            Err(e) => {
                task::uninstall(host, fa);
                sys::close_fd(fa);
                fput(host, g, a);
                fput_new(host, g, b);
                Err(e)
            }
        }
    })
}

pub fn __sys_bind(host: &Host, id: SockId, addr: &[u8]) -> KResult<()> {
    crate::ktrace!("__sys_bind -> {}", ops(host, id).name);
    (ops(host, id).bind)(host, id, addr)
}

pub fn __sys_listen(host: &Host, id: SockId, backlog: i32) -> KResult<()> {
    // __sys_listen caps the backlog at net.core.somaxconn.
    let backlog = (backlog as u32).min(sockopt::somaxconn()) as i32;
    crate::ktrace!("__sys_listen -> {} (backlog {backlog} after the somaxconn cap)", ops(host, id).name);
    (ops(host, id).listen)(host, id, backlog)
}

pub fn __sys_connect(host: &Host, id: SockId, addr: &[u8]) -> KResult<()> {
    crate::ktrace!("__sys_connect -> {}", ops(host, id).name);
    (ops(host, id).connect)(host, id, addr)
}

/// `__sys_accept4`: returns the new fd.
pub fn __sys_accept4(host: &Host, id: SockId, flags: i32) -> KResult<(i32, SockId)> {
    if flags & !(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    crate::ktrace!("__sys_accept4 -> {}", ops(host, id).name);
    let nonblock = host.shared()[id.idx()].nonblocking();
    let newsk = (ops(host, id).accept)(host, id, nonblock)?;
    with_host(host, |g| match sock_map_fd(host, g, newsk, flags) {
        Ok(fd) => Ok((fd, newsk)),
        Err(e) => {
            fput_new(host, g, newsk);
            Err(e)
        }
    })
}

pub fn __sys_getsockname(host: &Host, id: SockId) -> KResult<Addr> {
    (ops(host, id).getname)(host, id, false)
}

pub fn __sys_getpeername(host: &Host, id: SockId) -> KResult<Addr> {
    (ops(host, id).getname)(host, id, true)
}

pub fn __sys_shutdown(host: &Host, id: SockId, how: i32) -> KResult<()> {
    crate::ktrace!("__sys_shutdown -> {}", ops(host, id).name);
    (ops(host, id).shutdown)(host, id, how)
}

/// Inlined into the read/write hooks, as `sock_sendmsg` is a small step of
/// the kernel's own path.
#[inline]
pub fn __sys_sendmsg(host: &Host, id: SockId, msg: &SendMsg<'_>) -> KResult<usize> {
    crate::ktrace!("sock_sendmsg -> {}", ops(host, id).name);
    (ops(host, id).sendmsg)(host, id, msg)
}

#[inline]
pub fn __sys_recvmsg(host: &Host, id: SockId, msg: &mut RecvMsg<'_>) -> KResult<usize> {
    crate::ktrace!("sock_recvmsg -> {}", ops(host, id).name);
    // Only tcp_recvmsg copes with a buffer that faults on copy (it may
    // return before copying anything, or copy none with MSG_TRUNC).
    if msg.bad_tail > 0 && host.shared()[id.idx()].ops.load(Ordering::Acquire) != OpsId::InetStream as u32 {
        return Err(Errno::EFAULT);
    }
    (ops(host, id).recvmsg)(host, id, msg)
}

pub fn __sys_setsockopt(host: &Host, id: SockId, level: i32, name: i32, val: &[u8]) -> KResult<()> {
    if level == libc::SOL_SOCKET {
        sockopt::sock_setsockopt(host, id, name, val)
    } else {
        (ops(host, id).setsockopt)(host, id, level, name, val)
    }
}

/// `len` is the caller's optlen: each level checks it as the kernel's does
/// (do_ipv6_getsockopt takes a negative one as large).
pub fn __sys_getsockopt(host: &Host, id: SockId, level: i32, name: i32, len: i32) -> KResult<Vec<u8>> {
    if level == libc::SOL_SOCKET {
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        sockopt::sock_getsockopt(host, id, name, len as usize)
    } else {
        (ops(host, id).getsockopt)(host, id, level, name, len)
    }
}

/// SIOCDEVPRIVATE .. SIOCDEVPRIVATE + 15, which `sock_ioctl` hands to
/// `dev_ioctl` before the protocol sees them.
pub const SIOCDEVPRIVATE: u64 = 0x89f0;

/// `dev_ioctl` -> `dev_ifsioc` for the SIOCDEVPRIVATE range, after
/// `sock_ioctl` copied the `struct ifreq` in: the emulated host has only
/// `lo`, which has no `ndo_siocdevprivate`.
pub fn dev_ioctl_private(ifr_name: &[u8]) -> KResult<i32> {
    let name = ifr_name.iter().take(16).take_while(|&&b| b != 0).copied().collect::<Vec<u8>>();
    if name == b"lo" {
        Err(Errno::EOPNOTSUPP)
    } else {
        Err(Errno::ENODEV)
    }
}

/// ioctl on a socket: FIONBIO is the file's; the rest go to ops->ioctl.
pub fn sock_ioctl(host: &Host, id: SockId, cmd: u64, arg: i32) -> KResult<i32> {
    if cmd == libc::FIONBIO {
        let sh = &host.shared()[id.idx()];
        if arg != 0 {
            sh.f_flags.fetch_or(libc::O_NONBLOCK as u32, Ordering::Relaxed);
        } else {
            sh.f_flags.fetch_and(!(libc::O_NONBLOCK as u32), Ordering::Relaxed);
        }
        return Ok(0);
    }
    (ops(host, id).ioctl)(host, id, cmd)
}

/// The poll mask of a socket (`sock_poll` -> `ops->poll`).
pub fn sock_poll(host: &Host, id: SockId) -> u32 {
    (ops(host, id).poll)(host, id)
}
