//! `Errno`: the kernel's error numbers as a newtype.
//!
//! Every internal function returns `Result<T, Errno>`; only the FFI layer
//! turns an `Err` into `-1` plus `errno`, exactly where the kernel's syscall
//! return path would turn a negative value into the same.

use core::fmt;

/// A positive kernel error number (`EBADF`, `ENOTSOCK`, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// The result type of everything below the FFI layer.
pub type KResult<T> = Result<T, Errno>;

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(pub const $name: Errno = Errno(libc::$name);)*

            /// The symbolic name, as strace prints it.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $(libc::$name => stringify!($name),)*
                    _ => "E?",
                }
            }
        }
    };
}

errnos!(
    EPERM, ENOENT, EINTR, EIO, EBADF, EAGAIN, ENOMEM, EACCES, EFAULT, EBUSY, EEXIST, ENOTDIR,
    EISDIR, EINVAL, ENFILE, EMFILE, ENOSPC, ESPIPE, EPIPE, ERANGE, ENAMETOOLONG, ENOSYS,
    ELOOP, ENOTSOCK, EDESTADDRREQ, EMSGSIZE, EPROTOTYPE, ENOPROTOOPT, EPROTONOSUPPORT,
    ESOCKTNOSUPPORT, EOPNOTSUPP, EPFNOSUPPORT, EAFNOSUPPORT, EADDRINUSE, EADDRNOTAVAIL,
    ENETDOWN, ENETUNREACH, ECONNABORTED, ECONNRESET, ENOBUFS, EISCONN, ENOTCONN, ESHUTDOWN,
    ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, EALREADY, EINPROGRESS, ENOTRECOVERABLE, EOWNERDEAD,
    EROFS, ENXIO, ENOTTY, ESRCH, ENODEV
);

impl Errno {
    /// Internal, never an errno the program sees: a protocol asks the FFI
    /// layer to hand the socket to the kernel (`net::handoff`).
    pub const HANDOFF: Errno = Errno(0x4e53);

    /// The errno value the calling thread holds right now (after a libc call).
    pub fn last() -> Errno {
        // SAFETY: __errno_location always returns the calling thread's valid errno slot.
        Errno(unsafe { *libc::__errno_location() })
    }

    /// Stores this value in the calling thread's errno.
    pub fn set(self) {
        // SAFETY: as in `last`.
        unsafe { *libc::__errno_location() = self.0 }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // strace style: "ECONNREFUSED (Connection refused)"
        // SAFETY: strerror returns a pointer to a NUL-terminated static or thread-local string.
        let text = unsafe { std::ffi::CStr::from_ptr(libc::strerror(self.0)) };
        write!(f, "{} ({})", self.name(), text.to_string_lossy())
    }
}
