//! Access to the program's memory: the kernel's copy_from_user and
//! copy_to_user, returning EFAULT for a bad pointer instead of crashing.
//!
//! Small control-path copies (addresses, option values, msghdr, iovec
//! arrays) go through process_vm_readv/writev on our own pid, which the
//! kernel checks page by page, so any bad pointer yields EFAULT. Data
//! buffers on the hot path are checked only for the shapes a bad pointer
//! usually has (null, the first page, past the user address space, a
//! wrapping range), to keep the data path free of system calls.

use crate::errno::{Errno, KResult};
use crate::sys;

/// The top of the x86_64/aarch64 user address space (47/48 bits).
const USER_TOP: usize = 1 << 47;

/// Whether [ptr, ptr+len) can be a user buffer at all.
pub fn plausible(ptr: usize, len: usize) -> bool {
    if len == 0 {
        return true;
    }
    ptr >= 4096 && ptr.checked_add(len).is_some_and(|end| end <= USER_TOP)
}

/// `access_ok`: the range lies inside user space. This is all the kernel
/// checks when it imports a data buffer (`import_ubuf`, `import_iovec`);
/// a bad pointer inside user space only faults when data is copied.
pub fn access_ok(ptr: usize, len: usize) -> bool {
    len == 0 || ptr.checked_add(len).is_some_and(|end| end <= USER_TOP)
}

/// copy_from_user: reads `len` bytes at `ptr`.
pub fn copy_from_user(ptr: usize, len: usize) -> KResult<Vec<u8>> {
    let mut v = vec![0u8; len];
    if len == 0 {
        return Ok(v);
    }
    if !plausible(ptr, len) {
        return Err(Errno::EFAULT);
    }
    let local = libc::iovec { iov_base: v.as_mut_ptr() as *mut _, iov_len: len };
    let remote = libc::iovec { iov_base: ptr as *mut _, iov_len: len };
    // SAFETY: process_vm_readv reads from our own address space into `v`,
    // which is `len` bytes; the kernel validates `ptr`.
    let r = unsafe { crate::syscall!(SYS_process_vm_readv, sys::getpid(), &local as *const _, 1, &remote as *const _, 1, 0) };
    match r {
        Ok(n) if n == len => Ok(v),
        _ => Err(Errno::EFAULT),
    }
}

/// copy_to_user: writes `src` at `ptr`.
pub fn copy_to_user(ptr: usize, src: &[u8]) -> KResult<()> {
    if src.is_empty() {
        return Ok(());
    }
    if !plausible(ptr, src.len()) {
        return Err(Errno::EFAULT);
    }
    let local = libc::iovec { iov_base: src.as_ptr() as *mut _, iov_len: src.len() };
    let remote = libc::iovec { iov_base: ptr as *mut _, iov_len: src.len() };
    // SAFETY: as in copy_from_user, in the other direction.
    let r = unsafe { crate::syscall!(SYS_process_vm_writev, sys::getpid(), &local as *const _, 1, &remote as *const _, 1, 0) };
    match r {
        Ok(n) if n == src.len() => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// get_user for an int.
pub fn get_i32(ptr: usize) -> KResult<i32> {
    let b = copy_from_user(ptr, 4)?;
    Ok(i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// put_user for an int.
pub fn put_i32(ptr: usize, v: i32) -> KResult<()> {
    copy_to_user(ptr, &v.to_ne_bytes())
}

/// A data buffer of the program as a slice, after the plausibility check.
///
/// # Safety
/// The caller passes the program's (pointer, length) for the duration of
/// one call, as the kernel would access it.
pub unsafe fn user_slice<'a>(ptr: *const u8, len: usize) -> KResult<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if !plausible(ptr as usize, len) {
        return Err(Errno::EFAULT);
    }
    // SAFETY: plausibility checked; the program vouches for the buffer.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// As `user_slice`, writable.
///
/// # Safety
/// As `user_slice`.
pub unsafe fn user_slice_mut<'a>(ptr: *mut u8, len: usize) -> KResult<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if !plausible(ptr as usize, len) {
        return Err(Errno::EFAULT);
    }
    // SAFETY: plausibility checked; the program vouches for the buffer.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
}

/// A receive buffer as the kernel imports it: EFAULT if it fails
/// `access_ok`; `None` if it passes but cannot be a buffer (null, the first
/// page), which the receive path must treat as faulting when it copies.
///
/// # Safety
/// As `user_slice`.
pub unsafe fn user_buf_mut<'a>(ptr: *mut u8, len: usize) -> KResult<Option<&'a mut [u8]>> {
    if !access_ok(ptr as usize, len) {
        return Err(Errno::EFAULT);
    }
    if !plausible(ptr as usize, len) {
        return Ok(None);
    }
    // SAFETY: as user_slice_mut.
    Ok(Some(unsafe { user_slice_mut(ptr, len) }?))
}

/// Reads an iovec array (`import_iovec`): EMSGSIZE above UIO_MAXIOV,
/// EINVAL when the total overflows ssize_t.
pub fn read_iovecs(ptr: usize, n: usize) -> KResult<Vec<(usize, usize)>> {
    if n > 1024 {
        return Err(Errno::EMSGSIZE);
    }
    let raw = copy_from_user(ptr, n * 16)?;
    let mut out = Vec::with_capacity(n);
    let mut total: usize = 0;
    for c in raw.chunks_exact(16) {
        let base = usize::from_ne_bytes(c[0..8].try_into().unwrap());
        let len = usize::from_ne_bytes(c[8..16].try_into().unwrap());
        if len > isize::MAX as usize {
            return Err(Errno::EINVAL);
        }
        total = total.checked_add(len).filter(|t| *t <= isize::MAX as usize).ok_or(Errno::EINVAL)?;
        out.push((base, len));
    }
    Ok(out)
}
