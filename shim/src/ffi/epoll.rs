//! epoll over sets that mix emulated sockets and real fds, with instances
//! shared as the kernel shares a `struct eventpoll`.
//!
//! The epoll fd stays a real kernel epoll: real fds are added to it as
//! usual, and fork, dup and SCM_RIGHTS share it as they share any file.
//! The interests in emulated sockets (the kernel's `epitem`s: events, data,
//! the edge-triggered sequence, the EPOLLONESHOT disabled bit) live in the
//! shared mapping (`shm::epoll`), one list per instance, so every holder in
//! every process sees and changes the same list: an ADD in a fork child is
//! reported by the parent's epoll_wait, a ONESHOT item disarmed by one is
//! disarmed for all, an edge is consumed once. An item is keyed as the
//! kernel keys it, by (file, fd) of the process that added it (`ep_find`);
//! it goes with EPOLL_CTL_DEL or when its socket's file is released
//! (`eventpoll_release`: the last close anywhere, not the close of one fd
//! while a dup or a fork child still holds the file).
//!
//! Which instance an fd names: every epoll fd made by epoll_create(1) gets
//! an instance at once, recorded in the process's fd table in the mapping
//! (an epoll word; `task::lookup_epoll`); dup/dup2/dup3/F_DUPFD copy the
//! word, fork copies the table, exec keeps the words whose fd survived, and
//! each word holds a reference (the last close, exit or reap frees the
//! instance). Each instance has one poll waiter, owned by the instance and
//! not by a process, whose FIFO is added to the kernel epoll with a data
//! word that names the instance (`mark`); so a wake-up of any watched socket
//! makes the kernel epoll readable for every holder, and a process that got
//! the fd some other way (SCM_RIGHTS) finds the instance in
//! /proc/self/fdinfo. epoll_wait sleeps in the kernel's epoll_wait on
//! everything at once. Level- and edge-triggered, EPOLLONESHOT, EPOLLRDHUP,
//! EPOLLHUP/EPOLLERR follow ep_item_poll / ep_send_events.

use super::poll::TICK;
use super::uaccess::{copy_from_user, plausible};
use super::{emulated, real, reentrant, run};
use crate::errno::{Errno, KResult};
use crate::net::{self, smallvec::SmallVec, sock::{SockId, Watch}};
use crate::shm::epoll::{ready_mark_of, EpItem, EpollArea, EpollTable};
use crate::shm::{waiter, Host};
use crate::task::FdEntry;
use libc::{c_int, epoll_event, sigset_t};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The high half of the data word the instance's FIFO carries in the
/// kernel epoll ("nsep"); the low half names the instance.
const MARK_HI: u64 = 0x6e73_6570;

fn mark(ep: u32, gen: u32) -> u64 {
    (MARK_HI << 32) | ((gen as u64 & 0xffff) << 16) | ep as u64
}

fn is_mark(v: u64) -> bool {
    v >> 32 == MARK_HI
}

fn unmark(v: u64) -> (u32, u32) {
    ((v & 0xffff) as u32, ((v >> 16) & 0xffff) as u32)
}

/// This process's side of an instance it holds fds of: how many, and the
/// FIFO fd it drains the waiter with.
struct Local {
    ep: u32,
    gen: u32,
    nfds: u32,
    fifo: c_int,
    ino: u64,
}

static LOCAL: Mutex<Vec<Local>> = Mutex::new(Vec::new());

fn with_local<T>(f: impl FnOnce(&mut Vec<Local>) -> T) -> T {
    let mut g = LOCAL.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut g)
}

/// The namespace, if this process is attached and the call is not the shim's own.
fn active() -> Option<&'static Host> {
    if reentrant() || !super::READY.load(Ordering::Acquire) {
        return None;
    }
    super::attached_host()
}

fn encode(w: Watch) -> u8 {
    match w {
        Watch::Slot(i) => i as u8,
        Watch::Overflow => 255,
    }
}

fn decode(w: u8) -> Watch {
    if w == 255 {
        Watch::Overflow
    } else {
        Watch::Slot(w as usize)
    }
}

/// Opens the FIFO of waiter `id` at a high fd.
fn open_fifo(id: u32, cloexec: bool) -> Option<(c_int, u64)> {
    let w = waiter::get()?;
    let path = w.fifo_path(id);
    let cl = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: path is NUL-terminated; O_RDWR on a FIFO never blocks on Linux.
    let fd = unsafe { crate::syscall!(SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | cl) }.ok()? as c_int;
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    // SAFETY: F_DUPFD only makes a new fd; the old one is closed after.
    let fd = match unsafe { crate::syscall!(SYS_fcntl, fd, cmd, 900) } {
        Ok(n) => {
            crate::sys::close_fd(fd);
            n as c_int
        }
        Err(_) => fd,
    };
    let ino = crate::task::placeholder_ino(fd).unwrap_or(0);
    Some((fd, ino))
}

