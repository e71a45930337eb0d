//! Processes of the namespace and their fd tables (`struct files_struct`).
//!
//! Each process that uses the shim owns a slot: its pid, its start time
//! (so a recycled pid is told apart) and its fd table. An fd-table entry is
//! the socket id plus the low bits of the placeholder fd's inode, so after
//! `exec` the new image can tell which of its inherited fds are still the
//! placeholders they were (CLOEXEC ones are gone).
//!
//! The table is read lock-free on every intercepted call: for an fd that is
//! not a socket the whole cost of the shim is that one load.
//!
//! A process that exits (or is killed) without closing its sockets leaves
//! its slot behind; `reap_dead` finds such slots and closes their fds as the
//! kernel's exit path would, which is how peers of a killed process see EOF
//! and its names and ports become free.

use crate::errno::{Errno, KResult};
use crate::net::sock::SockId;
use crate::shm::{Host, HostState, MAX_FDS, MAX_PROCS};
use crate::sys;
use crate::syscall;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A process's fd table, read without the host lock.
#[repr(C)]
pub struct ProcFds {
    pub pid: AtomicU32,
    pub fds: [AtomicU64; MAX_FDS],
}

/// A process slot's control data, under the host lock.
#[repr(C)]
pub struct ProcCtl {
    pub in_use: bool,
    pub pid: u32,
    /// Field 22 of /proc/<pid>/stat; 0 until the process itself records it.
    pub starttime: u64,
    /// One past the highest fd that ever held a socket.
    pub fd_limit: u32,
    pub comm: [u8; 16],
}

/// This process's slot (usize::MAX: none yet).
static SLOT: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The pid the slot was taken for; a fork child sees a different getpid().
static SLOT_PID: AtomicU32 = AtomicU32::new(0);

/// How often a sleeping thread looks for processes that died without
/// closing their sockets (a peer killed with SIGKILL is seen within this).
pub const REAP_TICK: std::time::Duration = std::time::Duration::from_millis(50);

/// An fd-table entry: socket id + placeholder inode bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdEntry {
    pub sock: SockId,
    pub ino: u32,
}

impl FdEntry {
    pub(crate) fn pack(self) -> u64 {
        (self.sock.0 as u64 + 1) | ((self.ino as u64) << 32)
    }
    fn unpack(v: u64) -> Option<FdEntry> {
        let s = (v & 0xffff_ffff) as u32;
        SockId::unpack(s).map(|sock| FdEntry { sock, ino: (v >> 32) as u32 })
    }
}

/// The calling process's slot index, if it has one.
#[inline]
pub fn my_slot() -> Option<usize> {
    let s = SLOT.load(Ordering::Relaxed);
    (s != usize::MAX).then_some(s)
}

/// The socket behind `fd` in this process, if any: the passthrough test.
#[inline]
pub fn lookup(host: &Host, fd: i32) -> Option<FdEntry> {
    let slot = my_slot()?;
    if fd < 0 || fd as usize >= MAX_FDS {
        return None;
    }
    FdEntry::unpack(host.fds()[slot].fds[fd as usize].load(Ordering::Acquire))
}

/// Every (fd, entry) this process holds.
pub fn entries(host: &Host, slot: usize, limit: u32) -> Vec<(i32, FdEntry)> {
    let t = &host.fds()[slot];
    (0..(limit as usize).min(MAX_FDS))
        .filter_map(|fd| FdEntry::unpack(t.fds[fd].load(Ordering::Acquire)).map(|e| (fd as i32, e)))
        .collect()
}

/// Records `fd -> sock` in this process's table (the caller took the file reference).
pub fn install(host: &Host, g: &mut HostState, fd: i32, e: FdEntry) -> KResult<()> {
    let slot = my_slot().ok_or(Errno::EIO)?;
    if fd < 0 || fd as usize >= MAX_FDS {
        return Err(Errno::EMFILE);
    }
    host.fds()[slot].fds[fd as usize].store(e.pack(), Ordering::Release);
    let p = &mut g.procs[slot];
    p.fd_limit = p.fd_limit.max(fd as u32 + 1);
    Ok(())
}

/// Removes `fd` from this process's table; returns what it held.
pub fn uninstall(host: &Host, fd: i32) -> Option<FdEntry> {
    let slot = my_slot()?;
    if fd < 0 || fd as usize >= MAX_FDS {
        return None;
    }
    FdEntry::unpack(host.fds()[slot].fds[fd as usize].swap(0, Ordering::AcqRel))
}

/// An fd-table word naming a shared epoll instance (`shm::epoll`): no
/// socket in the low half, so `lookup` leaves the fd to the kernel; the
/// instance slot + 1 and its generation in the high half.
pub fn epoll_word(ep: u32, gen: u32) -> u64 {
    ((gen as u64 & 0xffff) << 48) | ((ep as u64 + 1) << 32)
}

