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

thread_local! {
    /// Handlers run on this thread: all of them, and those without SA_RESTART.
    static RAN: Cell<u32> = const { Cell::new(0) };
    static RAN_NORESTART: Cell<u32> = const { Cell::new(0) };
    /// The counts when the current emulated call began.
    static BASE: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

/// A handler is about to run on this thread (called from the wrapper, in
/// signal context: only thread-local cells, no allocation, no lock).
pub fn note_delivery(restart: bool) {
    RAN.with(|c| c.set(c.get().wrapping_add(1)));
    if !restart {
        RAN_NORESTART.with(|c| c.set(c.get().wrapping_add(1)));
    }
}

fn counts() -> (u32, u32) {
    (RAN.with(Cell::get), RAN_NORESTART.with(Cell::get))
}

/// An emulated call begins: handlers that ran before it do not interrupt it.
#[inline]
pub fn enter_call() {
    BASE.with(|b| b.set(counts()));
}

/// For a sleeping socket call (`sock_intr_errno`): `Some(EINTR)` when a
/// handler ran since the call began and the kernel would not restart the
/// call (the handler lacks SA_RESTART, or the socket has a timeout, which
/// makes the kernel return EINTR rather than ERESTARTSYS). When every
/// handler that ran asked for a restart, the call goes on as the restarted
/// call would: `None`, and those deliveries are forgotten.
pub fn sock_interrupted(has_timeout: bool) -> Option<Errno> {
    let now = counts();
    let base = BASE.with(Cell::get);
    if now == base {
        return None;
    }
    if now.1 != base.1 || has_timeout {
        return Some(Errno::EINTR);
    }
    BASE.with(|b| b.set(now));
    None
}

/// For poll, select and epoll_wait (`-ERESTARTNOHAND`): any handler that ran
/// since the call began interrupts it.
pub fn poll_interrupted() -> Option<Errno> {
    (counts() != BASE.with(Cell::get)).then_some(Errno::EINTR)
}
