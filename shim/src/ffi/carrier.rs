//! SCM_RIGHTS of real fds (pipes, files, kernel sockets): the kernel keeps
//! them in flight for the emulation.
//!
//! An emulated socket is an object of the shared host, so passing one is a
//! reference count; a real file lives in the kernel, and only the kernel can
//! put it into another process's fd table. So a message that carries real
//! fds gets a *carrier*: a kernel AF_UNIX datagram socketpair made by the
//! sender, whose one end sends the fds (one SCM_RIGHTS message) to the other
//! end and is closed. The kernel then holds the files in flight in that
//! end's receive queue, whatever the sender does with its own copies. The
//! sender keeps that end (moved to a high fd number; it survives exec) and
//! the emulated message records (sender pid, fd, inode). The receiver takes
//! the end with `pidfd_getfd(2)` (its own if it is the sender; else from the
//! sender, or any process of the namespace that holds it: a fork child, a
//! keeper), and `recvmsg` gives it new fds for the same files. The sender
//! closes its emptied ends at its next SCM_RIGHTS send or AF_UNIX receive.
//!
//! A sender that exits while ends it holds are not empty leaves a *keeper*:
//! a child forked at exit (raw clone, no atfork handlers) that closes every
//! other fd, holds those ends and is listed in the host (`scm_keepers`), and
//! exits once they are all empty (received, or freed with their receiving
//! socket) or the namespace has no live process left.
//!
//! Needs no privilege: `pidfd_getfd` only needs ptrace access to the holder,
//! which a process of the same user has (unless Yama's ptrace_scope forbids
//! it: then only a holder's ancestors can take it). Limit: a sender killed
//! with SIGKILL (no exit path, so no keeper) takes the files along; the
//! receiver gets the message without them (MSG_CTRUNC).

use crate::errno::{Errno, KResult};
use crate::net::scm::{Carrier, SCM_MAX_FD};
use crate::{sys, syscall};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Carrier ends go at or above this fd number, out of the way of the
/// lowest-free-fd numbers the program expects.
const CARRIER_BASE: i32 = 900;

/// Carrier ends this process holds: (fd, inode).
static HELD: Mutex<Vec<(i32, u64)>> = Mutex::new(Vec::new());
/// `HELD.len()`, read without the lock.
static NHELD: AtomicUsize = AtomicUsize::new(0);

fn ino_of(fd: i32) -> Option<u64> {
    sys::fstat_id(fd).ok().map(|(_, ino, _)| ino)
}

/// Moves `fd` to a number >= CARRIER_BASE (close-on-exec unless `keep`),
/// if there is one.
fn move_high_as(fd: i32, keep: bool) -> i32 {
    let cmd = if keep { libc::F_DUPFD } else { libc::F_DUPFD_CLOEXEC };
    // SAFETY: fcntl F_DUPFD takes no pointers.
    match unsafe { syscall!(SYS_fcntl, fd, cmd, CARRIER_BASE) } {
        Ok(n) => {
            sys::close_fd(fd);
            n as i32
        }
        Err(_) => fd,
    }
}

fn move_high(fd: i32) -> i32 {
    move_high_as(fd, false)
}

/// Bytes queued in a carrier end (SIOCINQ: the next datagram's length).
fn inq(fd: i32) -> i32 {
    let mut n: i32 = 0;
    // SAFETY: FIONREAD writes one int.
    match unsafe { syscall!(SYS_ioctl, fd, libc::FIONREAD, &mut n as *mut i32) } {
        Ok(_) => n,
        Err(_) => 0,
    }
}

/// Closes the held ends whose message was taken (they are empty).
fn sweep() {
    let Ok(mut held) = HELD.try_lock() else { return };
    held.retain(|&(fd, ino)| {
        if ino_of(fd) != Some(ino) {
            // The program closed (or reused) the number: nothing to hold.
            return false;
        }
        if inq(fd) == 0 {
            sys::close_fd(fd);
            return false;
        }
        true
    });
    NHELD.store(held.len(), Ordering::Relaxed);
}

/// `sweep` if this process holds ends (one atomic load otherwise): called
/// on the AF_UNIX receive path, so a sender that waits for its peer's
/// answer closes the ends the peer emptied.
pub fn maybe_sweep() {
    if NHELD.load(Ordering::Relaxed) > 0 {
        sweep();
    }
}

/// `struct msghdr` for the raw sendmsg/recvmsg below.
fn msghdr(iov: &mut libc::iovec, ctl: &mut [u64]) -> libc::msghdr {
    // SAFETY: a zeroed msghdr is valid (null pointers, zero lengths).
    let mut m: libc::msghdr = unsafe { core::mem::zeroed() };
    m.msg_iov = iov as *mut libc::iovec;
    m.msg_iovlen = 1;
    m.msg_control = ctl.as_mut_ptr() as *mut libc::c_void;
    m.msg_controllen = ctl.len() * 8;
    m
}

const CTL_WORDS: usize = (16 + SCM_MAX_FD * 4).div_ceil(8) + 1;

