//! fstat on an emulated socket reports a socket, as sockfs does: S_IFSOCK,
//! mode 0777, size 0, a per-socket inode number. (The placeholder behind the
//! fd is a memfd, which would say S_IFREG.)

use super::{emulated, real, run};
use crate::errno::KResult;
use crate::net::sock::SockId;
use libc::c_int;

/// The stat of a socket, written over what fstat said of the placeholder.
fn sock_stat(st: &mut libc::stat64, sock: SockId) {
    st.st_mode = libc::S_IFSOCK | 0o777;
    st.st_size = 0;
    st.st_blocks = 0;
    st.st_blksize = 4096;
    st.st_nlink = 1;
    st.st_rdev = 0;
    // sockfs numbers inodes per socket; keep ours stable per socket slot.
    st.st_ino = 0x6e73_0000_0000 | sock.0 as u64;
}

/// Runs the real fstat on the placeholder, then makes it a socket's stat.
fn do_fstat64(fd: c_int, sock: SockId, out: *mut libc::stat64) -> KResult<i64> {
    // SAFETY: a zeroed stat64 is valid; fstat64 fills it for the placeholder fd.
    let mut st: libc::stat64 = unsafe { core::mem::zeroed() };
    if unsafe { real::fstat64()(fd, &mut st) } < 0 {
        return Err(crate::errno::Errno::last());
    }
    sock_stat(&mut st, sock);
    // SAFETY: stat64 is plain data; copied byte for byte to the program's buffer.
    let bytes = unsafe { core::slice::from_raw_parts(&st as *const _ as *const u8, core::mem::size_of::<libc::stat64>()) };
    super::uaccess::copy_to_user(out as usize, bytes)?;
    Ok(0)
}

#[no_mangle]
pub unsafe extern "C" fn fstat64(fd: c_int, out: *mut libc::stat64) -> c_int {
    let Some((_, e)) = emulated(fd) else { return real::fstat64()(fd, out) };
    run("fstat", || format!("{fd}"), || do_fstat64(fd, e.sock, out))
}

#[no_mangle]
pub unsafe extern "C" fn fstat(fd: c_int, out: *mut libc::stat) -> c_int {
    let Some((_, e)) = emulated(fd) else { return real::fstat()(fd, out) };
    // On x86_64 and aarch64 glibc, struct stat and struct stat64 are the same layout.
    const _: () = assert!(core::mem::size_of::<libc::stat>() == core::mem::size_of::<libc::stat64>());
    run("fstat", || format!("{fd}"), || do_fstat64(fd, e.sock, out as *mut libc::stat64))
}

#[no_mangle]
pub unsafe extern "C" fn __fxstat(ver: c_int, fd: c_int, out: *mut libc::stat) -> c_int {
    let Some((_, e)) = emulated(fd) else { return real::__fxstat()(ver, fd, out) };
    run("fstat", || format!("{fd}"), || do_fstat64(fd, e.sock, out as *mut libc::stat64))
}

#[no_mangle]
pub unsafe extern "C" fn __fxstat64(ver: c_int, fd: c_int, out: *mut libc::stat64) -> c_int {
    let Some((_, e)) = emulated(fd) else { return real::__fxstat64()(ver, fd, out) };
    run("fstat", || format!("{fd}"), || do_fstat64(fd, e.sock, out))
}
