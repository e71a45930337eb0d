//! poll, ppoll, select, pselect (and their FORTIFY twins) over sets that mix
//! emulated sockets and real fds.
//!
//! Readiness of an emulated socket is its `ops->poll` mask. When nothing is
//! ready the thread sleeps in the kernel's own ppoll on the real fds plus the
//! FIFO of its poll waiter (shm::waiter), after adding the waiter to each
//! emulated socket's watchers: a state change on any of them writes a byte
//! to the FIFO. So there is no busy-waiting, signals and sigmasks behave as
//! the kernel's ppoll makes them, and a wake-up crosses processes.

use super::uaccess::plausible;
use super::{real, reentrant, run};
use crate::errno::{Errno, KResult};
use crate::net::{self, sock::{SockId, Watch}};
use crate::shm::{waiter, Host};
use libc::{c_int, c_long, nfds_t, pollfd, sigset_t, timespec};
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long a sleeper goes before it looks for dead processes.
pub const TICK: Duration = crate::task::REAP_TICK;

/// A poll waiter slot and the read end of its FIFO.
pub struct PollWaiter {
    pub id: u32,
    fifo: c_int,
    ino: u64,
}

impl PollWaiter {
    pub fn new() -> Option<PollWaiter> {
        let w = waiter::get()?;
        let id = w.alloc()?;
        let path = w.fifo_path(id);
        // SAFETY: path is NUL-terminated; O_RDWR on a FIFO never blocks on Linux.
        let fd = unsafe { crate::syscall!(SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC) };
        let Ok(fd) = fd else {
            w.free(id);
            return None;
        };
        let fd = high_fd(fd as c_int);
        let ino = crate::task::placeholder_ino(fd).unwrap_or(0);
        Some(PollWaiter { id, fifo: fd, ino })
    }

    /// The FIFO fd, reopened if the program closed or replaced it.
    pub fn fd(&mut self) -> c_int {
        if crate::task::placeholder_ino(self.fifo) != Some(self.ino) {
            if let Some(w) = waiter::get() {
                let path = w.fifo_path(self.id);
                // SAFETY: as in `new`.
                if let Ok(fd) = unsafe {
                    crate::syscall!(SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC)
                } {
                    self.fifo = high_fd(fd as c_int);
                    self.ino = crate::task::placeholder_ino(self.fifo).unwrap_or(0);
                }
            }
        }
        self.fifo
    }

    fn slot(&self) -> &'static waiter::Waiter {
        waiter::get().and_then(|w| w.slot(self.id)).expect("allocated slot")
    }

    /// Arms the waiter: from here a watcher's change writes to the FIFO.
    pub fn arm(&self) {
        self.slot().armed.store(1, Ordering::SeqCst);
    }

    /// The count of pokes this waiter got, armed or not: a watcher's
    /// socket changed when it moves.
    pub fn pokes(&self) -> &'static core::sync::atomic::AtomicU32 {
        &self.slot().seq
    }

    /// `disarm` that drains the FIFO only when a byte may be in it: a poke
    /// took the armed flag (its byte is written or on its way), or the
    /// FIFO was seen readable (`fired`: a byte of an earlier poke that
    /// landed after that drain). Saves the fstat and read of every sleep
    /// that nobody's poke ended.
    pub fn disarm_after(&mut self, fired: bool) {
        let poked = self.slot().armed.swap(0, Ordering::SeqCst) == 0;
        if poked || fired {
            self.disarm();
        }
    }

    pub fn disarm(&mut self) {
        self.slot().armed.store(0, Ordering::SeqCst);
        let fd = self.fd();
        let mut buf = [0u8; 256];
        // SAFETY: drains the non-blocking FIFO into a stack buffer.
        while let Ok(n) = unsafe { crate::syscall!(SYS_read, fd, buf.as_mut_ptr(), buf.len()) } {
            if n < buf.len() {
                break;
            }
        }
    }
}

impl Drop for PollWaiter {
    fn drop(&mut self) {
        if crate::task::placeholder_ino(self.fifo) == Some(self.ino) {
            crate::sys::close_fd(self.fifo);
        }
        if let Some(w) = waiter::get() {
            w.free(self.id);
        }
    }
}

/// Moves an internal fd out of the way of the program's low fd numbers.
pub fn high_fd(fd: c_int) -> c_int {
    // SAFETY: F_DUPFD_CLOEXEC only creates a new fd; the old one is closed after.
    match unsafe { crate::syscall!(SYS_fcntl, fd, libc::F_DUPFD_CLOEXEC, 900) } {
        Ok(n) => {
            crate::sys::close_fd(fd);
            n as c_int
        }
        Err(_) => fd,
    }
}