/// Counts one more fd of the instance in this process.
fn local_add(ep: u32, gen: u32, fifo: Option<(c_int, u64)>) {
    with_local(|l| match l.iter_mut().find(|x| x.ep == ep && x.gen == gen) {
        Some(x) => x.nfds += 1,
        None => {
            let (fifo, ino) = fifo.unwrap_or((-1, 0));
            l.push(Local { ep, gen, nfds: 1, fifo, ino })
        }
    });
}

/// One fd of the instance fewer in this process; the last closes its FIFO fd.
fn local_drop(ep: u32, gen: u32) {
    let gone = with_local(|l| {
        let i = l.iter().position(|x| x.ep == ep && x.gen == gen)?;
        l[i].nfds = l[i].nfds.saturating_sub(1);
        (l[i].nfds == 0).then(|| l.swap_remove(i))
    });
    if let Some(x) = gone {
        if x.fifo >= 0 && crate::task::placeholder_ino(x.fifo) == Some(x.ino) {
            crate::sys::close_fd(x.fifo);
        }
    }
}

/// This process's FIFO fd for the instance, (re)opened when needed. A
/// FIFO file opened here for an fd the process did not inherit with it is
/// also added to the kernel epoll, so the wake-ups reach it whoever else
/// closes theirs.
fn local_fifo(epfd: c_int, ep: u32, gen: u32, wid: u32) -> c_int {
    let cur = with_local(|l| l.iter().find(|x| x.ep == ep && x.gen == gen).map(|x| (x.fifo, x.ino)));
    if let Some((fd, ino)) = cur {
        if fd >= 0 && crate::task::placeholder_ino(fd) == Some(ino) {
            return fd;
        }
    }
    let Some((fd, ino)) = open_fifo(wid, true) else { return -1 };
    let mut e = epoll_event { events: libc::EPOLLIN as u32, u64: mark(ep, gen) };
    // SAFETY: adds the FIFO to the program's real epoll instance.
    unsafe { real::epoll_ctl()(epfd, libc::EPOLL_CTL_ADD, fd, &mut e) };
    with_local(|l| match l.iter_mut().find(|x| x.ep == ep && x.gen == gen) {
        Some(x) => {
            x.fifo = fd;
            x.ino = ino;
        }
        None => l.push(Local { ep, gen, nfds: 1, fifo: fd, ino }),
    });
    fd
}

fn drain(fd: c_int) {
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 256];
    // SAFETY: drains the non-blocking FIFO into a stack buffer.
    while let Ok(n) = unsafe { crate::syscall!(SYS_read, fd, buf.as_mut_ptr(), buf.len()) } {
        if n < buf.len() {
            break;
        }
    }
}

fn set_armed(wid: u32, on: bool) {
    if let Some(w) = waiter::get().and_then(|w| w.slot(wid)) {
        w.armed.store(on as u32, Ordering::SeqCst);
    }
}

/// Frees instance `ep`: its items leave their sockets' watchers, its waiter goes.
fn free_ep(h: &Host, area: &EpollArea, t: &mut EpollTable, ep: u32) {
    let wid = t.eps[ep as usize].waiter;
    for idx in t.list(ep) {
        let it = t.remove(area, idx);
        if it.epoch == area.epoch(it.sock as usize) {
            h.shared()[it.sock as usize].wq.unwatch(wid, ready_mark_of(idx), decode(it.watch));
        }
    }
    if let Some(w) = waiter::get() {
        w.free_shared(wid);
    }
    t.eps[ep as usize].in_use = false;
    log::debug!("epoll instance {ep} freed");
}

/// Frees the instances no fd names any more (their last holder exited or
/// was reaped, which drops references under the host lock).
pub fn gc(h: &Host) {
    let area = h.epoll();
    let mut t = area.table.lock();
    for ep in 0..crate::shm::epoll::MAX_EPOLLS as u32 {
        if t.eps[ep as usize].in_use && area.refs[ep as usize].load(Ordering::Acquire) == 0 {
            free_ep(h, area, &mut t, ep);
        }
    }
}

