//! Raw system calls for the shim's own use.
//!
//! The shim exports `close`, `read`, `fcntl`, `syscall`, ... so a call to
//! libc's versions from inside the shim would come straight back into the
//! shim. Everything the shim asks of the kernel for itself therefore goes
//! through `syscall!`, which issues the `syscall` instruction directly and
//! turns a negative return into an `Errno`. The real libc functions (with
//! glibc's cancellation points and wrappers) are kept for the programs' own
//! passthrough calls, in `ffi::real`.

use crate::errno::{Errno, KResult};

/// Issues system call `nr` with up to six arguments; returns the raw value.
///
/// # Safety
/// The caller vouches that the arguments are what syscall `nr` expects
/// (pointers valid for the access the kernel makes).
#[inline(always)]
pub unsafe fn raw6(nr: libc::c_long, a: [usize; 6]) -> isize {
    let ret: isize;
    #[cfg(target_arch = "x86_64")]
    core::arch::asm!(
        "syscall",
        inlateout("rax") nr as isize => ret,
        in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
        in("r10") a[3], in("r8") a[4], in("r9") a[5],
        lateout("rcx") _, lateout("r11") _,
        options(nostack)
    );
    #[cfg(target_arch = "aarch64")]
    core::arch::asm!(
        "svc 0",
        in("x8") nr as usize,
        inlateout("x0") a[0] => ret,
        in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
        options(nostack)
    );
    ret
}

/// Converts a raw return into the kernel's convention.
#[inline(always)]
pub fn check(ret: isize) -> KResult<usize> {
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}

/// `syscall!(SYS_name, args...)`: the shim's one way into the kernel.
///
/// `syscall!(SYS_close, fd)` issues `libc::SYS_close` and yields `KResult<usize>`.
#[macro_export]
macro_rules! syscall {
    ($nr:ident $(, $arg:expr)* $(,)?) => {{
        #[allow(unused_mut)]
        let mut a = [0usize; 6];
        #[allow(unused_mut, unused_variables)]
        let mut i = 0;
        $( a[i] = ($arg) as usize; i += 1; )*
        let _ = i;
        $crate::sys::check($crate::sys::raw6(libc::$nr, a))
    }};
}

thread_local! {
    /// The calling thread's id, cached (0: not known yet).
    static TID: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// The calling thread's id (cached: the lock takes it on every acquire).
#[inline]
pub fn gettid() -> u32 {
    TID.try_with(|t| {
        let v = t.get();
        if v != 0 {
            return v;
        }
        // SAFETY: gettid takes no arguments and cannot fail.
        let v = unsafe { syscall!(SYS_gettid).unwrap_or(0) as u32 };
        t.set(v);
        v
    })
    // SAFETY: as above (TLS already torn down at thread exit).
    .unwrap_or_else(|_| unsafe { syscall!(SYS_gettid).unwrap_or(0) as u32 })
}

/// Forgets the cached thread id (in a fork child, whose thread is new).
pub fn forget_tid() {
    let _ = TID.try_with(|t| t.set(0));
}

/// Whether more than one CPU can run us (spinning before sleeping helps
/// only then).
pub fn multi_cpu() -> bool {
    static N: once_cell::sync::OnceCell<bool> = once_cell::sync::OnceCell::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(false, |n| n.get() > 1))
}

/// The calling process's id (not cached: right after fork as well).
pub fn getpid() -> u32 {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { syscall!(SYS_getpid).unwrap_or(0) as u32 }
}

/// Whether a process (or thread) with this id exists.
pub fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks existence and permission.
    match unsafe { syscall!(SYS_kill, pid, 0) } {
        Ok(_) => true,
        Err(e) => e != Errno::ESRCH,
    }
}