/// Puts real fds in flight: makes a carrier holding them.
pub fn pack(fds: &[i32]) -> KResult<Carrier> {
    sweep();
    let mut sv = [0i32; 2];
    // SAFETY: socketpair writes two ints into sv.
    unsafe { syscall!(SYS_socketpair, libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) }?;
    let mut byte = [b'F'];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr() as *mut libc::c_void, iov_len: 1 };
    let mut ctl = [0u64; CTL_WORDS];
    let clen = 16 + fds.len() * 4;
    {
        // cmsghdr: cmsg_len (size_t), cmsg_level, cmsg_type, then the fds.
        let b: &mut [u8] = bytemuck_bytes(&mut ctl);
        b[0..8].copy_from_slice(&(clen as u64).to_ne_bytes());
        b[8..12].copy_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
        b[12..16].copy_from_slice(&libc::SCM_RIGHTS.to_ne_bytes());
        for (i, fd) in fds.iter().enumerate() {
            b[16 + i * 4..20 + i * 4].copy_from_slice(&fd.to_ne_bytes());
        }
    }
    let mut m = msghdr(&mut iov, &mut ctl);
    m.msg_controllen = (clen + 7) & !7;
    // SAFETY: m points at live iov and control buffers of the lengths given.
    let r = unsafe { syscall!(SYS_sendmsg, sv[0], &m as *const libc::msghdr, libc::MSG_DONTWAIT) };
    sys::close_fd(sv[0]);
    if let Err(e) = r {
        sys::close_fd(sv[1]);
        return Err(if e == Errno::EAGAIN { Errno::ENOBUFS } else { e });
    }
    // Not close-on-exec: the files stay in flight across the sender's exec.
    let fd = move_high_as(sv[1], true);
    let ino = ino_of(fd).unwrap_or(0);
    // try_lock: a fork child may have inherited the lock held.
    if let Ok(mut held) = HELD.try_lock() {
        held.push((fd, ino));
        NHELD.store(held.len(), Ordering::Relaxed);
    }
    Ok(Carrier { pid: sys::getpid() as i32, fd, ino })
}

/// The control buffer as bytes.
fn bytemuck_bytes(w: &mut [u64]) -> &mut [u8] {
    // SAFETY: u64s are 8 plain bytes each; the slice covers exactly them.
    unsafe { core::slice::from_raw_parts_mut(w.as_mut_ptr() as *mut u8, w.len() * 8) }
}

/// An fd of this process for the carrier end: (fd, whether it is a copy
/// to close after use).
fn open_carrier(c: &Carrier, holders: &[u32]) -> Option<(i32, bool)> {
    let me = sys::getpid() as i32;
    if c.pid == me && ino_of(c.fd) == Some(c.ino) {
        return Some((c.fd, false));
    }
    let take = |pid: i32| -> Option<i32> {
        // SAFETY: pidfd_open and pidfd_getfd take no pointers.
        let pidfd = unsafe { syscall!(SYS_pidfd_open, pid, 0) }.ok()? as i32;
        // SAFETY: as above.
        let got = unsafe { syscall!(SYS_pidfd_getfd, pidfd, c.fd, 0) };
        sys::close_fd(pidfd);
        let fd = got.ok()? as i32;
        if ino_of(fd) == Some(c.ino) {
            return Some(move_high(fd));
        }
        sys::close_fd(fd);
        None
    };
    if c.pid != me {
        if let Some(fd) = take(c.pid) {
            return Some((fd, true));
        }
    }
    // The sender is gone, but a fork of it (this process) holds the end.
    if ino_of(c.fd) == Some(c.ino) {
        return Some((c.fd, false));
    }
    // Or another process of the namespace does (a fork child, a keeper).
    for &pid in holders {
        if pid as i32 != me && pid as i32 != c.pid {
            if let Some(fd) = take(pid as i32) {
                return Some((fd, true));
            }
        }
    }
    None
}

/// Takes the real fds out of a carrier (with `peek`, new fds for the same
/// files, the carrier keeping them), in the order they were sent; each is
/// parked at a high number, close-on-exec (see `place`). Empty if the
/// carrier is lost. `holders`: the namespace's processes and keepers.
pub fn unpack(c: &Carrier, peek: bool, holders: &[u32]) -> Vec<i32> {
    let Some((fd, copy)) = open_carrier(c, holders) else { return Vec::new() };
    let mut byte = [0u8];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr() as *mut libc::c_void, iov_len: 1 };
    let mut ctl = [0u64; CTL_WORDS];
    let mut m = msghdr(&mut iov, &mut ctl);
    let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC | if peek { libc::MSG_PEEK } else { 0 };
    // SAFETY: m points at live iov and control buffers of the lengths given.
    let r = unsafe { syscall!(SYS_recvmsg, fd, &mut m as *mut libc::msghdr, flags) };
    let mut out = Vec::new();
    if r.is_ok() {
        let n = m.msg_controllen.min(CTL_WORDS * 8);
        let b = bytemuck_bytes(&mut ctl);
        if n >= 16 {
            let clen = (u64::from_ne_bytes(b[0..8].try_into().unwrap_or([0; 8])) as usize).min(n);
            for ch in b[16..clen.max(16)].chunks_exact(4) {
                out.push(move_high(i32::from_ne_bytes([ch[0], ch[1], ch[2], ch[3]])));
            }
        }
    }
    if copy {
        sys::close_fd(fd);
    } else if !peek && fd == c.fd {
        // This process's own end, now empty.
        sys::close_fd(fd);
        if let Ok(mut held) = HELD.try_lock() {
            held.retain(|&(f, _)| f != fd);
            NHELD.store(held.len(), Ordering::Relaxed);
        }
    }
    out
}