/// Gives the kernel epoll `epfd` a shared instance (`ep_alloc`): a waiter
/// whose FIFO goes into the kernel epoll, and the epoll word in the fd table.
fn make_instance(h: &Host, epfd: c_int, cloexec: bool) -> KResult<(u32, u32)> {
    gc(h);
    let w = waiter::get().ok_or(Errno::ENOMEM)?;
    let wid = w.alloc_shared().ok_or(Errno::ENOMEM)?;
    let area = h.epoll();
    let made = {
        let mut t = area.table.lock();
        t.alloc_ep(area, wid)
    };
    let Some((ep, gen)) = made else {
        w.free_shared(wid);
        return Err(Errno::ENOMEM);
    };
    let undo = |e: Errno| {
        area.refs[ep as usize].store(0, Ordering::Release);
        gc(h);
        e
    };
    let Some((fifo, ino)) = open_fifo(wid, cloexec) else { return Err(undo(Errno::ENOMEM)) };
    let mut e = epoll_event { events: libc::EPOLLIN as u32, u64: mark(ep, gen) };
    // SAFETY: adds the waiter's FIFO to the program's real epoll instance.
    if unsafe { real::epoll_ctl()(epfd, libc::EPOLL_CTL_ADD, fifo, &mut e) } < 0 {
        let err = Errno::last();
        crate::sys::close_fd(fifo);
        return Err(undo(err));
    }
    let old = {
        let mut g = h.header().host.lock();
        crate::task::install_epoll(h, &mut g, epfd, ep, gen)
    };
    match old {
        Ok(prev) => {
            log::debug!("epoll instance {ep} made for fd {epfd}");
            local_add(ep, gen, Some((fifo, ino)));
            if let Some((pe, pg)) = prev {
                drop_ref(h, pe, pg);
            }
            Ok((ep, gen))
        }
        Err(err) => {
            crate::sys::close_fd(fifo);
            Err(undo(err))
        }
    }
}

/// Drops this process's reference of an fd that named instance (ep, gen).
fn drop_ref(h: &Host, ep: u32, gen: u32) {
    local_drop(ep, gen);
    let area = h.epoll();
    if area.put(ep) {
        let mut t = area.table.lock();
        if t.valid(ep, gen) && area.refs[ep as usize].load(Ordering::Acquire) == 0 {
            free_ep(h, area, &mut t, ep);
        }
    }
}

/// The instance named in the kernel epoll `epfd`'s own list (its FIFO's
/// data word, read from /proc/self/fdinfo): how an fd that arrived without
/// its epoll word (SCM_RIGHTS, a spawn the shim did not see) is known.
fn fdinfo_instance(epfd: c_int) -> Option<(u32, u32)> {
    let s = std::fs::read_to_string(format!("/proc/self/fdinfo/{epfd}")).ok()?;
    s.lines().find_map(|l| {
        let mut it = l.split_ascii_whitespace();
        while let Some(tok) = it.next() {
            if tok == "data:" {
                let v = u64::from_str_radix(it.next()?, 16).ok()?;
                return is_mark(v).then(|| unmark(v));
            }
        }
        None
    })
}

/// Takes a reference to the instance `epfd` names in the kernel (fdinfo)
/// and records it for `epfd`.
fn adopt(h: &Host, epfd: c_int) -> Option<(u32, u32)> {
    let (ep, gen) = fdinfo_instance(epfd)?;
    let area = h.epoll();
    {
        let t = area.table.lock();
        if !t.valid(ep, gen) {
            return None;
        }
        area.get(ep);
    }
    let prev = {
        let mut g = h.header().host.lock();
        crate::task::install_epoll(h, &mut g, epfd, ep, gen)
    };
    match prev {
        Ok(prev) => {
            local_add(ep, gen, None);
            if let Some((pe, pg)) = prev {
                drop_ref(h, pe, pg);
            }
            Some((ep, gen))
        }
        Err(_) => {
            area.put(ep);
            None
        }
    }
}

/// After exec, in `task::revalidate`: whether fd is still the epoll of
/// instance (ep, gen); if so this image counts it.
pub fn survived_exec(fd: c_int, ep: u32, gen: u32) -> bool {
    let ok = is_epoll_fd(fd).unwrap_or(false) && fdinfo_instance(fd) == Some((ep, gen));
    if ok {
        local_add(ep, gen, None);
    }
    ok
}

/// A real fd received with SCM_RIGHTS (`scm_detach_fds`): an epoll fd
/// is recorded as the instance it is.
pub fn received(fd: c_int) {
    let Some(h) = super::attached_host() else { return };
    if is_epoll_fd(fd).unwrap_or(false) {
        let _ = adopt(h, fd);
    }
}

