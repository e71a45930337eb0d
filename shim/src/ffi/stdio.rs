//! `fdopen` on an emulated socket. glibc's stdio calls its internal
//! `read`/`write`, not the interposable symbols, so a FILE built by the real
//! fdopen would talk to the placeholder. Instead the stream is a
//! `fopencookie` FILE whose read/write/close go through the emulation, and
//! its `_fileno` is set to the socket's fd so `fileno()` (and select/poll on
//! it) behave as with the real fdopen.

use super::real;
use libc::{c_char, c_int, c_void, off64_t, size_t, ssize_t, FILE};

#[repr(C)]
struct CookieIo {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, size_t) -> ssize_t>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, size_t) -> ssize_t>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut off64_t, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, io: CookieIo) -> *mut FILE;
}

/// Offset of `_fileno` in glibc's `struct _IO_FILE` on LP64: the flags
/// word (padded to 8) and 13 pointers precede it. The layout is public ABI
/// (bits/types/struct_FILE.h).
const FILENO_OFFSET: usize = 8 + 13 * 8;

fn fd_of(cookie: *mut c_void) -> c_int {
    cookie as usize as c_int
}

unsafe extern "C" fn cookie_read(cookie: *mut c_void, buf: *mut c_char, n: size_t) -> ssize_t {
    super::hooks::read(fd_of(cookie), buf as *mut c_void, n)
}

unsafe extern "C" fn cookie_write(cookie: *mut c_void, buf: *const c_char, n: size_t) -> ssize_t {
    let r = super::hooks::write(fd_of(cookie), buf as *const c_void, n);
    // A cookie writer reports failure with -1 (glibc >= 2.2); 0 would loop.
    if r < 0 { -1 } else { r }
}

unsafe extern "C" fn cookie_seek(_: *mut c_void, _: *mut off64_t, _: c_int) -> c_int {
    // A socket cannot seek: lseek gives ESPIPE.
    crate::errno::Errno::ESPIPE.set();
    -1
}

unsafe extern "C" fn cookie_close(cookie: *mut c_void) -> c_int {
    super::hooks::close(fd_of(cookie))
}

#[no_mangle]
pub unsafe extern "C" fn fdopen(fd: c_int, mode: *const c_char) -> *mut FILE {
    if super::emulated(fd).is_none() || mode.is_null() {
        return real::fdopen()(fd, mode);
    }
    let io = CookieIo { read: Some(cookie_read), write: Some(cookie_write), seek: Some(cookie_seek), close: Some(cookie_close) };
    // SAFETY: mode is the program's NUL-terminated mode string (as the real
    // fdopen requires); the cookie is the fd, not a pointer.
    let f = unsafe { fopencookie(fd as usize as *mut c_void, mode, io) };
    if !f.is_null() {
        // SAFETY: f is a live glibc FILE; _fileno is an int at FILENO_OFFSET.
        unsafe { *((f as *mut u8).add(FILENO_OFFSET) as *mut c_int) = fd };
    }
    f
}