/// Reads /proc/<pid>/stat: (state char, starttime), or None if gone.
pub fn proc_stat(pid: u32) -> Option<(u8, u64)> {
    let path = format!("/proc/{pid}/stat\0");
    // SAFETY: path is NUL-terminated; the fd is closed below.
    let fd = unsafe { syscall!(SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }.ok()?;
    let mut buf = [0u8; 1024];
    // SAFETY: reads into a stack buffer of the given length.
    let n = unsafe { syscall!(SYS_read, fd, buf.as_mut_ptr(), buf.len()) };
    close_fd(fd as i32);
    let n = n.ok()?;
    let s = &buf[..n];
    // "pid (comm) S ppid ..." — comm may hold spaces and parens: split at the last ')'.
    let close = s.iter().rposition(|&c| c == b')')?;
    let rest = std::str::from_utf8(&s[close + 1..]).ok()?;
    let mut f = rest.split_ascii_whitespace();
    let state = f.next()?.as_bytes()[0];
    // After the state, starttime is the 19th field (field 22 overall).
    let start = f.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether a thread (or process) with this id still runs: it exists and is
/// no zombie. A thread killed with SIGKILL leaves a zombie until its parent
/// reaps it, and the parent may be waiting on whatever the dead one held:
/// for a lock, the zombie is gone (the kernel would have let go at once).
pub fn task_running(tid: u32) -> bool {
    pid_alive(tid) && !matches!(proc_stat(tid), None | Some((b'Z', _)) | Some((b'X', _)))
}

/// Closes one of the shim's own fds, ignoring errors (as close's contract allows).
pub fn close_fd(fd: i32) {
    // SAFETY: closing an fd number is memory-safe whatever the number.
    let _ = unsafe { syscall!(SYS_close, fd) };
}

/// The running kernel's HZ (jiffies per second), which socket timeouts are
/// rounded to. User space cannot read CONFIG_HZ, so ask the kernel once: a
/// 1 µs SO_RCVTIMEO on a throw-away kernel socket reads back as one jiffy.
/// A failed probe (no fd left, say) is not remembered: 250 until it works.
pub fn kernel_hz() -> u64 {
    use core::sync::atomic::{AtomicU64, Ordering};
    static HZ: AtomicU64 = AtomicU64::new(0);
    match HZ.load(Ordering::Relaxed) {
        0 => match probe_hz() {
            Some(hz) => {
                HZ.store(hz, Ordering::Relaxed);
                hz
            }
            None => 250,
        },
        hz => hz,
    }
}

fn probe_hz() -> Option<u64> {
    // SAFETY: socket takes no pointers.
    let fd = unsafe { syscall!(SYS_socket, libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) }.ok()? as i32;
    let set: [i64; 2] = [0, 1];
    let mut got: [i64; 2] = [0, 0];
    let mut len: libc::socklen_t = 16;
    // SAFETY: `set`, `got` and `len` live on this frame and are as large as
    // the lengths given.
    let r = unsafe {
        syscall!(SYS_setsockopt, fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, set.as_ptr(), 16).and_then(|_| {
            syscall!(SYS_getsockopt, fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, got.as_mut_ptr(), &mut len as *mut libc::socklen_t)
        })
    };
    close_fd(fd);
    r.ok()?;
    let jiffy_us = got[0].checked_mul(1_000_000)?.checked_add(got[1])?;
    (jiffy_us > 0).then(|| (1_000_000 + jiffy_us as u64 / 2) / jiffy_us as u64)
}

/// Linux capability numbers (include/uapi/linux/capability.h).
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;

/// `capable(cap)` for the calling thread: whether `cap` is in its
/// effective set (asked each time: capset may change it).
pub fn capable(cap: u32) -> bool {
    // struct __user_cap_header_struct / __user_cap_data_struct (v3).
    let hdr: [u32; 2] = [0x20080522, 0];
    let mut data = [0u32; 6];
    // SAFETY: capget writes two 3-word data structs for version 3.
    let r = unsafe { syscall!(SYS_capget, hdr.as_ptr(), data.as_mut_ptr()) };
    let (word, bit) = ((cap / 32) as usize, cap % 32);
    r.is_ok() && data[word * 3] & (1 << bit) != 0
}

/// Opens `path` for appending, creating it (mode 0644), close-on-exec.
pub fn open_append(path: &std::ffi::CStr) -> KResult<i32> {
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    unsafe { crate::syscall!(SYS_openat, libc::AT_FDCWD, path.as_ptr(), flags, 0o644) }.map(|fd| fd as i32)
}

/// One write(2) of `buf` to `fd` (an O_APPEND file: one atomic append).
pub fn write(fd: i32, buf: &[u8]) -> KResult<usize> {
    // SAFETY: the kernel reads `buf.len()` bytes of `buf`, which is valid for that.
    unsafe { crate::syscall!(SYS_write, fd, buf.as_ptr(), buf.len()) }
}

/// flock(2) on one of the shim's own fds.
pub fn flock(fd: i32, op: i32) -> KResult<()> {
    // SAFETY: flock takes no pointers.
    unsafe { crate::syscall!(SYS_flock, fd, op) }.map(|_| ())
}

/// (st_dev, st_ino, st_size) of an fd.
pub fn fstat_id(fd: i32) -> KResult<(u64, u64, i64)> {
    // SAFETY: a zeroed stat is a valid out-buffer; fstat writes all of it.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is a writable struct stat.
    unsafe { crate::syscall!(SYS_fstat, fd, &mut st as *mut libc::stat) }?;
    Ok((st.st_dev, st.st_ino, st.st_size))
}

/// Fills `b` from getrandom(2) (without blocking; zeros if that fails).
pub fn getrandom(b: &mut [u8]) {
    // SAFETY: the kernel writes at most `b.len()` bytes into `b`.
    let _ = unsafe { crate::syscall!(SYS_getrandom, b.as_mut_ptr(), b.len(), libc::GRND_NONBLOCK) };
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of a
/// namespace (the TIME_WAIT deadlines kept in shared memory).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a writable struct timespec; libc's clock_gettime
    // (the vDSO, no system call) is not one of the hooked functions.
    let _ = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