/// epoll_create / epoll_create1: the instance is made at once, so a fork
/// child or a dup that adds the first emulated socket shares it.
fn created(fd: c_int, cloexec: bool) {
    if fd < 0 {
        return;
    }
    if let Some(h) = active() {
        let _g = super::Guard::enter();
        if let Err(e) = make_instance(h, fd, cloexec) {
            log::debug!("epoll instance for fd {fd} not made: {e:?}");
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    let fd = real::epoll_create()(size);
    created(fd, false);
    fd
}

#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    let fd = real::epoll_create1()(flags);
    created(fd, flags & libc::EPOLL_CLOEXEC != 0);
    fd
}

/// close() of a non-socket fd: an epoll fd drops its instance reference.
pub fn forget(fd: c_int) {
    let Some(h) = active() else { return };
    if crate::task::lookup_epoll(h, fd).is_none() {
        return;
    }
    let _g = super::Guard::enter();
    let gone = {
        let _g = h.header().host.lock();
        crate::task::uninstall_epoll(h, fd)
    };
    if let Some((ep, gen)) = gone {
        drop_ref(h, ep, gen);
    }
}

/// An fd number about to be replaced (dup2/dup3 onto it): as `forget`.
pub fn replaced(fd: c_int) {
    forget(fd)
}

/// dup/dup2/dup3/F_DUPFD made `new` a copy of `old` (a non-socket fd):
/// the epoll word goes along, with a reference.
pub fn dup_hook(old: c_int, new: c_int) {
    let Some(h) = active() else { return };
    if old == new || new < 0 {
        return;
    }
    let src = crate::task::lookup_epoll(h, old);
    if src.is_none() && crate::task::lookup_epoll(h, new).is_none() {
        return;
    }
    forget(new);
    let Some((ep, gen)) = src else { return };
    let _g = super::Guard::enter();
    h.epoll().get(ep);
    let prev = {
        let mut g = h.header().host.lock();
        crate::task::install_epoll(h, &mut g, new, ep, gen)
    };
    match prev {
        Ok(prev) => {
            local_add(ep, gen, None);
            if let Some((pe, pg)) = prev {
                drop_ref(h, pe, pg);
            }
        }
        Err(_) => {
            h.epoll().put(ep);
        }
    }
}

/// close_range/closefrom: the epoll fds of the range.
pub fn close_range(first: u32, last: u32) {
    let Some(h) = active() else { return };
    let Some(slot) = crate::task::my_slot() else { return };
    let limit = { h.header().host.lock().procs[slot].fd_limit };
    for (fd, _, _) in crate::task::epoll_entries(h, slot, limit) {
        if (first..=last).contains(&(fd as u32)) {
            forget(fd);
        }
    }
}

/// Process exit: instances whose last holder this was are freed.
pub fn exit_gc(h: &Host) {
    with_local(|l| l.clear());
    gc(h);
}

fn is_epoll_fd(fd: c_int) -> KResult<bool> {
    let path = format!("/proc/self/fd/{fd}\0");
    let mut buf = [0u8; 64];
    // SAFETY: readlinkat into a stack buffer.
    match unsafe { crate::syscall!(SYS_readlinkat, libc::AT_FDCWD, path.as_ptr(), buf.as_mut_ptr(), buf.len()) } {
        Ok(n) => Ok(&buf[..n] == b"anon_inode:[eventpoll]"),
        Err(_) => Err(Errno::EBADF),
    }
}

/// The instance of epoll fd `epfd`: its word, or the one its kernel list
/// names, or a new one (an epoll fd made where the shim did not see it).
fn instance_of(h: &Host, epfd: c_int) -> KResult<(u32, u32)> {
    if let Some(x) = crate::task::lookup_epoll(h, epfd) {
        return Ok(x);
    }
    if !is_epoll_fd(epfd)? {
        return Err(Errno::EINVAL);
    }
    if let Some(x) = adopt(h, epfd) {
        return Ok(x);
    }
    // SAFETY: F_GETFD on an fd that is open.
    let cloexec = unsafe { real::fcntl()(epfd, libc::F_GETFD, 0) } & libc::FD_CLOEXEC != 0;
    make_instance(h, epfd, cloexec)
}

/// EPOLLEXCLUSIVE_OK_BITS of fs/eventpoll.c.
const EXCLUSIVE_OK: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP | libc::EPOLLWAKEUP | libc::EPOLLET | libc::EPOLLEXCLUSIVE) as u32;

