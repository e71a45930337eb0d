//! `fstat` and friends on an emulated socket: what the kernel reports for a
//! sockfs inode.
//!
//! An emulated socket's fd is a placeholder memfd, a regular file: left
//! alone, `fstat` would say `S_IFREG`, and programs that look act on it.
//! `cat` with stdin and stdout on one socket (socat's `EXEC:cat`) refuses
//! "input file is output file"; Python's `socket.socket(fileno=)` and
//! `asyncio` check `S_ISSOCK`. So after the real call on the placeholder
//! (which does the EFAULT/EBADF checks), the fields a socket inode has
//! differently are patched in the program's buffer: `st_mode` is
//! `S_IFSOCK | 0777`, `st_size`/`st_blocks` are 0, `st_nlink` is 1 (as
//! `sock_alloc_inode` + `sockfs_dname`). The inode number stays the
//! placeholder's: unique per open socket, shared by dups, as sockfs's is.
//!
//! Hooked: `fstat`, `fstat64`, `fstatat`/`fstatat64` with `AT_EMPTY_PATH`
//! and an empty path, `statx` likewise.

use super::uaccess::copy_to_user;
use super::{emulated, real, run};
use crate::errno::{Errno, KResult};
use core::mem::offset_of;
use libc::{c_char, c_int, c_uint};

const SOCK_MODE: u32 = libc::S_IFSOCK | 0o777;

/// Patches a `struct stat` the real call filled.
fn patch_stat(buf: *mut libc::stat) -> KResult<i64> {
    let base = buf as usize;
    copy_to_user(base + offset_of!(libc::stat, st_mode), &(SOCK_MODE as libc::mode_t).to_ne_bytes())?;
    copy_to_user(base + offset_of!(libc::stat, st_nlink), &(1 as libc::nlink_t).to_ne_bytes())?;
    copy_to_user(base + offset_of!(libc::stat, st_size), &(0 as libc::off_t).to_ne_bytes())?;
    copy_to_user(base + offset_of!(libc::stat, st_blocks), &(0 as libc::blkcnt_t).to_ne_bytes())?;
    Ok(0)
}

/// Patches a `struct statx` the real call filled.
fn patch_statx(buf: *mut libc::statx) -> KResult<i64> {
    let base = buf as usize;
    copy_to_user(base + offset_of!(libc::statx, stx_mode), &(SOCK_MODE as u16).to_ne_bytes())?;
    copy_to_user(base + offset_of!(libc::statx, stx_nlink), &1u32.to_ne_bytes())?;
    copy_to_user(base + offset_of!(libc::statx, stx_size), &0u64.to_ne_bytes())?;
    copy_to_user(base + offset_of!(libc::statx, stx_blocks), &0u64.to_ne_bytes())?;
    Ok(0)
}

/// The real call's result as a KResult (errno is already set on failure).
fn checked(r: c_int) -> KResult<()> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Whether `path` is the empty string (the `AT_EMPTY_PATH` form on an fd).
fn empty_path(path: *const c_char, flags: c_int) -> bool {
    if flags & libc::AT_EMPTY_PATH == 0 {
        return false;
    }
    // A null path with AT_EMPTY_PATH is accepted by recent kernels.
    path.is_null() || super::uaccess::copy_from_user(path as usize, 1).is_ok_and(|b| b[0] == 0)
}

#[no_mangle]
pub unsafe extern "C" fn fstat(fd: c_int, buf: *mut libc::stat) -> c_int {
    if emulated(fd).is_none() {
        return real::fstat()(fd, buf);
    }
    // SAFETY: the real fstat checks `buf` itself (EFAULT).
    run("fstat", || format!("{fd}, {buf:p}"), || checked(unsafe { real::fstat()(fd, buf) }).and_then(|_| patch_stat(buf)))
}

#[no_mangle]
pub unsafe extern "C" fn fstat64(fd: c_int, buf: *mut libc::stat) -> c_int {
    if emulated(fd).is_none() {
        return real::fstat64()(fd, buf);
    }
    // SAFETY: as fstat.
    run("fstat", || format!("{fd}, {buf:p}"), || checked(unsafe { real::fstat64()(fd, buf) }).and_then(|_| patch_stat(buf)))
}

#[no_mangle]
pub unsafe extern "C" fn fstatat(dirfd: c_int, path: *const c_char, buf: *mut libc::stat, flags: c_int) -> c_int {
    if !empty_path(path, flags) || emulated(dirfd).is_none() {
        return real::fstatat()(dirfd, path, buf, flags);
    }
    // SAFETY: the real call checks its pointers.
    run("fstatat", || format!("{dirfd}, \"\", {buf:p}, {flags:#x}"), || {
        checked(unsafe { real::fstatat()(dirfd, path, buf, flags) }).and_then(|_| patch_stat(buf))
    })
}

#[no_mangle]
pub unsafe extern "C" fn fstatat64(dirfd: c_int, path: *const c_char, buf: *mut libc::stat, flags: c_int) -> c_int {
    if !empty_path(path, flags) || emulated(dirfd).is_none() {
        return real::fstatat64()(dirfd, path, buf, flags);
    }
    // SAFETY: the real call checks its pointers.
    run("fstatat", || format!("{dirfd}, \"\", {buf:p}, {flags:#x}"), || {
        checked(unsafe { real::fstatat64()(dirfd, path, buf, flags) }).and_then(|_| patch_stat(buf))
    })
}

#[no_mangle]
pub unsafe extern "C" fn statx(dirfd: c_int, path: *const c_char, flags: c_int, mask: c_uint, buf: *mut libc::statx) -> c_int {
    if !empty_path(path, flags) || emulated(dirfd).is_none() {
        return real::statx()(dirfd, path, flags, mask, buf);
    }
    // SAFETY: the real call checks its pointers.
    run("statx", || format!("{dirfd}, \"\", {flags:#x}, {mask:#x}, {buf:p}"), || {
        checked(unsafe { real::statx()(dirfd, path, flags, mask, buf) }).and_then(|_| patch_statx(buf))
    })
}
