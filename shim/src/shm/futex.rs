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

/// Like `wait` for `timeout`, but the way an untimed socket sleep must
/// end on a signal: futex_waitv with an absolute CLOCK_MONOTONIC deadline
/// fails with -ERESTARTSYS, so after a handler installed with SA_RESTART
/// the kernel itself restarts it (same deadline) and only a handler without
/// SA_RESTART gives EINTR, as sock_intr_errno(MAX_SCHEDULE_TIMEOUT) does.
/// (FUTEX_WAIT with a timeout is never restarted after a handler.)
/// Kernels before 5.16 lack futex_waitv: there it is `wait`.
pub fn wait_restartable(word: &AtomicU32, expected: u32, timeout: Duration) -> KResult<()> {
    /// struct futex_waitv (include/uapi/linux/futex.h).
    #[repr(C)]
    struct FutexWaitv {
        val: u64,
        uaddr: u64,
        flags: u32,
        reserved: u32,
    }
    const FUTEX2_SIZE_U32: u32 = 2;
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a timespec on this stack frame.
    if unsafe { syscall!(SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut ts as *mut libc::timespec) }.is_err() {
        return wait(word, expected, Some(timeout));
    }
    let ns = ts.tv_nsec as u64 + timeout.subsec_nanos() as u64;
    ts.tv_sec += timeout.as_secs() as libc::time_t + (ns / 1_000_000_000) as libc::time_t;
    ts.tv_nsec = (ns % 1_000_000_000) as libc::c_long;
    let w = FutexWaitv { val: expected as u64, uaddr: word.as_ptr() as u64, flags: FUTEX2_SIZE_U32, reserved: 0 };
    // SAFETY: `w` describes one valid, aligned u32 that outlives the call;
    // `ts` is a timespec on this stack frame.
    let r = unsafe {
        syscall!(SYS_futex_waitv, &w as *const FutexWaitv, 1, 0, &ts as *const libc::timespec, libc::CLOCK_MONOTONIC)
    };
    match r {
        Ok(_) => Ok(()),
        Err(e) if e == Errno::EAGAIN => Ok(()),
        Err(e) if e == Errno::ENOSYS => wait(word, expected, Some(timeout)),
        Err(e) => Err(e),
    }
}

/// Wakes up to `n` sleepers on `word`.
pub fn wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a valid, aligned u32; FUTEX_WAKE does not access it.
    let _ = unsafe { syscall!(SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n, 0, 0, 0) };
}