thread_local! {
    static WAITER: RefCell<Option<PollWaiter>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's poll waiter (made on first use).
fn with_waiter<T>(f: impl FnOnce(&mut PollWaiter) -> KResult<T>) -> KResult<T> {
    WAITER.with(|cell| {
        let mut w = cell.borrow_mut();
        if w.is_none() {
            *w = PollWaiter::new();
        }
        match w.as_mut() {
            Some(w) => f(w),
            None => Err(Errno::ENOMEM),
        }
    })
}

/// The poll mask of an emulated socket filtered as do_pollfd filters it.
fn sock_revents(h: &Host, s: SockId, events: i16) -> i16 {
    let mask = net::sock_poll(h, s) as i16;
    mask & (events | libc::POLLERR | libc::POLLHUP)
}

/// One entry of a poll set.
enum Slot {
    Emu(SockId),
    Real,
    Ignore,
}

fn classify(h: &Host, fds: &[pollfd]) -> Vec<Slot> {
    fds.iter()
        .map(|p| {
            if p.fd < 0 {
                Slot::Ignore
            } else {
                match crate::task::lookup(h, p.fd) {
                    Some(e) => Slot::Emu(e.sock),
                    None => Slot::Real,
                }
            }
        })
        .collect()
}

/// Fills revents of the emulated entries; returns how many are ready.
fn scan_emulated(h: &Host, fds: &mut [pollfd], slots: &[Slot]) -> usize {
    let mut n = 0;
    for (p, s) in fds.iter_mut().zip(slots) {
        if let Slot::Emu(id) = s {
            p.revents = sock_revents(h, *id, p.events);
            if p.revents != 0 {
                n += 1;
            }
        }
    }
    n
}

fn ts_of(d: Duration) -> timespec {
    timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as libc::c_long }
}

/// The real ppoll on the real entries plus (optionally) the FIFO; copies
/// revents back; returns the number of real entries ready and whether the
/// FIFO fired.
fn real_ppoll(fds: &mut [pollfd], slots: &[Slot], fifo: Option<c_int>, wait: Option<Duration>, sigmask: *const sigset_t) -> KResult<(usize, bool)> {
    let mut arr: Vec<pollfd> = Vec::with_capacity(fds.len() + 1);
    let mut idx = Vec::with_capacity(fds.len());
    for (i, (p, s)) in fds.iter().zip(slots).enumerate() {
        match s {
            Slot::Real => {
                arr.push(pollfd { fd: p.fd, events: p.events, revents: 0 });
                idx.push(i);
            }
            Slot::Ignore => {}
            Slot::Emu(_) => {}
        }
    }
    if let Some(f) = fifo {
        arr.push(pollfd { fd: f, events: libc::POLLIN, revents: 0 });
    }
    if arr.is_empty() && wait == Some(Duration::ZERO) {
        return Ok((0, false));
    }
    let ts = wait.map(ts_of);
    let tsp = ts.as_ref().map_or(core::ptr::null(), |t| t as *const timespec);
    // SAFETY: arr is a valid pollfd array of its length; tsp/sigmask are null or valid.
    let r = unsafe { real::ppoll()(arr.as_mut_ptr(), arr.len() as nfds_t, tsp, sigmask) };
    if r < 0 {
        return Err(Errno::last());
    }
    let mut n = 0;
    for (k, &i) in idx.iter().enumerate() {
        fds[i].revents = arr[k].revents;
        if arr[k].revents != 0 {
            n += 1;
        }
    }
    let fired = fifo.is_some() && arr.last().is_some_and(|p| p.revents != 0);
    Ok((n, fired))
}

/// `do_sys_poll` for a set with emulated entries.
pub fn do_poll(h: &Host, fds: &mut [pollfd], timeout: Option<Duration>, sigmask: *const sigset_t) -> KResult<i64> {
    let slots = classify(h, fds);
    for p in fds.iter_mut() {
        p.revents = 0;
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let emu = scan_emulated(h, fds, &slots);
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if emu > 0 || left == Some(Duration::ZERO) {
            let (real, _) = real_ppoll(fds, &slots, None, Some(Duration::ZERO), sigmask)?;
            return Ok((emu + real) as i64);
        }
        // do_poll: nothing ready, a handler ran: -ERESTARTNOHAND, i.e. EINTR.
        if let Some(e) = crate::signal::poll_interrupted() {
            return Err(e);
        }
        let ids: Vec<SockId> = slots.iter().filter_map(|s| if let Slot::Emu(id) = s { Some(*id) } else { None }).collect();
        let r = with_waiter(|w| {
            let watches: Vec<Watch> = ids.iter().map(|id| h.shared()[id.idx()].wq.watch(w.id, 0)).collect();
            w.arm();
            let ready = scan_emulated(h, fds, &slots);
            let res = if ready > 0 {
                Ok((0, true))
            } else {
                let wait = left.map_or(TICK, |l| l.min(TICK));
                let fifo = w.fd();
                real_ppoll(fds, &slots, Some(fifo), Some(wait), sigmask)
            };
            w.disarm();
            for (id, how) in ids.iter().zip(watches) {
                h.shared()[id.idx()].wq.unwatch(w.id, 0, how);
            }
            res
        })?;
        let (real, fired) = r;
        if real > 0 {
            let emu = scan_emulated(h, fds, &slots);
            return Ok((emu + real) as i64);
        }
        if !fired {
            crate::task::reap_dead(h);
        }
    }
}

