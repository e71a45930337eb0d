//! `ShmMutex`: a lock that works across processes and survives a holder's death.
//!
//! The word holds 0 (free) or the holder's thread id, with `WAITERS` set
//! when somebody sleeps on it. Uncontended lock and unlock are one atomic
//! each, no system call. A waiter sleeps on the futex with a bounded time-out
//! and, when it expires, checks that the holder still runs: a holder killed
//! with SIGKILL while holding the lock would otherwise stop the whole host.
//! A zombie counts as gone (its parent, not yet reaping it, may be the one
//! waiting, as the kernel lets go of a killed task's locks at once).
//! The waiter then takes the lock over (the state it protects was left at a
//! consistent point in all but the narrowest windows; see ARCHITECTURE.md).

use super::futex;
use crate::sys;
use crossbeam::utils::Backoff;
use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const WAITERS: u32 = 1 << 31;
const TID_MASK: u32 = !WAITERS;
/// How long a waiter sleeps before it checks the holder is alive.
const OWNER_CHECK: Duration = Duration::from_millis(50);

/// A mutex over a `T` that lives in the shared mapping.
#[repr(C)]
pub struct ShmMutex<T> {
    word: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `word` (see `lock`).
unsafe impl<T: Send> Sync for ShmMutex<T> {}

impl<T> ShmMutex<T> {
    /// Takes the lock, sleeping while another thread (of any process) holds it.
    pub fn lock(&self) -> ShmGuard<'_, T> {
        self.acquire();
        ShmGuard { m: self }
    }

    fn acquire(&self) {
        let me = sys::gettid() & TID_MASK;
        if self.word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_slow(me);
        }
    }

    #[cold]
    fn lock_slow(&self, me: u32) {
        let backoff = Backoff::new();
        loop {
            let cur = self.word.load(Ordering::Relaxed);
            if cur == 0 {
                // Keep WAITERS set for whoever else sleeps: we cannot know there is nobody.
                if self.word.compare_exchange(0, me | WAITERS, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    return;
                }
                continue;
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            if cur & WAITERS == 0
                && self.word.compare_exchange(cur, cur | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_err()
            {
                continue;
            }
            if let Err(e) = futex::wait(&self.word, cur | WAITERS, Some(OWNER_CHECK)) {
                if e == crate::errno::Errno::ETIMEDOUT {
                    let owner = cur & TID_MASK;
                    if owner != 0 && !sys::task_running(owner) {
                        // The holder died holding the lock: take it over.
                        if self
                            .word
                            .compare_exchange(cur | WAITERS, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
                            .is_ok()
                        {
                            log::warn!("lock holder {owner} died; lock taken over by {me}");
                            return;
                        }
                    }
                }
            }
        }
    }

    fn unlock(&self) {
        if self.word.swap(0, Ordering::Release) & WAITERS != 0 {
            futex::wake(&self.word, 1);
        }
    }

    /// Access without the lock, for a process that is the only user
    /// (initialisation of a fresh mapping).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Proof that the lock is held; gives access to the protected data.
pub struct ShmGuard<'a, T> {
    m: &'a ShmMutex<T>,
}

impl<T> Deref for ShmGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock is held, so no other
        // thread of any process accesses `data`.
        unsafe { &*self.m.data.get() }
    }
}

impl<T> DerefMut for ShmGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this access unique.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<T> ShmGuard<'_, T> {
    /// Runs `f` with the lock let go, and takes it again before returning:
    /// the data may have changed meanwhile (the guard still gives access
    /// only while the lock is held, as `f` cannot reach it).
    pub fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.m.unlock();
        let r = f();
        self.m.acquire();
        r
    }
}

impl<T> Drop for ShmGuard<'_, T> {
    fn drop(&mut self) {
        self.m.unlock();
    }
}
