//! The FFI boundary: everything `unsafe` about being an LD_PRELOAD library.
//!
//! - `hooks`: the exported `extern "C"` functions that shadow libc's.
//! - `real`: the libc functions they shadow, found with `dlsym(RTLD_NEXT)`.
//! - `carrier`: real fds in flight (SCM_RIGHTS) in a kernel socketpair.
//! - `sendfile`: `sendfile`/`sendfile64` into an emulated socket.
//! - `signal`: `sigaction`/`signal` wrap the program's handlers so that an
//!   emulated blocking call knows a handler ran (EINTR or restart).
//! - `stdio`: `fdopen` on an emulated socket (a FILE whose I/O is emulated).
//! - `stat`: `fstat` & co. report an emulated socket as a socket.
//! - `uaccess`: copying from and to the program's memory with the kernel's
//!   EFAULT instead of a crash.
//!
//! Every hook is a thin wrapper: if the calling thread is already inside
//! the shim (the logger writes to stderr, std closes fds...), or the fd is
//! not an emulated socket, it calls the real function and nothing else.
//! Otherwise `run` sets the re-entrancy guard, runs the emulation inside
//! `catch_unwind` (a panic becomes -1/EIO: it must never hand an emulated
//! fd to the kernel, which is what redhook's wrapper would do), and turns
//! `Err(errno)` into `-1` + `errno`.

pub mod carrier;
pub mod epoll;
pub mod handoff;
pub mod mmsg;
pub mod hooks;
pub mod poll;
pub mod real;
pub mod sendfile;
pub mod signal;
pub mod stdio;
pub mod stat;
pub mod uaccess;

use crate::errno::{Errno, KResult};
use crate::shm::Host;
use crate::task::{self, FdEntry};
use once_cell::sync::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};

static HOST: OnceCell<Option<Host>> = OnceCell::new();
static READY: AtomicBool = AtomicBool::new(false);

/// The namespace this process emulates in (None: passthrough mode, or the
/// mapping failed, and then everything goes to the kernel).
pub fn host() -> Option<&'static Host> {
    if READY.load(Ordering::Acquire) {
        return HOST.get().and_then(|h| h.as_ref());
    }
    init()
}

/// The namespace, if this process has attached to one already (never
/// attaches: usable from the logger, which may run during `init`).
pub fn attached_host() -> Option<&'static Host> {
    HOST.get().and_then(|h| h.as_ref())
}

/// Attaches to the namespace (once per process image).
pub fn init() -> Option<&'static Host> {
    let _g = Guard::enter();
    let h = HOST.get_or_init(|| {
        if linked_into_main_program() {
            // The `netshim` command links this crate statically, hooks and
            // all: in its own process every call goes to libc untouched.
            return None;
        }
        crate::trace::init();
        let cfg = crate::config::get();
        if cfg.mode == crate::config::Mode::Passthrough {
            log::debug!(target: "netshim", "passthrough mode: all calls go to the kernel");
            return None;
        }
        match Host::attach(&cfg.shm_dir, &cfg.ns) {
            Ok(h) => {
                crate::net::with_host(&h, |g| task::attach(&h, g)).ok()?;
                crate::pcap::init();
                task::reap_dead(&h);
                Some(h)
            }
            Err(e) => {
                log::error!(target: "netshim", "cannot attach namespace {:?}: {e}; using the kernel", cfg.ns);
                None
            }
        }
    });
    READY.store(true, Ordering::Release);
    h.as_ref()
}

/// Whether this copy of the shim's code is part of the main program (an
/// executable linked with the rlib, such as the `netshim` command) rather
/// than the preloaded shared library. glibc visits the main program first
/// in `dl_iterate_phdr`; the check is whether this function lies in one of
/// its loaded segments.
fn linked_into_main_program() -> bool {
    extern "C" fn first_object(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: glibc passes a valid dl_phdr_info whose dlpi_phdr array has
        // dlpi_phnum entries, and `data` is the &mut (usize, bool) below.
        unsafe {
            let info = &*info;
            let out = &mut *(data as *mut (usize, bool));
            let phdrs = core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
            out.1 = phdrs.iter().any(|ph| {
                let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
                ph.p_type == libc::PT_LOAD && (start..start + ph.p_memsz as usize).contains(&out.0)
            });
        }
        1 // the main program only
    }
    let mut probe: (usize, bool) = (linked_into_main_program as fn() -> bool as usize, false);
    // SAFETY: the callback only reads what glibc hands it and writes `probe`,
    // which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(first_object), &mut probe as *mut (usize, bool) as *mut libc::c_void) };
    probe.1
}

/// Marks the calling thread as inside the shim for its lifetime.
pub struct Guard {
    was: bool,
}

impl Guard {
    pub fn enter() -> Guard {
        // The flag lives in `signal`'s thread-local (one access per call).
        let was = crate::signal::replace_in_shim(true);
        Guard { was }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        crate::signal::replace_in_shim(self.was);
    }
}

/// Whether the calling thread is already inside the shim.
#[inline]
pub fn reentrant() -> bool {
    crate::signal::in_shim().unwrap_or(true)
}