/// `do_epoll_ctl` for an emulated target fd.
fn do_ctl(h: &Host, epfd: c_int, op: c_int, fd: c_int, file: FdEntry, ev: *mut epoll_event) -> KResult<i64> {
    let sock = file.sock;
    let event = if op == libc::EPOLL_CTL_DEL {
        None
    } else {
        let b = copy_from_user(ev as usize, core::mem::size_of::<epoll_event>())?;
        let events = u32::from_ne_bytes(b[0..4].try_into().unwrap());
        let data = u64::from_ne_bytes(b[4..12].try_into().unwrap());
        Some((events, data))
    };
    if epfd == fd {
        return Err(Errno::EINVAL);
    }
    if crate::task::lookup(h, epfd).is_some() {
        return Err(Errno::EINVAL);
    }
    let (ep, gen) = instance_of(h, epfd)?;
    if let Some((events, _)) = event {
        if events & libc::EPOLLEXCLUSIVE as u32 != 0 {
            if op == libc::EPOLL_CTL_MOD || (op == libc::EPOLL_CTL_ADD && events & !EXCLUSIVE_OK != 0) {
                return Err(Errno::EINVAL);
            }
        }
    }
    let area = h.epoll();
    let epoch = area.epoch(sock.idx());
    let wq = &h.shared()[sock.idx()].wq;
    let mut t = area.table.lock();
    if !t.valid(ep, gen) {
        return Err(Errno::EINVAL);
    }
    let wid = t.eps[ep as usize].waiter;
    let found = t.find(ep, fd, sock.0, epoch);
    match op {
        libc::EPOLL_CTL_ADD => {
            if found.is_some() {
                return Err(Errno::EEXIST);
            }
            let (events, data) = event.expect("ADD has an event");
            let item = EpItem {
                ep: 0,
                fd,
                sock: sock.0,
                epoch,
                events,
                data,
                last_seq: wq.seq().wrapping_sub(1),
                disabled: false,
                watch: 0,
                seen: 0,
                prev: 0,
                next: 0,
                hnext: 0,
            };
            // max_user_watches reached: ENOSPC.
            let idx = t.insert(area, ep, item).ok_or(Errno::ENOSPC)?;
            t.items[idx as usize].watch = encode(wq.watch(wid, ready_mark_of(idx)));
            // ep_insert: polled now, on the ready list if ready (a wake
            // before the watch was in place left no mark; one after it
            // marks the item itself).
            if item_poll(h, sock, events) != 0 {
                area.set_ready(ep as usize, idx as usize);
            }
            drop(t);
            // ep_insert: a sleeper of any holder looks at the new item.
            if let Some(w) = waiter::get() {
                w.poke(wid);
            }
            Ok(0)
        }
        libc::EPOLL_CTL_MOD => {
            let idx = found.ok_or(Errno::ENOENT)?;
            let it = &mut t.items[idx as usize];
            if it.events & libc::EPOLLEXCLUSIVE as u32 != 0 {
                return Err(Errno::EINVAL);
            }
            let (events, data) = event.expect("MOD has an event");
            it.events = events;
            it.data = data;
            it.disabled = false;
            it.last_seq = wq.seq().wrapping_sub(1);
            // ep_modify: polled again, on the ready list if ready.
            if item_poll(h, sock, events) != 0 {
                area.set_ready(ep as usize, idx as usize);
            }
            drop(t);
            if let Some(w) = waiter::get() {
                w.poke(wid);
            }
            Ok(0)
        }
        libc::EPOLL_CTL_DEL => {
            let idx = found.ok_or(Errno::ENOENT)?;
            let it = t.remove(area, idx);
            wq.unwatch(wid, ready_mark_of(idx), decode(it.watch));
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int {
    let Some((h, e)) = emulated(fd) else { return real::epoll_ctl()(epfd, op, fd, ev) };
    run("epoll_ctl", || format!("{epfd}, {op}, {fd}, {ev:p}"), || do_ctl(h, epfd, op, fd, e, ev))
}

/// `ep_item_poll`: which of an item's `events` (and an error or hang-up,
/// always reported) the socket has now.
fn item_poll(h: &Host, sock: SockId, events: u32) -> u32 {
    net::sock_poll(h, sock) & (events | (libc::EPOLLERR | libc::EPOLLHUP) as u32)
}

/// `ep_send_events` for the emulated interests: ready events into `out`.
///
/// The items looked at are those on the instance's ready list
/// (`EpollArea::take_ready`: woken since the last look, just added or
/// modified, or put back), in the order they went on it; an idle item
/// costs nothing. With `force` (the periodic rescan of a long sleep,
/// should some change have come without a wake-up), and every
/// `FULL_LOOK_EVERY`th time, the rest of the list follows them.
/// A reported level-triggered item goes back on the ready list, at its
/// end, as the kernel puts it back; ready items beyond `max` stay where
/// they were for the next call.
fn collect(h: &Host, area: &EpollArea, t: &mut EpollTable, ep: u32, out: &mut Vec<epoll_event>, max: usize, force: bool) {
    // On the stack for the usual handful (no allocation per epoll_wait).
    // Each item with its stamp, read once: wakers move stamps meanwhile,
    // and a sort whose keys change under it has no order to find (Rust's
    // sort panics).
    let mut ready: SmallVec<(u64, u32), 16> = Default::default();
    let e = &mut t.eps[ep as usize];
    e.looks = e.looks.wrapping_add(1);
    let look = e.looks;
    let force = force || look % crate::shm::epoll::FULL_LOOK_EVERY == 0;
    area.take_ready(ep as usize, |idx| {
        // A mark may outlive its item (freed, or reused elsewhere).
        if t.items[idx as usize].ep == ep + 1 {
            ready.push((area.ready_stamp[idx as usize].load(Ordering::Acquire), idx));
        }
    });
    ready.sort_unstable();
    if force {
        for &(_, idx) in ready.iter() {
            t.items[idx as usize].seen = look;
        }
        let mut i = t.eps[ep as usize].head;
        while i != 0 {
            let it = &t.items[i as usize - 1];
            if it.seen != look {
                ready.push((u64::MAX, i - 1));
            }
            i = it.next;
        }
    }
    let mut again: SmallVec<u32, 16> = Default::default();
    let mut k = 0;
    while k < ready.len() && out.len() < max {
        let (_, idx) = ready[k];
        k += 1;
        let it = t.items[idx as usize];
        // The socket's file was released: eventpoll_release took the item
        // (and marked it, so that this look drops it). Its wait queue is
        // reset when the slot is used again.
        if it.epoch != area.epoch(it.sock as usize) {
            t.remove(area, idx);
            continue;
        }
        if it.disabled {
            continue;
        }
        // A watcher that found no slot in the wait queue leaves no mark:
        // such an item is looked at every time.
        if decode(it.watch) == Watch::Overflow {
            area.set_ready(ep as usize, idx as usize);
        }
        let sock = SockId(it.sock);
        let seq = h.shared()[sock.idx()].wq.seq();
        let mask = item_poll(h, sock, it.events);
        // Not ready, or edge-triggered and already reported at this
        // sequence: nothing to say until the next wake-up.
        if mask == 0 || (it.events & libc::EPOLLET as u32 != 0 && seq == it.last_seq) {
            continue;
        }
        let m = &mut t.items[idx as usize];
        m.last_seq = seq;
        if it.events & libc::EPOLLONESHOT as u32 != 0 {
            m.disabled = true;
        } else if it.events & libc::EPOLLET as u32 == 0 {
            again.push(idx);
        }
        out.push(epoll_event { events: mask, u64: it.data });
    }
    // What did not fit stays ready, ahead of what comes next.
    for &(_, idx) in &ready[k..] {
        area.put_back(ep as usize, idx as usize);
    }
    for &idx in again.iter() {
        t.to_tail(idx);
        area.set_ready(ep as usize, idx as usize);
    }
}

/// The real epoll_wait, without the waiters' marks; returns (events, fired).
fn real_wait(epfd: c_int, max: usize, wait_ms: c_int, sigmask: *const sigset_t) -> KResult<(Vec<epoll_event>, bool)> {
    // At most 256 events a call (the kernel too hands out what fits and
    // keeps the rest ready): programs pass maxevents of ten thousand and
    // more (redis), which would be a large zeroed buffer on every call.
    // The kernel's array on the stack, uninitialised (it writes what it
    // returns): the usual call returns nothing and allocates nothing.
    const ROOM: usize = 257;
    let mut buf = [core::mem::MaybeUninit::<epoll_event>::uninit(); ROOM];
    let len = max.clamp(1, ROOM - 1) + 1;
    // SAFETY: buf has room for `len` <= ROOM events.
    let r = unsafe { real::epoll_pwait()(epfd, buf.as_mut_ptr() as *mut epoll_event, len as c_int, wait_ms, sigmask) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel wrote the first r (<= len) entries.
    let got = unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const epoll_event, (r as usize).min(len)) };
    let fired = got.iter().any(|e| is_mark(e.u64));
    let out: Vec<epoll_event> = got.iter().filter(|e| !is_mark(e.u64)).take(max).copied().collect();
    Ok((out, fired))
}

fn do_wait(h: &Host, epfd: c_int, ep: u32, gen: u32, out: *mut epoll_event, max: c_int, timeout: c_int, sigmask: *const sigset_t) -> KResult<i64> {
    if max <= 0 || max as usize > (i32::MAX as usize) / core::mem::size_of::<epoll_event>() {
        return Err(Errno::EINVAL);
    }
    let max = max as usize;
    if !plausible(out as usize, max * core::mem::size_of::<epoll_event>()) {
        return Err(Errno::EFAULT);
    }
    let area = h.epoll();
    let deadline = (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    let spin = timeout != 0;
    // A sleep that ran out without a wake-up is followed by a full scan.
    let mut force = false;
    let events = loop {
        let mut got = Vec::new();
        let mut wid = 0;
        let mut pokes = None;
        let valid = {
            let mut t = area.table.lock();
            if t.valid(ep, gen) {
                wid = t.eps[ep as usize].waiter;
                let slot = waiter::get().and_then(|w| w.slot(wid));
                let seen = slot.map(|w| w.seq.load(Ordering::SeqCst));
                collect(h, area, &mut t, ep, &mut got, max, force);
                if got.is_empty() && spin {
                    pokes = slot.zip(seen);
                }
                true
            } else {
                false
            }
        };
        // As a blocking call spins before its futex sleep: the peer is
        // usually about to answer, and a FIFO poke costs both sides several
        // system calls. Every watched socket's wake bumps the waiter's poke
        // count, armed or not. (Real fds are looked at when the spin ends.)
        if let Some((w, seen)) = pokes {
            if crate::net::sock::spin_until(|| w.seq.load(Ordering::Acquire) != seen) {
                let mut t = area.table.lock();
                if t.valid(ep, gen) {
                    collect(h, area, &mut t, ep, &mut got, max, force);
                }
            }
        }
        let armed = if valid {
            let mut t = area.table.lock();
            if t.valid(ep, gen) {
                if got.is_empty() {
                    set_armed(wid, true);
                    // A change between the scan and the arming is caught here.
                    collect(h, area, &mut t, ep, &mut got, max, force);
                    if !got.is_empty() {
                        set_armed(wid, false);
                    }
                }
                Some(got.is_empty())
            } else {
                None
            }
        } else {
            None
        };
        let Some(sleep) = armed else {
            // The instance went away meanwhile.
            let (ev, _) = real_wait(epfd, max, timeout, sigmask)?;
            break ev;
        };
        if !sleep {
            let (mut real, _) = real_wait(epfd, max - got.len(), 0, sigmask)?;
            got.append(&mut real);
            break got;
        }
        let fifo = local_fifo(epfd, ep, gen, wid);
        // ep_poll: nothing available and a signal pending: EINTR.
        if let Some(e) = crate::signal::poll_interrupted() {
            return Err(e);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let wait = left.map_or(TICK, |l| l.min(TICK));
        let res = real_wait(epfd, max, wait.as_millis().max(if wait.is_zero() { 0 } else { 1 }) as c_int, sigmask);
        let (real, fired) = res?;
        if fired {
            drain(fifo);
        }
        if !real.is_empty() {
            break real;
        }
        if left == Some(Duration::ZERO) || deadline.is_some_and(|d| Instant::now() >= d) {
            let mut got = Vec::new();
            let mut t = area.table.lock();
            if t.valid(ep, gen) {
                collect(h, area, &mut t, ep, &mut got, max, force);
            }
            break got;
        }
        if !fired && crate::task::reap_dead(h) > 0 {
            gc(h);
        }
        force = !fired;
    };
    let n = events.len();
    // SAFETY: plausibility checked; `n <= max` events fit the program's array.
    let bytes = unsafe { core::slice::from_raw_parts(events.as_ptr() as *const u8, n * core::mem::size_of::<epoll_event>()) };
    super::uaccess::copy_to_user(out as usize, bytes)?;
    Ok(n as i64)
}

/// What epoll_wait on `epfd` needs: the kernel alone (no instance, or one
/// without emulated items), or the emulation.
enum Route {
    Kernel,
    /// An instance with no items: the kernel waits, with the waiter armed
    /// so that an ADD from another holder wakes it.
    Empty(u32, u32, u32),
    Emulated(&'static Host, u32, u32),
}

fn route(epfd: c_int) -> Route {
    let Some(h) = active() else { return Route::Kernel };
    let Some((ep, gen)) = crate::task::lookup_epoll(h, epfd) else { return Route::Kernel };
    let area = h.epoll();
    let Some(n) = area.nitems.get(ep as usize) else { return Route::Kernel };
    if n.load(Ordering::Acquire) != 0 {
        return Route::Emulated(h, ep, gen);
    }
    let wid = area.waiter[ep as usize].load(Ordering::Acquire);
    set_armed(wid, true);
    Route::Empty(ep, gen, wid)
}

/// After the kernel's own epoll_wait: takes out the waiters' marks. Returns
/// the count left and whether the caller should wait again through the
/// emulation (only marks, and the instance is known).
unsafe fn strip_marks(epfd: c_int, ev: *mut epoll_event, n: c_int, known: Option<(u32, u32, u32)>) -> (c_int, bool) {
    if n <= 0 || ev.is_null() {
        return (n, false);
    }
    // SAFETY: the kernel just wrote n events there.
    let s = unsafe { core::slice::from_raw_parts_mut(ev, n as usize) };
    if !s.iter().any(|e| is_mark(e.u64)) {
        return (n, false);
    }
    let mut k = 0;
    for i in 0..s.len() {
        if !is_mark(s[i].u64) {
            s[k] = s[i];
            k += 1;
        }
    }
    let _g = super::Guard::enter();
    let again = match known {
        Some((ep, gen, wid)) => {
            // Without a FIFO fd to drain (EMFILE) waiting again would spin.
            let fd = local_fifo(epfd, ep, gen, wid);
            drain(fd);
            fd >= 0
        }
        // An epoll fd that came without its word (SCM_RIGHTS): adopt it.
        None => super::attached_host().and_then(|h| adopt(h, epfd)).is_some(),
    };
    (k as c_int, k == 0 && again)
}

unsafe fn wait_entry(name: &str, epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int, sigmask: *const sigset_t) -> c_int {
    let known = match route(epfd) {
        Route::Emulated(h, ep, gen) => {
            return run(name, || format!("{epfd}, {ev:p}, {max}, {timeout}"), || do_wait(h, epfd, ep, gen, ev, max, timeout, sigmask));
        }
        Route::Empty(ep, gen, wid) => Some((ep, gen, wid)),
        Route::Kernel => None,
    };
    let n = real::epoll_pwait()(epfd, ev, max, timeout, sigmask);
    if n <= 0 || reentrant() {
        return n;
    }
    let (n, only_marks) = strip_marks(epfd, ev, n, known);
    if !only_marks || timeout == 0 {
        return n;
    }
    // Woken for an emulated socket another holder added: wait emulated.
    match route(epfd) {
        Route::Emulated(h, ep, gen) => run(name, || format!("{epfd}, {ev:p}, {max}, {timeout}"), || do_wait(h, epfd, ep, gen, ev, max, timeout, sigmask)),
        _ => wait_entry(name, epfd, ev, max, timeout, sigmask),
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int {
    wait_entry("epoll_wait", epfd, ev, max, timeout, core::ptr::null())
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int, sigmask: *const sigset_t) -> c_int {
    wait_entry("epoll_pwait", epfd, ev, max, timeout, sigmask)
}

/// `epoll_pwait2` (do_epoll_pwait2): the timeout is a timespec, NULL for
/// none. As the kernel, a bad pointer gives EFAULT and an invalid time
/// (`poll_select_set_timeout`) EINVAL before the epoll fd is looked at. An
/// instance with emulated items waits through the emulation, in
/// milliseconds rounded up; any other epoll fd gets the kernel's call with
/// the program's own timespec.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: *const libc::timespec, sigmask: *const sigset_t) -> c_int {
    let ms = if timeout.is_null() {
        -1
    } else {
        let parsed = {
            let _g = super::Guard::enter();
            copy_from_user(timeout as usize, core::mem::size_of::<libc::timespec>()).map(|b| {
                let sec = i64::from_ne_bytes(b[0..8].try_into().unwrap());
                let nsec = i64::from_ne_bytes(b[8..16].try_into().unwrap());
                (sec, nsec)
            })
        };
        match parsed {
            Err(e) => {
                e.set();
                return -1;
            }
            Ok((sec, nsec)) if sec < 0 || !(0..1_000_000_000).contains(&nsec) => {
                Errno::EINVAL.set();
                return -1;
            }
            Ok((sec, nsec)) => sec.saturating_mul(1000).saturating_add((nsec + 999_999) / 1_000_000).min(i32::MAX as i64) as c_int,
        }
    };
    if let Route::Kernel = route(epfd) {
        // SAFETY: the program's own arguments, passed on unchanged.
        let r = unsafe { crate::syscall!(SYS_epoll_pwait2, epfd, ev, max, timeout, sigmask, core::mem::size_of::<libc::c_ulong>()) };
        return match r {
            Ok(n) => n as c_int,
            Err(e) => {
                e.set();
                -1
            }
        };
    }
    wait_entry("epoll_pwait2", epfd, ev, max, ms, sigmask)
}