unsafe fn poll_entry(fds: *mut pollfd, nfds: nfds_t, timeout: Option<Duration>, sigmask: *const sigset_t, name: &str) -> Option<c_int> {
    if reentrant() || nfds == 0 || nfds > 1 << 20 || !plausible(fds as usize, nfds as usize * 8) {
        return None;
    }
    let h = super::host()?;
    // SAFETY: plausibility checked above; the program owns the array for the call.
    let set = unsafe { core::slice::from_raw_parts_mut(fds, nfds as usize) };
    if !set.iter().any(|p| p.fd >= 0 && crate::task::lookup(h, p.fd).is_some()) {
        return None;
    }
    Some(run(name, || format!("{fds:p}, {nfds}, {timeout:?}"), || do_poll(h, set, timeout, sigmask)))
}

fn ms(timeout: c_int) -> Option<Duration> {
    (timeout >= 0).then(|| Duration::from_millis(timeout as u64))
}

#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    poll_entry(fds, nfds, ms(timeout), core::ptr::null(), "poll").unwrap_or_else(|| real::poll()(fds, nfds, timeout))
}

#[no_mangle]
pub unsafe extern "C" fn __poll_chk(fds: *mut pollfd, nfds: nfds_t, timeout: c_int, fdslen: libc::size_t) -> c_int {
    if fdslen / core::mem::size_of::<pollfd>() < nfds as usize {
        return real::__poll_chk()(fds, nfds, timeout, fdslen);
    }
    poll(fds, nfds, timeout)
}

unsafe fn ts_dur(ts: *const timespec) -> Result<Option<Duration>, Errno> {
    if ts.is_null() {
        return Ok(None);
    }
    let b = super::uaccess::copy_from_user(ts as usize, 16)?;
    let sec = i64::from_ne_bytes(b[0..8].try_into().unwrap());
    let nsec = i64::from_ne_bytes(b[8..16].try_into().unwrap());
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(Duration::new(sec as u64, nsec as u32)))
}

#[no_mangle]
pub unsafe extern "C" fn ppoll(fds: *mut pollfd, nfds: nfds_t, ts: *const timespec, sigmask: *const sigset_t) -> c_int {
    let Ok(t) = ts_dur(ts) else { return real::ppoll()(fds, nfds, ts, sigmask) };
    poll_entry(fds, nfds, t, sigmask, "ppoll").unwrap_or_else(|| real::ppoll()(fds, nfds, ts, sigmask))
}

// ----- select ------------------------------------------------------------------

const NFDBITS: usize = 64;

fn fd_isset(set: *const libc::fd_set, fd: usize) -> bool {
    if set.is_null() {
        return false;
    }
    // SAFETY: fd < nfds <= FD_SETSIZE, checked by the caller; fd_set is an array of u64 words.
    unsafe { (*(set as *const [u64; 16]))[fd / NFDBITS] & (1 << (fd % NFDBITS)) != 0 }
}

fn fd_set_bit(set: *mut libc::fd_set, fd: usize, on: bool) {
    if set.is_null() {
        return;
    }
    // SAFETY: as in fd_isset.
    unsafe {
        let w = &mut (*(set as *mut [u64; 16]))[fd / NFDBITS];
        if on {
            *w |= 1 << (fd % NFDBITS)
        } else {
            *w &= !(1 << (fd % NFDBITS))
        }
    }
}

const POLLIN_SET: i16 = libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLIN | libc::POLLHUP | libc::POLLERR;
const POLLOUT_SET: i16 = libc::POLLWRBAND | libc::POLLWRNORM | libc::POLLOUT | libc::POLLERR;
const POLLEX_SET: i16 = libc::POLLPRI;