/// How many ends one keeper holds at most.
const KEEP_MAX: usize = 256;

/// The exit path, after this process's sockets were closed: if ends it
/// holds are still in flight, forks a keeper to hold them.
pub fn keep_on_exit(host: &crate::shm::Host) {
    sweep();
    let mut ends = [(-1i32, 0u64); KEEP_MAX];
    let mut n = 0;
    {
        let Ok(held) = HELD.try_lock() else { return };
        for &(fd, ino) in held.iter() {
            if n < KEEP_MAX && ino_of(fd) == Some(ino) && inq(fd) > 0 {
                ends[n] = (fd, ino);
                n += 1;
            }
        }
    }
    if n == 0 {
        return;
    }
    let mut g = host.header().host.lock();
    let Some(slot) = (0..crate::shm::SCM_KEEPERS).find(|&i| g.scm_keepers[i] == 0 || !sys::pid_alive(g.scm_keepers[i])) else { return };
    // SAFETY: a plain fork (SIGCHLD, no new stack): the child runs on a
    // copy of this thread's stack and only makes raw system calls below.
    let pid = match unsafe { syscall!(SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) } {
        Ok(p) => p as i32,
        Err(_) => return,
    };
    if pid == 0 {
        // The host lock's guard belongs to the parent (which unlocks it).
        std::mem::forget(g);
        sys::forget_tid();
        keeper(host, &mut ends[..n]);
    }
    g.scm_keepers[slot] = pid as u32;
    drop(g);
    // The keeper holds them now (and a second exit hook makes no other).
    if let Ok(mut held) = HELD.try_lock() {
        for (fd, _) in held.drain(..) {
            sys::close_fd(fd);
        }
        NHELD.store(0, Ordering::Relaxed);
    }
}

/// The keeper's life (never returns).
fn keeper(host: &crate::shm::Host, ends: &mut [(i32, u64)]) -> ! {
    ends.sort_unstable();
    // Close every fd but the ends: the program's pipes, sockets and the
    // shim's own files must not live on here.
    let mut from: u32 = 0;
    for &(fd, _) in ends.iter() {
        if fd as u32 > from {
            // SAFETY: close_range takes no pointers.
            let _ = unsafe { syscall!(SYS_close_range, from, fd as u32 - 1, 0) };
        }
        from = fd as u32 + 1;
    }
    // SAFETY: as above.
    let _ = unsafe { syscall!(SYS_close_range, from, u32::MAX, 0) };
    let me = sys::getpid();
    let mut ticks: u32 = 0;
    loop {
        let ts = libc::timespec { tv_sec: 0, tv_nsec: 50_000_000 };
        // SAFETY: ts is a valid timespec; the remainder pointer may be null.
        let _ = unsafe { syscall!(SYS_nanosleep, &ts as *const libc::timespec, 0usize) };
        ticks += 1;
        let busy = ends.iter().any(|&(fd, _)| inq(fd) > 0);
        let mut done = !busy;
        if !done && ticks.is_multiple_of(20) {
            // Once a second: is anybody left who could receive?
            let g = host.header().host.lock();
            done = !g.procs.iter().any(|p| p.in_use && p.pid != me && sys::pid_alive(p.pid));
            drop(g);
        }
        if done {
            let mut g = host.header().host.lock();
            for k in g.scm_keepers.iter_mut() {
                if *k == me {
                    *k = 0;
                }
            }
            drop(g);
            // SAFETY: exit_group ends the process; nothing is unwound.
            let _ = unsafe { syscall!(SYS_exit_group, 0) };
        }
    }
}

/// Gives a parked fd its final number (the lowest free, as receive_fd
/// does) and close-on-exec flag.
pub fn place(parked: i32, cloexec: bool) -> KResult<i32> {
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    // SAFETY: fcntl F_DUPFD takes no pointers.
    let r = unsafe { syscall!(SYS_fcntl, parked, cmd, 0) };
    sys::close_fd(parked);
    r.map(|fd| fd as i32)
}

/// Drops parked fds (not received: MSG_CTRUNC, or the message was freed).
pub fn close_all(fds: &[i32]) {
    for &fd in fds {
        sys::close_fd(fd);
    }
}

/// Whether `fd` is an open fd of this process.
pub fn valid(fd: i32) -> bool {
    super::real_fd_valid(fd)
}