/// The (instance, generation) an fd-table word names, if it is an epoll word.
pub fn epoll_of(v: u64) -> Option<(u32, u32)> {
    let hi = (v >> 32) as u32;
    (v as u32 == 0 && hi & 0xffff != 0).then(|| ((hi & 0xffff) - 1, hi >> 16))
}

/// The epoll instance behind `fd` in this process (lock-free).
#[inline]
pub fn lookup_epoll(host: &Host, fd: i32) -> Option<(u32, u32)> {
    let slot = my_slot()?;
    if fd < 0 || fd as usize >= MAX_FDS {
        return None;
    }
    epoll_of(host.fds()[slot].fds[fd as usize].load(Ordering::Acquire))
}

/// Records `fd -> epoll instance` (the caller took the reference); returns
/// the instance the fd named before, whose reference the caller drops.
pub fn install_epoll(host: &Host, g: &mut HostState, fd: i32, ep: u32, gen: u32) -> KResult<Option<(u32, u32)>> {
    let slot = my_slot().ok_or(Errno::EIO)?;
    if fd < 0 || fd as usize >= MAX_FDS {
        return Err(Errno::EMFILE);
    }
    let old = host.fds()[slot].fds[fd as usize].swap(epoll_word(ep, gen), Ordering::AcqRel);
    let p = &mut g.procs[slot];
    p.fd_limit = p.fd_limit.max(fd as u32 + 1);
    Ok(epoll_of(old))
}

/// Removes an epoll word at `fd` (a socket entry there is left alone).
pub fn uninstall_epoll(host: &Host, fd: i32) -> Option<(u32, u32)> {
    let slot = my_slot()?;
    if fd < 0 || fd as usize >= MAX_FDS {
        return None;
    }
    let cell = &host.fds()[slot].fds[fd as usize];
    let v = cell.load(Ordering::Acquire);
    let e = epoll_of(v)?;
    cell.compare_exchange(v, 0, Ordering::AcqRel, Ordering::Relaxed).ok().map(|_| e)
}

/// Every (fd, instance, generation) epoll word of a slot below `limit`.
pub fn epoll_entries(host: &Host, slot: usize, limit: u32) -> Vec<(i32, u32, u32)> {
    let t = &host.fds()[slot];
    (0..(limit as usize).min(MAX_FDS))
        .filter_map(|fd| epoll_of(t.fds[fd].load(Ordering::Acquire)).map(|(e, g)| (fd as i32, e, g)))
        .collect()
}


/// Whether the process in a slot is still running (not gone, not a zombie,
/// not a recycled pid).
fn slot_alive(p: &ProcCtl) -> bool {
    if !sys::pid_alive(p.pid) {
        return false;
    }
    match sys::proc_stat(p.pid) {
        None => false,
        Some((b'Z', _)) | Some((b'X', _)) => false,
        Some((_, st)) => p.starttime == 0 || st == p.starttime,
    }
}

/// Takes (or, after exec, finds again) this process's slot. Called once per
/// process image, with the host lock held.
pub fn attach(host: &Host, g: &mut HostState) -> KResult<()> {
    let pid = sys::getpid();
    let (_, start) = sys::proc_stat(pid).unwrap_or((b'R', 0));
    // After exec the slot is already ours: same pid, same start time.
    if let Some(slot) = (0..MAX_PROCS).find(|&i| g.procs[i].in_use && g.procs[i].pid == pid) {
        if g.procs[slot].starttime == 0 || g.procs[slot].starttime == start {
            g.procs[slot].starttime = start;
            SLOT.store(slot, Ordering::Release);
            SLOT_PID.store(pid, Ordering::Release);
            revalidate(host, g, slot);
            return Ok(());
        }
        // A recycled pid: the old owner is gone.
        release_slot(host, g, slot);
    }
    let slot = alloc_slot(host, g, pid)?;
    g.procs[slot].starttime = start;
    SLOT.store(slot, Ordering::Release);
    SLOT_PID.store(pid, Ordering::Release);
    adopt_from_parent(host, g, slot);
    Ok(())
}

fn alloc_slot(host: &Host, g: &mut HostState, pid: u32) -> KResult<usize> {
    let slot = match (0..MAX_PROCS).find(|&i| !g.procs[i].in_use) {
        Some(s) => s,
        None => {
            reap_locked(host, g);
            (0..MAX_PROCS).find(|&i| !g.procs[i].in_use).ok_or(Errno::ENFILE)?
        }
    };
    let p = &mut g.procs[slot];
    p.in_use = true;
    p.pid = pid;
    p.starttime = 0;
    p.fd_limit = 0;
    p.comm = [0; 16];
    host.fds()[slot].pid.store(pid, Ordering::Release);
    Ok(slot)
}