/// Whether a select call has emulated fds in its sets (then the shim runs it).
fn select_applies(n: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, x: *mut libc::fd_set) -> Option<&'static Host> {
    if reentrant() || !(0..=1024).contains(&n) {
        return None;
    }
    let h = super::host()?;
    let n = n as usize;
    for set in [r, w, x] {
        if !set.is_null() && !plausible(set as usize, n.div_ceil(8)) {
            return None;
        }
    }
    (0..n)
        .any(|fd| (fd_isset(r, fd) || fd_isset(w, fd) || fd_isset(x, fd)) && crate::task::lookup(h, fd as c_int).is_some())
        .then_some(h)
}

/// select on top of do_poll, with the kernel's select masks.
fn do_select(
    h: &Host,
    n: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    x: *mut libc::fd_set,
    timeout: Option<Duration>,
    sigmask: *const sigset_t,
) -> KResult<i64> {
    let fds: Vec<usize> = (0..n as usize).filter(|&fd| fd_isset(r, fd) || fd_isset(w, fd) || fd_isset(x, fd)).collect();
    let mut pfds: Vec<pollfd> = fds
        .iter()
        .map(|&fd| {
            let mut ev = 0;
            if fd_isset(r, fd) {
                ev |= libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND;
            }
            if fd_isset(w, fd) {
                ev |= libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
            }
            if fd_isset(x, fd) {
                ev |= libc::POLLPRI;
            }
            pollfd { fd: fd as c_int, events: ev, revents: 0 }
        })
        .collect();
    do_poll(h, &mut pfds, timeout, sigmask)?;
    if pfds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        return Err(Errno::EBADF);
    }
    let mut count = 0;
    for p in &pfds {
        let fd = p.fd as usize;
        let rd = fd_isset(r, fd) && p.revents & POLLIN_SET != 0;
        let wr = fd_isset(w, fd) && p.revents & POLLOUT_SET != 0;
        let ex = fd_isset(x, fd) && p.revents & POLLEX_SET != 0;
        fd_set_bit(r, fd, rd);
        fd_set_bit(w, fd, wr);
        fd_set_bit(x, fd, ex);
        count += rd as i64 + wr as i64 + ex as i64;
    }
    Ok(count)
}

#[no_mangle]
pub unsafe extern "C" fn select(n: c_int, r: *mut libc::fd_set, w: *mut libc::fd_set, x: *mut libc::fd_set, tv: *mut libc::timeval) -> c_int {
    let t = if tv.is_null() {
        None
    } else {
        match super::uaccess::copy_from_user(tv as usize, 16) {
            Ok(b) => {
                let sec = i64::from_ne_bytes(b[0..8].try_into().unwrap());
                let usec = i64::from_ne_bytes(b[8..16].try_into().unwrap());
                if sec < 0 || usec < 0 {
                    return real::select()(n, r, w, x, tv);
                }
                Some(Duration::from_secs(sec as u64) + Duration::from_micros(usec as u64))
            }
            Err(_) => return real::select()(n, r, w, x, tv),
        }
    };
    let start = Instant::now();
    match select_applies(n, r, w, x) {
        None => real::select()(n, r, w, x, tv),
        Some(h) => {
            let res: c_int = run("select", || format!("{n}, {r:p}, {w:p}, {x:p}, {t:?}"), || do_select(h, n, r, w, x, t, core::ptr::null()));
            if let Some(t) = t {
                // Linux writes back the time not slept.
                let left = t.saturating_sub(start.elapsed());
                let _ = super::uaccess::copy_to_user(tv as usize, &{
                    let mut b = [0u8; 16];
                    b[..8].copy_from_slice(&(left.as_secs() as i64).to_ne_bytes());
                    b[8..].copy_from_slice(&(left.subsec_micros() as i64).to_ne_bytes());
                    b
                });
            }
            res
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn pselect(
    n: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    x: *mut libc::fd_set,
    ts: *const timespec,
    sigmask: *const sigset_t,
) -> c_int {
    let Ok(t) = ts_dur(ts) else { return real::pselect()(n, r, w, x, ts, sigmask) };
    match select_applies(n, r, w, x) {
        None => real::pselect()(n, r, w, x, ts, sigmask),
        Some(h) => run("pselect", || format!("{n}"), || do_select(h, n, r, w, x, t, sigmask)),
    }
}

/// FD_SET/FD_ISSET's FORTIFY check: emulated sockets have ordinary small
/// fd numbers, so this is glibc's own check, kept visible here.
#[no_mangle]
pub unsafe extern "C" fn __fdelt_chk(d: c_long) -> c_long {
    if !(0..1024).contains(&d) {
        return real::__fdelt_chk()(d);
    }
    d / NFDBITS as c_long
}
