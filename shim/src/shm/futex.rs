//! Futex wait and wake on words that live in the shared mapping.
//!
//! The words are shared between processes, so the calls use the shared
//! (non-PRIVATE) futex operations: the kernel keys them by the backing page,
//! whatever address each process mapped it at.

use crate::errno::{Errno, KResult};
use crate::syscall;
use core::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `*word == expected`, at most `timeout` (None: no limit).
/// Returns Ok on a wake-up or a changed value, Err(EAGAIN) if the value had
/// already changed, Err(ETIMEDOUT) on time-out, Err(EINTR) on a signal.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> KResult<()> {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call and
    // `tsp` is null or points at a timespec on this stack frame.
    let r = unsafe { syscall!(SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, tsp, 0, 0) };
    match r {
        Ok(_) => Ok(()),
        Err(e) if e == Errno::EAGAIN => Ok(()),
        Err(e) => Err(e),
    }
}

/// Wakes up to `n` sleepers on `word`.
pub fn wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a valid, aligned u32; FUTEX_WAKE does not access it.
    let _ = unsafe { syscall!(SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n, 0, 0, 0) };
}
