//! epoll over sets that mix emulated sockets and real fds.
//!
//! The epoll instance stays a real kernel epoll: real fds are added to it as
//! usual. Emulated sockets are kept in a process-local interest list (the
//! kernel's `epitem`s) and watched through a poll waiter whose FIFO is
//! itself added to the kernel epoll; so epoll_wait sleeps in the kernel's
//! epoll_wait on everything at once, and an emulated socket's wake-up makes
//! the FIFO readable. Level- and edge-triggered, EPOLLONESHOT, EPOLLRDHUP,
//! EPOLLHUP/EPOLLERR follow ep_item_poll / ep_send_events.
//!
//! Limit: the interest list lives in the process that made it; after fork,
//! parent and child each keep their own copy of the emulated part.

use super::poll::{PollWaiter, TICK};
use super::uaccess::{copy_from_user, plausible};
use super::{emulated, real, reentrant, run};
use crate::errno::{Errno, KResult};
use crate::net::{self, sock::{SockId, Watch}};
use crate::shm::Host;
use crate::task::FdEntry;
use libc::{c_int, epoll_event, sigset_t};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The data word the waiter's FIFO carries in the kernel epoll.
const MARK: u64 = u64::from_le_bytes(*b"netshim\0");

struct Interest {
    sock: SockId,
    /// The placeholder's inode: with `sock`, which open file the fd named
    /// when it was added (the kernel keys an epitem by file and fd).
    ino: u32,
    events: u32,
    data: u64,
    watch: Watch,
    /// The socket's wait-queue sequence when last reported (edge-triggered).
    last_seq: u32,
    disabled: bool,
}

struct Epoll {
    waiter: PollWaiter,
    interests: BTreeMap<c_int, Interest>,
}

static EPOLLS: Mutex<Option<HashMap<c_int, Epoll>>> = Mutex::new(None);
static ANY: AtomicBool = AtomicBool::new(false);