/// The placeholder fds this process has open, as (fd, inode), found by
/// their memfd name in /proc/self/fd.
fn open_placeholders() -> Vec<(i32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return Vec::new() };
    let mut out = Vec::new();
    for ent in dir.flatten() {
        let Some(fd) = ent.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let is_ours = std::fs::read_link(ent.path())
            .map(|t| t.to_string_lossy().starts_with(crate::net::socket::PLACEHOLDER_LINK))
            .unwrap_or(false);
        if is_ours {
            if let Some(ino) = placeholder_ino(fd) {
                out.push((fd, ino));
            }
        }
    }
    out
}

/// After exec (or a spawn whose file actions moved fds): rebuilds the
/// table from the placeholders that are really open. Each old entry is a
/// file reference; every open placeholder whose inode names a socket of the
/// old table gets an entry (using up those references, taking more for
/// copies that file actions made), and references left over are dropped
/// (CLOEXEC and closed fds).
fn revalidate(host: &Host, g: &mut HostState, slot: usize) {
    let open = open_placeholders();
    let table = &host.fds()[slot].fds;
    let old = entries(host, slot, g.procs[slot].fd_limit);
    for (fd, _) in &old {
        table[*fd as usize].store(0, Ordering::Release);
    }
    // The references the old entries held, per socket.
    let mut pool: Vec<(FdEntry, u32)> = Vec::new();
    for (_, e) in &old {
        match pool.iter_mut().find(|(p, _)| p.sock == e.sock) {
            Some((_, n)) => *n += 1,
            None => pool.push((*e, 1)),
        }
    }
    for (fd, ino) in open {
        if fd as usize >= MAX_FDS {
            continue;
        }
        let Some((e, n)) = pool.iter_mut().find(|(p, _)| p.ino == ino as u32) else { continue };
        table[fd as usize].store(FdEntry { sock: e.sock, ino: e.ino }.pack(), Ordering::Release);
        g.procs[slot].fd_limit = g.procs[slot].fd_limit.max(fd as u32 + 1);
        if *n > 0 {
            *n -= 1;
        } else {
            g.socks[e.sock.idx()].f_count += 1;
        }
    }
    for (e, n) in pool {
        for _ in 0..n {
            crate::net::socket::fput(host, g, e.sock);
        }
    }
    // Epoll fds: kept if the fd is still that epoll (not closed on exec).
    for (fd, ep, gen) in epoll_entries(host, slot, g.procs[slot].fd_limit) {
        if !crate::ffi::epoll::survived_exec(fd, ep, gen) {
            table[fd as usize].store(0, Ordering::Release);
            host.epoll().put(ep);
        }
    }
}

/// A process that arrived without a slot (spawned by a path the shim did
/// not see, e.g. glibc's internal posix_spawn in system/popen): adopts the
/// placeholders it inherited from its parent, by inode.
fn adopt_from_parent(host: &Host, g: &mut HostState, slot: usize) {
    // SAFETY: getppid cannot fail.
    let ppid = unsafe { libc::getppid() } as u32;
    let Some(pslot) = (0..MAX_PROCS).find(|&i| g.procs[i].in_use && g.procs[i].pid == ppid) else { return };
    let parent = entries(host, pslot, g.procs[pslot].fd_limit);
    for (fd, ino) in open_placeholders() {
        if fd as usize >= MAX_FDS {
            continue;
        }
        if let Some((_, e)) = parent.iter().find(|(_, e)| e.ino == ino as u32) {
            host.fds()[slot].fds[fd as usize].store(FdEntry { sock: e.sock, ino: e.ino }.pack(), Ordering::Release);
            g.procs[slot].fd_limit = g.procs[slot].fd_limit.max(fd as u32 + 1);
            g.socks[e.sock.idx()].f_count += 1;
        }
    }
}

/// The inode of an fd (the placeholder's identity).
pub fn placeholder_ino(fd: i32) -> Option<u64> {
    // SAFETY: fstat writes into a zeroed stat on this stack frame.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    unsafe { syscall!(SYS_fstat, fd, &mut st as *mut libc::stat) }.ok()?;
    Some(st.st_ino)
}

