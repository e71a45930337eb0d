//! Poll waiters: how a thread sleeping in poll/select/epoll_wait is woken
//! when an emulated socket changes, from any process of the namespace.
//!
//! A sleeper in poll() must wake for real fds too, so it sleeps in the
//! kernel's own poll/epoll_wait with one extra fd: the read end of a FIFO
//! that belongs to its `Waiter` slot. A socket's wait queue lists the
//! waiters watching it (`WaitQueue::watchers`); `wake` pokes each armed one:
//! a byte written to its FIFO. An unarmed waiter (not asleep) costs the
//! waker one atomic swap and nothing else.
//!
//! The FIFO's name is derived from the namespace file and the slot, so any
//! process can open it; the slot table lives in the shared mapping.

use std::sync::atomic::{AtomicU32, Ordering};

/// How many poll waiters a namespace has at once (threads in poll/select,
/// epoll instances watching emulated sockets).
pub const MAX_WAITERS: usize = 4096;

#[repr(C)]
pub struct Waiter {
    /// The owning process's pid, 0 when free.
    pub pid: AtomicU32,
    /// Bumped on every poke; the sleeper compares before and after.
    pub seq: AtomicU32,
    /// 1 while the owner sleeps (or is about to) and wants a FIFO write.
    pub armed: AtomicU32,
    _pad: u32,
}

/// The owner of a slot no process owns (`reap` never matches it).
pub const SHARED_OWNER: u32 = u32::MAX;

/// The process-wide view of the waiter table and FIFO naming.
pub struct Waiters {
    table: &'static [Waiter],
    /// `<namespace file>.w` — FIFO `i` is this + `i`.
    prefix: String,
}

static WAITERS: once_cell::sync::OnceCell<Waiters> = once_cell::sync::OnceCell::new();

/// Installs the table (at attach).
pub fn install(table: &'static [Waiter], prefix: String) {
    let _ = WAITERS.set(Waiters { table, prefix });
}

pub fn get() -> Option<&'static Waiters> {
    WAITERS.get()
}

impl Waiters {
    pub fn slot(&self, id: u32) -> Option<&Waiter> {
        self.table.get(id as usize)
    }

    pub fn fifo_path(&self, id: u32) -> String {
        format!("{}{}\0", self.prefix, id)
    }

    /// Takes a free slot for this process and makes its FIFO.
    pub fn alloc(&self) -> Option<u32> {
        self.alloc_for(crate::sys::getpid())
    }

    /// Takes a slot owned by no process: a shared epoll instance's, which
    /// lives as long as the instance (`shm::epoll`), whoever made it.
    pub fn alloc_shared(&self) -> Option<u32> {
        self.alloc_for(SHARED_OWNER)
    }

    /// Frees a slot taken with `alloc_shared`.
    pub fn free_shared(&self, id: u32) {
        self.free_of(id, SHARED_OWNER);
    }

    fn alloc_for(&self, pid: u32) -> Option<u32> {
        for (i, w) in self.table.iter().enumerate() {
            if w.pid.load(Ordering::Relaxed) == 0 && w.pid.compare_exchange(0, pid, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                w.armed.store(0, Ordering::Release);
                let path = self.fifo_path(i as u32);
                // SAFETY: path is NUL-terminated; a stale FIFO of a dead owner is replaced.
                unsafe {
                    crate::syscall!(SYS_unlinkat, libc::AT_FDCWD, path.as_ptr(), 0).ok();
                    if crate::syscall!(SYS_mknodat, libc::AT_FDCWD, path.as_ptr(), libc::S_IFIFO | 0o600, 0).is_err() {
                        w.pid.store(0, Ordering::Release);
                        return None;
                    }
                }
                return Some(i as u32);
            }
        }
        None
    }

    /// Frees a slot of this process and its FIFO.
    pub fn free(&self, id: u32) {
        self.free_of(id, crate::sys::getpid());
    }

    /// Frees a slot if `pid` still owns it (a reused slot is left alone).
    fn free_of(&self, id: u32, pid: u32) {
        if let Some(w) = self.slot(id) {
            if w.pid.load(Ordering::Acquire) != pid {
                return;
            }
            let path = self.fifo_path(id);
            // SAFETY: path is NUL-terminated.
            let _ = unsafe { crate::syscall!(SYS_unlinkat, libc::AT_FDCWD, path.as_ptr(), 0) };
            w.armed.store(0, Ordering::Release);
            w.pid.store(0, Ordering::Release);
        }
    }

    /// Frees every slot of a dead process.
    pub fn reap(&self, pid: u32) {
        for (i, w) in self.table.iter().enumerate() {
            if w.pid.load(Ordering::Relaxed) == pid {
                self.free_of(i as u32, pid);
            }
        }
    }

    /// Wakes waiter `id` if it sleeps: a byte into its FIFO.
    pub fn poke(&self, id: u32) {
        let Some(w) = self.slot(id) else { return };
        w.seq.fetch_add(1, Ordering::SeqCst);
        if w.armed.swap(0, Ordering::SeqCst) == 0 {
            return;
        }
        let path = self.fifo_path(id);
        // SAFETY: path is NUL-terminated; the fd is closed right after one write.
        unsafe {
            if let Ok(fd) = crate::syscall!(SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) {
                let b = [1u8];
                let _ = crate::syscall!(SYS_write, fd, b.as_ptr(), 1);
                crate::sys::close_fd(fd as i32);
            }
        }
    }

    /// Pokes every armed waiter (a socket with more watchers than it can list).
    pub fn poke_all(&self) {
        for (i, w) in self.table.iter().enumerate() {
            if w.armed.load(Ordering::Relaxed) != 0 {
                self.poke(i as u32);
            }
        }
    }
}
