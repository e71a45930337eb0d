//! The FFI half of `net::handoff`: puts a kernel socket on the program's fd
//! number in place of an emulated socket, then the call is made on it.

use crate::errno::KResult;
use crate::net;
use crate::shm::Host;
use crate::task::FdEntry;
use libc::c_int;

/// Replaces the emulated socket behind `fd` with a kernel socket set up as
/// `net::handoff_info` describes it. On success `fd` is a kernel socket and
/// the emulated one is released; on failure nothing changed.
pub fn to_kernel(h: &Host, fd: c_int, e: FdEntry) -> KResult<()> {
    let info = net::handoff::handoff_info(h, e.sock)?;
    // SAFETY: socket(2) with plain integer arguments.
    let kfd = unsafe { crate::syscall!(SYS_socket, info.family, info.kind | libc::SOCK_CLOEXEC, info.protocol) }? as c_int;
    let setup = || -> KResult<()> {
        for (level, name, val) in &info.opts {
            // SAFETY: `val` is a live buffer of `val.len()` bytes. A value the
            // kernel refuses is left at its default.
            let _ = unsafe { crate::syscall!(SYS_setsockopt, kfd, *level, *name, val.as_ptr(), val.len()) };
        }
        if let Some(a) = &info.bound {
            // SAFETY: `a` holds a sockaddr of `a.len` bytes.
            unsafe { crate::syscall!(SYS_bind, kfd, a.bytes.as_ptr(), a.len) }?;
        }
        if info.nonblock {
            // SAFETY: fcntl on the fd made above.
            unsafe { crate::syscall!(SYS_fcntl, kfd, libc::F_SETFL, libc::O_RDWR | libc::O_NONBLOCK) }?;
        }
        Ok(())
    };
    if let Err(err) = setup() {
        crate::sys::close_fd(kfd);
        return Err(err);
    }
    // SAFETY: F_GETFD only reads the fd's flags.
    let cloexec = unsafe { crate::syscall!(SYS_fcntl, fd, libc::F_GETFD) }.unwrap_or(0) as c_int & libc::FD_CLOEXEC != 0;
    net::fd_close(h, fd);
    // SAFETY: dup3 puts the kernel socket on `fd`, closing the placeholder in
    // the same step, so the number is never free for another thread.
    let r = unsafe { crate::syscall!(SYS_dup3, kfd, fd, if cloexec { libc::O_CLOEXEC } else { 0 }) };
    crate::sys::close_fd(kfd);
    r.map(|_| ())
}