/// Closes every socket fd of a slot (the exit path) and frees the slot.
fn release_slot(host: &Host, g: &mut HostState, slot: usize) {
    for (fd, e) in entries(host, slot, g.procs[slot].fd_limit) {
        host.fds()[slot].fds[fd as usize].store(0, Ordering::Release);
        crate::net::socket::fput(host, g, e.sock);
    }
    // Its epoll fds: the instances live on while other holders remain (an
    // instance left without any is freed by `ffi::epoll::gc`).
    for (fd, ep, _) in epoll_entries(host, slot, g.procs[slot].fd_limit) {
        host.fds()[slot].fds[fd as usize].store(0, Ordering::Release);
        host.epoll().put(ep);
    }
    if let Some(w) = crate::shm::waiter::get() {
        if g.procs[slot].pid != crate::sys::getpid() {
            w.reap(g.procs[slot].pid);
        }
    }
    g.procs[slot].in_use = false;
    g.procs[slot].pid = 0;
    host.fds()[slot].pid.store(0, Ordering::Release);
}

fn reap_locked(host: &Host, g: &mut HostState) -> usize {
    let me = my_slot();
    let mut n = 0;
    for slot in 0..MAX_PROCS {
        if g.procs[slot].in_use && Some(slot) != me && !slot_alive(&g.procs[slot]) {
            log::debug!("reaping dead process {} (slot {slot})", g.procs[slot].pid);
            release_slot(host, g, slot);
            n += 1;
        }
    }
    n
}

/// Finds processes that died without closing their sockets and closes them.
pub fn reap_dead(host: &Host) -> usize {
    let mut g = host.header().host.lock();
    reap_locked(host, &mut g)
}

/// Like `reap_dead`, for a caller that holds the host lock.
pub fn reap_dead_locked(host: &Host, g: &mut HostState) -> usize {
    reap_locked(host, g)
}

/// The exit path of this process: closes all its socket fds.
pub fn exit_process(host: &Host) {
    let Some(slot) = my_slot() else { return };
    if SLOT_PID.load(Ordering::Relaxed) != sys::getpid() {
        return;
    }
    let mut g = host.header().host.lock();
    release_slot(host, &mut g, slot);
    SLOT.store(usize::MAX, Ordering::Release);
    drop(g);
    if let Some(w) = crate::shm::waiter::get() {
        w.reap(crate::sys::getpid());
    }
}

/// fork, in the parent before the real fork: takes a file reference for
/// every socket fd, on behalf of the child-to-be. Returns the entries.
pub fn fork_prepare(host: &Host, g: &mut HostState) -> Vec<(i32, FdEntry)> {
    let Some(slot) = my_slot() else { return Vec::new() };
    let v = entries(host, slot, g.procs[slot].fd_limit);
    for (_, e) in &v {
        g.socks[e.sock.idx()].f_count += 1;
    }
    // The child's references to the epoll instances of its epoll fds.
    for (_, ep, _) in epoll_entries(host, slot, g.procs[slot].fd_limit) {
        host.epoll().get(ep);
    }
    v
}

/// fork, in the parent after the real fork: gives the child its slot and
/// table (or, if fork failed, drops the references taken for it).
pub fn fork_parent(host: &Host, g: &mut HostState, child: Option<u32>, held: &[(i32, FdEntry)]) {
    let slot = child.and_then(|pid| alloc_slot(host, g, pid).ok());
    match slot {
        Some(s) => {
            let parent_limit = my_slot().map_or(0, |m| g.procs[m].fd_limit);
            for (fd, e) in held {
                host.fds()[s].fds[*fd as usize].store(e.pack(), Ordering::Release);
            }
            if let Some(m) = my_slot() {
                for (fd, ep, gen) in epoll_entries(host, m, parent_limit) {
                    host.fds()[s].fds[fd as usize].store(epoll_word(ep, gen), Ordering::Release);
                }
            }
            g.procs[s].fd_limit = parent_limit;
        }
        None => {
            for (_, e) in held {
                crate::net::socket::fput(host, g, e.sock);
            }
            if let Some(m) = my_slot() {
                for (_, ep, _) in epoll_entries(host, m, g.procs[m].fd_limit) {
                    host.epoll().put(ep);
                }
            }
        }
    }
}

/// fork, in the child: forget the parent's slot; the parent made ours.
pub fn fork_child() {
    SLOT.store(usize::MAX, Ordering::Release);
    SLOT_PID.store(0, Ordering::Release);
}

/// In a fork child: finds the slot the parent made (waiting for the parent
/// to release the host lock is what orders the two).
pub fn attach_child(host: &Host) {
    if my_slot().is_some() {
        return;
    }
    let mut g = host.header().host.lock();
    let pid = sys::getpid();
    if let Some(slot) = (0..MAX_PROCS).find(|&i| g.procs[i].in_use && g.procs[i].pid == pid) {
        if let Some((_, st)) = sys::proc_stat(pid) {
            g.procs[slot].starttime = st;
        }
        SLOT.store(slot, Ordering::Release);
        SLOT_PID.store(pid, Ordering::Release);
    } else {
        let _ = attach(host, &mut g);
    }
}