fn with_epolls<T>(f: impl FnOnce(&mut HashMap<c_int, Epoll>) -> T) -> T {
    let mut g = EPOLLS.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

/// close() of an epoll fd: forget its emulated interests.
pub fn forget(fd: c_int) {
    if ANY.load(Ordering::Relaxed) {
        let _g = super::Guard::enter();
        let removed = with_epolls(|m| m.remove(&fd));
        if let (Some(ep), Some(h)) = (removed, super::host()) {
            for it in ep.interests.values() {
                h.shared()[it.sock.idx()].wq.unwatch(ep.waiter.id, it.watch);
            }
        }
    }
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

/// Whether `fd` still names the open file the interest was added for. A
/// close drops the kernel's epitem; here the entry stays until noticed, and
/// the fd number may name another socket by then.
fn current(h: &Host, fd: c_int, it: &Interest) -> bool {
    crate::task::lookup(h, fd).is_some_and(|e| e.sock == it.sock && e.ino == it.ino)
}

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
    // An epoll fd this process already watches emulated sockets with is
    // not looked up again in /proc (a path walk on every epoll_ctl, and
    // event loops call it per request); close() forgets it.
    if crate::task::lookup(h, epfd).is_some() || !(with_epolls(|m| m.contains_key(&epfd)) || is_epoll_fd(epfd)?) {
        return Err(Errno::EINVAL);
    }
    with_epolls(|m| {
        if !m.contains_key(&epfd) {
            if op != libc::EPOLL_CTL_ADD {
                return Err(Errno::ENOENT);
            }
            let mut waiter = PollWaiter::new().ok_or(Errno::ENOMEM)?;
            let mut e = epoll_event { events: libc::EPOLLIN as u32, u64: MARK };
            let fifo = waiter.fd();
            // SAFETY: adds the waiter's FIFO to the program's real epoll instance.
            if unsafe { real::epoll_ctl()(epfd, libc::EPOLL_CTL_ADD, fifo, &mut e) } < 0 {
                return Err(Errno::last());
            }
            m.insert(epfd, Epoll { waiter, interests: BTreeMap::new() });
            ANY.store(true, Ordering::Relaxed);
        }
        let ep = m.get_mut(&epfd).expect("just made");
        let wq = &h.shared()[sock.idx()].wq;
        // An entry left by a closed fd whose number was reused is gone.
        if let Some(old) = ep.interests.get(&fd) {
            if !current(h, fd, old) {
                let old = ep.interests.remove(&fd).expect("present");
                h.shared()[old.sock.idx()].wq.unwatch(ep.waiter.id, old.watch);
            }
        }
        match op {
            libc::EPOLL_CTL_ADD => {
                if ep.interests.contains_key(&fd) {
                    return Err(Errno::EEXIST);
                }
                let (events, data) = event.expect("ADD has an event");
                let watch = wq.watch(ep.waiter.id);
                ep.interests.insert(fd, Interest { sock, ino: file.ino, events, data, watch, last_seq: wq.seq().wrapping_sub(1), disabled: false });
                Ok(0)
            }
            libc::EPOLL_CTL_MOD => {
                let it = ep.interests.get_mut(&fd).ok_or(Errno::ENOENT)?;
                let (events, data) = event.expect("MOD has an event");
                if events & libc::EPOLLEXCLUSIVE as u32 != 0 {
                    return Err(Errno::EINVAL);
                }
                it.events = events;
                it.data = data;
                it.disabled = false;
                it.last_seq = wq.seq().wrapping_sub(1);
                Ok(0)
            }
            libc::EPOLL_CTL_DEL => {
                let it = ep.interests.remove(&fd).ok_or(Errno::ENOENT)?;
                wq.unwatch(ep.waiter.id, it.watch);
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, ev: *mut epoll_event) -> c_int {
    let Some((h, e)) = emulated(fd) else { return real::epoll_ctl()(epfd, op, fd, ev) };
    run("epoll_ctl", || format!("{epfd}, {op}, {fd}, {ev:p}"), || do_ctl(h, epfd, op, fd, e, ev))
}

/// `ep_send_events` for the emulated interests: ready events into `out`.
fn collect(h: &Host, ep: &mut Epoll, out: &mut Vec<epoll_event>, max: usize) {
    let mut stale = Vec::new();
    for (&fd, it) in ep.interests.iter_mut() {
        if out.len() >= max {
            break;
        }
        if it.disabled {
            continue;
        }
        // The fd was closed (and maybe reused): the registration is gone.
        if !current(h, fd, it) {
            stale.push(fd);
            continue;
        }
        let wq = &h.shared()[it.sock.idx()].wq;
        let seq = wq.seq();
        let want = it.events | (libc::EPOLLERR | libc::EPOLLHUP) as u32;
        let mask = net::sock_poll(h, it.sock) & want;
        if mask == 0 {
            continue;
        }
        if it.events & libc::EPOLLET as u32 != 0 {
            if seq == it.last_seq {
                continue;
            }
        }
        it.last_seq = seq;
        if it.events & libc::EPOLLONESHOT as u32 != 0 {
            it.disabled = true;
        }
        out.push(epoll_event { events: mask, u64: it.data });
    }
    for fd in stale {
        if let Some(it) = ep.interests.remove(&fd) {
            h.shared()[it.sock.idx()].wq.unwatch(ep.waiter.id, it.watch);
        }
    }
}

/// The real epoll_wait, without the waiter's own mark; returns (events, fired).
fn real_wait(epfd: c_int, max: usize, wait_ms: c_int, sigmask: *const sigset_t) -> KResult<(Vec<epoll_event>, bool)> {
    // At most 256 events a call (the kernel too hands out what fits and
    // keeps the rest ready): programs pass maxevents of ten thousand and
    // more (redis), which would be a large zeroed buffer on every call.
    let mut buf = vec![epoll_event { events: 0, u64: 0 }; max.clamp(1, 256) + 1];
    // SAFETY: buf has room for max+1 events.
    let r = unsafe { real::epoll_pwait()(epfd, buf.as_mut_ptr(), buf.len() as c_int, wait_ms, sigmask) };
    if r < 0 {
        return Err(Errno::last());
    }
    buf.truncate(r as usize);
    let fired = buf.iter().any(|e| e.u64 == MARK);
    buf.retain(|e| e.u64 != MARK);
    buf.truncate(max);
    Ok((buf, fired))
}

fn do_wait(h: &Host, epfd: c_int, out: *mut epoll_event, max: c_int, timeout: c_int, sigmask: *const sigset_t) -> KResult<i64> {
    if max <= 0 || max as usize > (i32::MAX as usize) / core::mem::size_of::<epoll_event>() {
        return Err(Errno::EINVAL);
    }
    let max = max as usize;
    if !plausible(out as usize, max * core::mem::size_of::<epoll_event>()) {
        return Err(Errno::EFAULT);
    }
    let deadline = (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    let spin = timeout != 0;
    let events = loop {
        let mut got = Vec::new();
        let mut pokes = None;
        let armed = with_epolls(|m| {
            let ep = m.get_mut(&epfd)?;
            let p = ep.waiter.pokes();
            let seen = p.load(Ordering::SeqCst);
            collect(h, ep, &mut got, max);
            if got.is_empty() && spin {
                pokes = Some((p, seen));
            }
            Some(())
        });
        // As a blocking call spins before its futex sleep: the peer is
        // usually about to answer, and a FIFO poke costs both sides
        // several system calls. Every watched socket's wake bumps the
        // waiter's poke count, armed or not. (Real fds are looked at when
        // the spin ends.)
        if let (Some(()), Some((p, seen))) = (armed, pokes) {
            if crate::net::sock::spin_until(|| p.load(Ordering::Acquire) != seen) {
                with_epolls(|m| {
                    if let Some(ep) = m.get_mut(&epfd) {
                        collect(h, ep, &mut got, max);
                    }
                });
            }
        }
        let armed = armed.and_then(|()| {
            with_epolls(|m| {
                let ep = m.get_mut(&epfd)?;
                if got.is_empty() {
                    ep.waiter.arm();
                    // A change between the scan and the arming is caught here.
                    collect(h, ep, &mut got, max);
                    if !got.is_empty() {
                        ep.waiter.disarm_after(false);
                    }
                }
                Some(got.is_empty())
            })
        });
        let Some(sleep) = armed else {
            // The emulated interests went away meanwhile.
            let (ev, _) = real_wait(epfd, max, timeout, sigmask)?;
            break ev;
        };
        if !sleep {
            let (mut real, _) = real_wait(epfd, max - got.len(), 0, sigmask)?;
            got.append(&mut real);
            break got;
        }
        // ep_poll: nothing available and a signal pending: EINTR.
        if let Some(e) = crate::signal::poll_interrupted() {
            with_epolls(|m| {
                if let Some(ep) = m.get_mut(&epfd) {
                    ep.waiter.disarm();
                }
            });
            return Err(e);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let wait = left.map_or(TICK, |l| l.min(TICK));
        let res = real_wait(epfd, max, wait.as_millis().max(if wait.is_zero() { 0 } else { 1 }) as c_int, sigmask);
        let fired = res.as_ref().map_or(true, |(_, f)| *f);
        with_epolls(|m| {
            if let Some(ep) = m.get_mut(&epfd) {
                ep.waiter.disarm_after(fired);
            }
        });
        let (real, fired) = res?;
        if !real.is_empty() {
            break real;
        }
        if left == Some(Duration::ZERO) || deadline.is_some_and(|d| Instant::now() >= d) {
            let mut got = Vec::new();
            with_epolls(|m| {
                if let Some(ep) = m.get_mut(&epfd) {
                    collect(h, ep, &mut got, max);
                }
            });
            break got;
        }
        if !fired {
            crate::task::reap_dead(h);
        }
    };
    let n = events.len();
    // SAFETY: plausibility checked; `n <= max` events fit the program's array.
    let bytes = unsafe { core::slice::from_raw_parts(events.as_ptr() as *const u8, n * core::mem::size_of::<epoll_event>()) };
    super::uaccess::copy_to_user(out as usize, bytes)?;
    Ok(n as i64)
}

fn has_emulated(epfd: c_int) -> bool {
    ANY.load(Ordering::Relaxed) && !reentrant() && with_epolls(|m| m.get(&epfd).is_some_and(|e| !e.interests.is_empty()))
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int) -> c_int {
    if !has_emulated(epfd) {
        return real::epoll_wait()(epfd, ev, max, timeout);
    }
    let Some(h) = super::host() else { return real::epoll_wait()(epfd, ev, max, timeout) };
    run("epoll_wait", || format!("{epfd}, {ev:p}, {max}, {timeout}"), || do_wait(h, epfd, ev, max, timeout, core::ptr::null()))
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(epfd: c_int, ev: *mut epoll_event, max: c_int, timeout: c_int, sigmask: *const sigset_t) -> c_int {
    if !has_emulated(epfd) {
        return real::epoll_pwait()(epfd, ev, max, timeout, sigmask);
    }
    let Some(h) = super::host() else { return real::epoll_pwait()(epfd, ev, max, timeout, sigmask) };
    run("epoll_pwait", || format!("{epfd}, {ev:p}, {max}, {timeout}"), || do_wait(h, epfd, ev, max, timeout, sigmask))
}
