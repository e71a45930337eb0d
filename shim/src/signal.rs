//! Whether a blocking call was interrupted by a signal handler, and whether
//! the kernel would restart it.
//!
//! The kernel decides this on its way back to user space: a sleeping call
//! returns `-ERESTARTSYS` when `signal_pending()` (net/core/sock.c
//! `sock_intr_errno`: `-EINTR` instead when the socket has a timeout), and
//! the signal code (arch/x86/kernel/signal.c `handle_signal`) turns that into
//! a restart if the handler has SA_RESTART, into EINTR otherwise; poll,
//! select and epoll_wait use `-ERESTARTNOHAND`/`-EINTR`, which a handler
//! always turns into EINTR. An emulated call sleeps in user space (spinning,
//! or on a futex with short ticks), so a signal can be delivered while it is
//! not inside any system call. `ffi::signal` therefore wraps every handler
//! the program installs: the wrapper counts deliveries on the thread before
//! it calls the program's handler, and a blocking call compares the counts
//! with those it saw on entry.

use crate::errno::Errno;
use std::cell::Cell;

/// This thread's counts, in one thread-local (in the preloaded library
/// each thread-local is a `__tls_get_addr` call: one per access, not three).
/// It also holds `ffi::Guard`'s re-entrancy flag, which every emulated call
/// sets as it records its base counts: the call's entry is one access.
struct SigCounts {
    /// The thread is inside the shim (`ffi::Guard`).
    in_shim: Cell<bool>,
    /// Handlers run on this thread: all of them, and those without SA_RESTART.
    ran: Cell<u32>,
    ran_norestart: Cell<u32>,
    /// The counts when the current emulated call began.
    base: Cell<(u32, u32)>,
}

impl SigCounts {
    fn counts(&self) -> (u32, u32) {
        (self.ran.get(), self.ran_norestart.get())
    }
}

thread_local! {
    static SIG: SigCounts = const { SigCounts { in_shim: Cell::new(false), ran: Cell::new(0), ran_norestart: Cell::new(0), base: Cell::new((0, 0)) } };
}

/// A handler is about to run on this thread (called from the wrapper, in
/// signal context: only thread-local cells, no allocation, no lock).
pub fn note_delivery(restart: bool) {
    SIG.with(|s| {
        s.ran.set(s.ran.get().wrapping_add(1));
        if !restart {
            s.ran_norestart.set(s.ran_norestart.get().wrapping_add(1));
        }
    });
}

/// An emulated call begins: handlers that ran before it do not interrupt it.
#[inline]
pub fn enter_call() {
    SIG.with(|s| s.base.set(s.counts()));
}

/// `ffi::run`'s entry: marks the thread inside the shim and begins the
/// call (`enter_call`); returns whether it was inside already.
#[inline]
pub fn enter_shim_call() -> bool {
    SIG.with(|s| {
        s.base.set(s.counts());
        s.in_shim.replace(true)
    })
}

/// Sets the re-entrancy flag; returns what it was.
#[inline]
pub fn replace_in_shim(v: bool) -> bool {
    SIG.with(|s| s.in_shim.replace(v))
}

/// The re-entrancy flag (None: the thread's TLS is gone).
#[inline]
pub fn in_shim() -> Option<bool> {
    SIG.try_with(|s| s.in_shim.get()).ok()
}

/// For a sleeping socket call (`sock_intr_errno`): `Some(EINTR)` when a
/// handler ran since the call began and the kernel would not restart the
/// call (the handler lacks SA_RESTART, or the socket has a timeout, which
/// makes the kernel return EINTR rather than ERESTARTSYS). When every
/// handler that ran asked for a restart, the call goes on as the restarted
/// call would: `None`, and those deliveries are forgotten.
pub fn sock_interrupted(has_timeout: bool) -> Option<Errno> {
    SIG.with(|s| {
        let now = s.counts();
        let base = s.base.get();
        if now == base {
            return None;
        }
        if now.1 != base.1 || has_timeout {
            return Some(Errno::EINTR);
        }
        s.base.set(now);
        None
    })
}

/// For poll, select and epoll_wait (`-ERESTARTNOHAND`): any handler that ran
/// since the call began interrupts it.
pub fn poll_interrupted() -> Option<Errno> {
    SIG.with(|s| s.counts() != s.base.get()).then_some(Errno::EINTR)
}