/// The emulated socket behind `fd`, if the call should be emulated.
#[inline]
pub fn emulated(fd: i32) -> Option<(&'static Host, FdEntry)> {
    // Not attached yet: the call comes from another library's constructor,
    // run before ours. No fd of this image is known yet, and attaching here
    // would allocate inside the caller, which may be the allocator itself
    // (jemalloc reads /proc with syscall(SYS_read) under its init lock:
    // redis-server deadlocked on its own malloc mutex).
    if !READY.load(Ordering::Acquire) {
        return None;
    }
    let h = attached_host()?;
    let e = task::lookup(h, fd)?;
    not_reentrant(h, e)
}

/// The shim's own calls go to the kernel. Tested after the fd table (plain
/// atomic loads) and out of line, so the read or write of an fd that is no
/// emulated socket, the passthrough case, costs no thread-local access
/// (inlined, the compiler computes the thread-local address up front, a
/// `__tls_get_addr` call in a shared library, on every call).
#[inline(never)]
fn not_reentrant(h: &'static Host, e: FdEntry) -> Option<(&'static Host, FdEntry)> {
    if reentrant() {
        return None;
    }
    Some((h, e))
}

/// Whether emulation is on for new sockets (not re-entrant, not passthrough).
#[inline]
pub fn emulating() -> Option<&'static Host> {
    if reentrant() {
        return None;
    }
    host()
}

/// A C return type: how Ok(v) and Err(e) become the value a libc function returns.
pub trait CRet: Copy {
    fn from_ok(v: i64) -> Self;
    fn minus_one() -> Self;
    fn as_i64(self) -> i64;
}

impl CRet for i32 {
    fn from_ok(v: i64) -> Self {
        v as i32
    }
    fn minus_one() -> Self {
        -1
    }
    fn as_i64(self) -> i64 {
        self as i64
    }
}

impl CRet for isize {
    fn from_ok(v: i64) -> Self {
        v as isize
    }
    fn minus_one() -> Self {
        -1
    }
    fn as_i64(self) -> i64 {
        self as i64
    }
}

/// Runs an emulated call: guard, panic fence, errno, trace line. Out of
/// line, so that a hook's passthrough path stays a few loads and a jump
/// (no stack frame for the emulated path's state).
#[inline(never)]
pub fn run<R: CRet>(name: &str, args: impl FnOnce() -> String, f: impl FnOnce() -> KResult<i64>) -> R {
    // Guard::enter + signal::enter_call, in one thread-local access.
    let _g = Guard { was: crate::signal::enter_shim_call() };
    // Tracing off (one load and a branch), the call is all there is: the
    // argument formatter is not kept alive across it.
    let r = if crate::trace::any_on() { run_traced(name, args, f) } else { fenced(name, f) };
    match r {
        Ok(v) => R::from_ok(v),
        Err(e) => {
            e.set();
            R::minus_one()
        }
    }
}

/// The call inside the panic fence.
#[inline(always)]
fn fenced(name: &str, f: impl FnOnce() -> KResult<i64>) -> KResult<i64> {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        log::error!(target: "netshim", "panic inside {name}; returning EIO");
        Err(Errno::EIO)
    });
    // A call that cannot hand its socket to the kernel (sendmmsg) says what
    // NETSHIM_NONLOCAL=refuse would.
    r.map_err(|e| if e == Errno::HANDOFF { Errno::ENETUNREACH } else { e })
}

/// `run` with tracing on: a fresh kernel path, the call, its line.
#[cold]
#[inline(never)]
fn run_traced(name: &str, args: impl FnOnce() -> String, f: impl FnOnce() -> KResult<i64>) -> KResult<i64> {
    crate::trace::clear_path();
    let r = fenced(name, f);
    if crate::trace::calls_enabled() {
        trace_call(name, args, &r);
    }
    r
}

/// `run`'s trace line, out of line: a call with tracing off only pays the
/// level check.
#[cold]
#[inline(never)]
fn trace_call(name: &str, args: impl FnOnce() -> String, r: &KResult<i64>) {
    let (v, e) = match *r {
        Ok(v) => (v, None),
        Err(e) => (-1, Some(e)),
    };
    crate::trace::set_ret(v);
    crate::trace::call(name, &args(), v, e, true);
}

/// Whether `fd` is an open fd of this process (a real one: for SCM_RIGHTS).
pub fn real_fd_valid(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the fd table.
    unsafe { crate::syscall!(SYS_fcntl, fd, libc::F_GETFD) }.is_ok()
}

/// Traces a passthrough call when tracing is on (passthrough mode keeps the trace).
pub fn trace_real<R: CRet>(name: &str, args: impl FnOnce() -> String, r: R) -> R {
    if crate::trace::calls_enabled() && !reentrant() {
        let _g = Guard::enter();
        let e = (r.as_i64() < 0).then(Errno::last);
        crate::trace::set_ret(r.as_i64());
        crate::trace::call(name, &args(), r.as_i64(), e, false);
        if let Some(e) = e {
            e.set();
        }
    }
    r
}
