//! sendmmsg / recvmmsg: the kernel's loops over ___sys_sendmsg /
//! ___sys_recvmsg, here over the sendmsg/recvmsg hooks' bodies.

use super::{emulated, real};
use libc::{c_int, c_uint, mmsghdr, timespec};
use std::time::{Duration, Instant};

/// UIO_MAXIOV: the kernel caps vlen here.
const UIO_MAXIOV: c_uint = 1024;

#[no_mangle]
pub unsafe extern "C" fn sendmmsg(fd: c_int, v: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int {
    if emulated(fd).is_none() {
        return real::sendmmsg()(fd, v, vlen, flags);
    }
    let vlen = vlen.min(UIO_MAXIOV);
    let mut n = 0;
    while n < vlen {
        // SAFETY: the program's array has vlen entries; msg_len is written back.
        let m = unsafe { v.add(n as usize) };
        let r = super::hooks::sendmsg(fd, unsafe { &(*m).msg_hdr }, flags);
        if r < 0 {
            return if n > 0 { n as c_int } else { -1 };
        }
        unsafe { (*m).msg_len = r as c_uint };
        n += 1;
    }
    n as c_int
}

#[no_mangle]
pub unsafe extern "C" fn recvmmsg(fd: c_int, v: *mut mmsghdr, vlen: c_uint, flags: c_int, timeout: *mut timespec) -> c_int {
    if emulated(fd).is_none() {
        return real::recvmmsg()(fd, v, vlen, flags, timeout);
    }
    let deadline = if timeout.is_null() {
        None
    } else {
        // SAFETY: the program passes a timespec or null.
        let t = unsafe { *timeout };
        Some(Instant::now() + Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32))
    };
    let vlen = vlen.min(UIO_MAXIOV);
    let mut n = 0;
    let mut fl = flags & !libc::MSG_WAITFORONE;
    while n < vlen {
        // SAFETY: as in sendmmsg.
        let m = unsafe { v.add(n as usize) };
        let r = super::hooks::recvmsg(fd, unsafe { &mut (*m).msg_hdr }, fl);
        if r < 0 {
            return if n > 0 { n as c_int } else { -1 };
        }
        unsafe { (*m).msg_len = r as c_uint };
        n += 1;
        if flags & libc::MSG_WAITFORONE != 0 {
            fl |= libc::MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    n as c_int
}
