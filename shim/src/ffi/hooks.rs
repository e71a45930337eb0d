//! The exported functions that shadow libc's socket and fd calls.
//!
//! Each one: is this an emulated socket (one table load)? If not, the real
//! function. If so, copy the arguments in (EFAULT/EINVAL as the kernel
//! checks them), call the `__sys_*` function, copy results out.

#![allow(clippy::missing_safety_doc)]

use super::uaccess::*;
use super::{emulated, emulating, real, run, trace_real};
use crate::errno::{Errno, KResult};
use crate::net::smallvec::{IovVec, IovVecMut};
use crate::net::{self, addr::Addr, RecvMsg, SendMsg};
use crate::shm::Host;
use crate::task::{self, FdEntry};
use crate::trace::{self as tr, family_name, protocol_name, type_name};
use libc::{c_int, c_long, c_uint, c_ulong, c_void, iovec, msghdr, off_t, pid_t, size_t, sockaddr, socklen_t, ssize_t};
use std::sync::atomic::Ordering;

/// move_addr_to_kernel: EINVAL for a length out of range, EFAULT for a bad pointer.
fn move_addr_to_kernel(ptr: *const sockaddr, len: socklen_t) -> KResult<Vec<u8>> {
    let len = len as i32;
    if !(0..=128).contains(&len) {
        return Err(Errno::EINVAL);
    }
    copy_from_user(ptr as usize, len as usize)
}

/// move_addr_to_user: copies at most *ulen bytes and stores the full length.
fn move_addr_to_user(kaddr: &Addr, uaddr: *mut sockaddr, ulen: *mut socklen_t) -> KResult<()> {
    if uaddr.is_null() || ulen.is_null() {
        return Ok(());
    }
    let len = get_i32(ulen as usize)?;
    let klen = kaddr.len as i32;
    let n = len.min(klen);
    if n < 0 {
        return Err(Errno::EINVAL);
    }
    copy_to_user(uaddr as usize, &kaddr.as_bytes()[..n as usize])?;
    put_i32(ulen as usize, klen)
}

fn addr_arg(ptr: *const sockaddr, len: socklen_t) -> String {
    tr::fmt_addr_in(ptr as usize, len)
}

/// The value-result length an address or option call was given (read
/// before the call, for the trace line's `[in => out]`; only when tracing).
fn len_in(p: *const socklen_t) -> Option<i32> {
    if tr::calls_enabled() && !p.is_null() {
        get_i32(p as usize).ok()
    } else {
        None
    }
}

/// Whether the traced call succeeded.
fn traced_ok() -> bool {
    tr::ret() >= 0
}

/// A buffer the call filled (read, recv): its bytes up to the count
/// returned, or the pointer when it failed.
fn filled_buf(buf: *const c_void) -> String {
    let r = tr::ret();
    if r >= 0 {
        tr::fmt_buf(buf as usize, r as usize)
    } else {
        tr::fmt_ptr(buf as usize)
    }
}

// ----- socket, socketpair ----------------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let args = || format!("{}, {}, {}", family_name(domain), type_name(ty), protocol_name(domain, protocol));
    match emulating() {
        Some(h) if net::emulates(domain, ty) => run("socket", args, || net::__sys_socket(h, domain, ty, protocol).map(i64::from)),
        _ => trace_real("socket", args, real::socket()(domain, ty, protocol)),
    }
}

#[no_mangle]
pub unsafe extern "C" fn socketpair(domain: c_int, ty: c_int, protocol: c_int, sv: *mut c_int) -> c_int {
    let args = || {
        let pair = match copy_from_user(sv as usize, 8) {
            Ok(b) if traced_ok() => format!("[{}, {}]", i32::from_ne_bytes([b[0], b[1], b[2], b[3]]), i32::from_ne_bytes([b[4], b[5], b[6], b[7]])),
            _ => tr::fmt_ptr(sv as usize),
        };
        format!("{}, {}, {}, {pair}", family_name(domain), type_name(ty), protocol_name(domain, protocol))
    };
    match emulating() {
        Some(h) if net::emulates(domain, ty) => run("socketpair", args, || {
            if !plausible(sv as usize, 8) {
                return Err(Errno::EFAULT);
            }
            let (a, b) = net::__sys_socketpair(h, domain, ty, protocol)?;
            let mut out = [0u8; 8];
            out[..4].copy_from_slice(&a.to_ne_bytes());
            out[4..].copy_from_slice(&b.to_ne_bytes());
            if let Err(e) = copy_to_user(sv as usize, &out) {
                close_emulated(h, a);
                close_emulated(h, b);
                return Err(e);
            }
            Ok(0)
        }),
        _ => trace_real("socketpair", args, real::socketpair()(domain, ty, protocol, sv)),
    }
}

fn close_emulated(h: &Host, fd: c_int) {
    net::fd_close(h, fd);
    crate::sys::close_fd(fd);
}

// ----- bind, listen, connect, accept -----------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let args = || format!("{fd}, {}", addr_arg(addr, len));
    let Some((h, e)) = emulated(fd) else { return trace_real("bind", args, real::bind()(fd, addr, len)) };
    run("bind", args, || {
        let a = move_addr_to_kernel(addr, len)?;
        net::__sys_bind(h, e.sock, &a).map(|_| 0)
    })
}

#[no_mangle]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    let args = || format!("{fd}, {backlog}");
    let Some((h, e)) = emulated(fd) else { return trace_real("listen", args, real::listen()(fd, backlog)) };
    run("listen", args, || net::__sys_listen(h, e.sock, backlog).map(|_| 0))
}

#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let args = || format!("{fd}, {}", addr_arg(addr, len));
    let Some((h, e)) = emulated(fd) else { return trace_real("connect", args, real::connect()(fd, addr, len)) };
    run("connect", args, || {
        let a = move_addr_to_kernel(addr, len)?;
        match net::__sys_connect(h, e.sock, &a) {
            // NETSHIM_NONLOCAL=kernel: the kernel's own connect, on the
            // kernel socket that now has the fd.
            Err(err) if err == Errno::HANDOFF => {
                super::handoff::to_kernel(h, fd, e)?;
                // SAFETY: the program's own arguments, passed on unchanged.
                unsafe { crate::syscall!(SYS_connect, fd, addr, len) }.map(|_| 0)
            }
            r => r.map(|_| 0),
        }
    })
}

fn do_accept(h: &Host, e: FdEntry, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> KResult<i64> {
    let (fd, newsk) = net::__sys_accept4(h, e.sock, flags)?;
    if !addr.is_null() {
        let r = net::__sys_getpeername(h, newsk).or(Err(Errno::ECONNABORTED)).and_then(|a| move_addr_to_user(&a, addr, len));
        if let Err(err) = r {
            close_emulated(h, fd);
            return Err(err);
        }
    }
    Ok(fd as i64)
}

#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let ulen = len_in(len);
    let args = || format!("{fd}, {}", tr::fmt_addr_out(addr as usize, len as usize, ulen, traced_ok()));
    let Some((h, e)) = emulated(fd) else { return trace_real("accept", args, real::accept()(fd, addr, len)) };
    run("accept", args, || do_accept(h, e, addr, len, 0))
}

#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    let ulen = len_in(len);
    let args = || format!("{fd}, {}, {}", tr::fmt_addr_out(addr as usize, len as usize, ulen, traced_ok()), tr::fmt_sock_flags(flags));
    let Some((h, e)) = emulated(fd) else { return trace_real("accept4", args, real::accept4()(fd, addr, len, flags)) };
    run("accept4", args, || do_accept(h, e, addr, len, flags))
}

#[no_mangle]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let ulen = len_in(len);
    let args = || format!("{fd}, {}", tr::fmt_addr_out(addr as usize, len as usize, ulen, traced_ok()));
    let Some((h, e)) = emulated(fd) else { return trace_real("getsockname", args, real::getsockname()(fd, addr, len)) };
    run("getsockname", args, || {
        let a = net::__sys_getsockname(h, e.sock)?;
        getname_out(&a, addr, len)
    })
}

#[no_mangle]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let ulen = len_in(len);
    let args = || format!("{fd}, {}", tr::fmt_addr_out(addr as usize, len as usize, ulen, traced_ok()));
    let Some((h, e)) = emulated(fd) else { return trace_real("getpeername", args, real::getpeername()(fd, addr, len)) };
    run("getpeername", args, || {
        let a = net::__sys_getpeername(h, e.sock)?;
        getname_out(&a, addr, len)
    })
}

/// getsockname/getpeername copy-out, where null pointers are EFAULT.
fn getname_out(a: &Addr, addr: *mut sockaddr, len: *mut socklen_t) -> KResult<i64> {
    let ulen = get_i32(len as usize)?;
    if ulen < 0 {
        return Err(Errno::EINVAL);
    }
    let n = ulen.min(a.len as i32) as usize;
    copy_to_user(addr as usize, &a.as_bytes()[..n])?;
    put_i32(len as usize, a.len as i32)?;
    Ok(0)
}

#[no_mangle]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    let args = || format!("{fd}, {}", tr::fmt_shut(how));
    let Some((h, e)) = emulated(fd) else { return trace_real("shutdown", args, real::shutdown()(fd, how)) };
    run("shutdown", args, || net::__sys_shutdown(h, e.sock, how).map(|_| 0))
}

// ----- options ----------------------------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int {
    let args = || tr::fmt_setsockopt(fd, level, name, val as usize, len);
    let Some((h, e)) = emulated(fd) else { return trace_real("setsockopt", args, real::setsockopt()(fd, level, name, val, len)) };
    run("setsockopt", args, || {
        if (len as i32) < 0 {
            return Err(Errno::EINVAL);
        }
        let v = copy_from_user(val as usize, (len as usize).min(256))?;
        net::__sys_setsockopt(h, e.sock, level, name, &v).map(|_| 0)
    })
}

#[no_mangle]
pub unsafe extern "C" fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int {
    let ulen = len_in(len);
    let args = || tr::fmt_getsockopt(fd, level, name, val as usize, len as usize, ulen, traced_ok());
    let Some((h, e)) = emulated(fd) else { return trace_real("getsockopt", args, real::getsockopt()(fd, level, name, val, len)) };
    run("getsockopt", args, || {
        let ulen = get_i32(len as usize)?;
        let v = net::__sys_getsockopt(h, e.sock, level, name, ulen)?;
        copy_to_user(val as usize, &v)?;
        put_i32(len as usize, v.len() as i32)?;
        Ok(0)
    })
}

// ----- data ---------------------------------------------------------------------

fn nonblock_flags(h: &Host, e: FdEntry, flags: c_int) -> c_int {
    if h.shared()[e.sock.idx()].nonblocking() {
        flags | libc::MSG_DONTWAIT
    } else {
        flags
    }
}

fn send_common(h: &Host, e: FdEntry, iov: IovVec<'_>, name: Option<&[u8]>, control: &[u8], flags: c_int) -> KResult<i64> {
    let msg = SendMsg { iov, name, control, flags: nonblock_flags(h, e, flags) };
    net::__sys_sendmsg(h, e.sock, &msg).map(|n| n as i64)
}

/// send/write of one buffer: the message is built in place (no copy of
/// the buffer list on the way down).
unsafe fn send_one(h: &Host, e: FdEntry, buf: *const c_void, n: size_t, name: Option<&[u8]>, flags: c_int) -> KResult<i64> {
    let msg = SendMsg { iov: IovVec::one(user_slice(buf as *const u8, n)?), name, control: &[], flags: nonblock_flags(h, e, flags) };
    net::__sys_sendmsg(h, e.sock, &msg).map(|n| n as i64)
}

/// A receive message with no buffers yet (`recv_bufs` adds them); the
/// caller keeps it in place for the whole call.
fn recv_msg<'a>(h: &Host, e: FdEntry, flags: c_int, control_cap: usize, want_name: bool) -> RecvMsg<'a> {
    RecvMsg {
        bad_tail: 0,
        iov: IovVecMut::new(),
        flags: nonblock_flags(h, e, flags & !libc::MSG_CMSG_CLOEXEC),
        name: None,
        want_name,
        control_cap,
        control: Vec::new(),
        // ____sys_recvmsg: msg_flags = flags & (MSG_CMSG_CLOEXEC|MSG_CMSG_COMPAT).
        msg_flags: flags & libc::MSG_CMSG_CLOEXEC,
    }
}

/// The receive buffers as the kernel imports them: every one must pass
/// `access_ok`; from the first one that cannot be touched on, the rest is
/// only counted (`RecvMsg::bad_tail`).
unsafe fn recv_bufs<'a>(msg: &mut RecvMsg<'a>, bufs: impl IntoIterator<Item = (usize, usize)>) -> KResult<()> {
    for (p, l) in bufs {
        let b = user_buf_mut(p as *mut u8, l)?;
        match b {
            Some(b) if msg.bad_tail == 0 => msg.iov.push(b),
            _ => msg.bad_tail += l,
        }
    }
    Ok(())
}

#[inline]
fn recv_common(h: &Host, e: FdEntry, msg: &mut RecvMsg<'_>) -> KResult<i64> {
    net::__sys_recvmsg(h, e.sock, msg).map(|n| n as i64)
}

unsafe fn do_read(h: &Host, e: FdEntry, buf: *mut c_void, n: size_t) -> KResult<i64> {
    if n == 0 {
        return Ok(0);
    }
    let mut msg = recv_msg(h, e, 0, 0, false);
    recv_bufs(&mut msg, [(buf as usize, n)])?;
    recv_common(h, e, &mut msg)
}

unsafe fn do_write(h: &Host, e: FdEntry, buf: *const c_void, n: size_t) -> KResult<i64> {
    send_one(h, e, buf, n, None, 0)
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    let Some((h, e)) = emulated(fd) else { return real::read()(fd, buf, n) };
    run("read", || format!("{fd}, {}, {n}", filled_buf(buf)), || do_read(h, e, buf, n))
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    let Some((h, e)) = emulated(fd) else { return real::write()(fd, buf, n) };
    run("write", || format!("{fd}, {}, {n}", tr::fmt_buf(buf as usize, n)), || do_write(h, e, buf, n))
}

#[no_mangle]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t) -> ssize_t {
    let Some((h, e)) = emulated(fd) else { return real::__read_chk()(fd, buf, n, buflen) };
    if n > buflen {
        // _FORTIFY_SOURCE: the same abort glibc's __read_chk performs.
        return real::__read_chk()(fd, buf, n, buflen);
    }
    run("read", || format!("{fd}, {}, {n}", filled_buf(buf)), || do_read(h, e, buf, n))
}

unsafe fn iov_in<'a>(iov: *const iovec, cnt: c_int) -> KResult<IovVec<'a>> {
    if cnt < 0 {
        return Err(Errno::EINVAL);
    }
    read_iovecs(iov as usize, cnt as usize)?.into_iter().map(|(b, l)| user_slice(b as *const u8, l)).collect()
}

unsafe fn iov_out(msg: &mut RecvMsg<'_>, iov: *const iovec, cnt: c_int) -> KResult<()> {
    if cnt < 0 {
        return Err(Errno::EINVAL);
    }
    recv_bufs(msg, read_iovecs(iov as usize, cnt as usize)?)
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let Some((h, e)) = emulated(fd) else { return real::readv()(fd, iov, cnt) };
    run("readv", || format!("{fd}, {}, {cnt}", if traced_ok() { tr::fmt_iov(iov as usize, cnt.max(0) as usize, Some(tr::ret() as usize)) } else { tr::fmt_ptr(iov as usize) }), || {
        let mut msg = recv_msg(h, e, 0, 0, false);
        iov_out(&mut msg, iov, cnt)?;
        if msg.bad_tail == 0 && msg.iov.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        recv_common(h, e, &mut msg)
    })
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let Some((h, e)) = emulated(fd) else { return real::writev()(fd, iov, cnt) };
    run("writev", || format!("{fd}, {}, {cnt}", tr::fmt_iov(iov as usize, cnt.max(0) as usize, None)), || {
        let v = iov_in(iov, cnt)?;
        send_common(h, e, v, None, &[], 0)
    })
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    let args = || format!("{fd}, {}, {n}, {}", tr::fmt_buf(buf as usize, n), tr::fmt_msg_flags(flags));
    let Some((h, e)) = emulated(fd) else { return trace_real("send", args, real::send()(fd, buf, n, flags)) };
    run("send", args, || send_one(h, e, buf, n, None, flags))
}

#[no_mangle]
pub unsafe extern "C" fn sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, alen: socklen_t) -> ssize_t {
    let args = || format!("{fd}, {}, {n}, {}, {}", tr::fmt_buf(buf as usize, n), tr::fmt_msg_flags(flags), addr_arg(addr, alen));
    let Some((h, e)) = emulated(fd) else { return trace_real("sendto", args, real::sendto()(fd, buf, n, flags, addr, alen)) };
    run("sendto", args, || {
        // The buffer is checked first, as before the address is copied.
        user_slice(buf as *const u8, n)?;
        let name = if addr.is_null() { None } else { Some(move_addr_to_kernel(addr, alen)?) };
        match send_one(h, e, buf, n, name.as_deref(), flags) {
            Err(err) if err == Errno::HANDOFF => {
                super::handoff::to_kernel(h, fd, e)?;
                // SAFETY: the program's own arguments, passed on unchanged.
                unsafe { crate::syscall!(SYS_sendto, fd, buf, n, flags, addr, alen) }.map(|n| n as i64)
            }
            r => r,
        }
    })
}

unsafe fn do_recvfrom(h: &Host, e: FdEntry, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> KResult<i64> {
    let mut msg = recv_msg(h, e, flags, 0, !addr.is_null());
    recv_bufs(&mut msg, [(buf as usize, n)])?;
    let r = recv_common(h, e, &mut msg)?;
    if !addr.is_null() {
        let a = msg.name.unwrap_or_default();
        move_addr_to_user(&a, addr, alen)?;
    }
    Ok(r)
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    let args = || format!("{fd}, {}, {n}, {}", filled_buf(buf), tr::fmt_msg_flags(flags));
    let Some((h, e)) = emulated(fd) else { return trace_real("recv", args, real::recv()(fd, buf, n, flags)) };
    run("recv", args, || do_recvfrom(h, e, buf, n, flags, core::ptr::null_mut(), core::ptr::null_mut()))
}

#[no_mangle]
pub unsafe extern "C" fn recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, alen: *mut socklen_t) -> ssize_t {
    let ulen = len_in(alen);
    let args = || format!("{fd}, {}, {n}, {}, {}", filled_buf(buf), tr::fmt_msg_flags(flags), tr::fmt_addr_out(addr as usize, alen as usize, ulen, traced_ok()));
    let Some((h, e)) = emulated(fd) else { return trace_real("recvfrom", args, real::recvfrom()(fd, buf, n, flags, addr, alen)) };
    run("recvfrom", args, || do_recvfrom(h, e, buf, n, flags, addr, alen))
}

#[no_mangle]
pub unsafe extern "C" fn __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, buflen: size_t, flags: c_int) -> ssize_t {
    let Some((h, e)) = emulated(fd) else { return real::__recv_chk()(fd, buf, n, buflen, flags) };
    if n > buflen {
        return real::__recv_chk()(fd, buf, n, buflen, flags);
    }
    run("recv", || format!("{fd}, {}, {n}, {}", filled_buf(buf), tr::fmt_msg_flags(flags)), || do_recvfrom(h, e, buf, n, flags, core::ptr::null_mut(), core::ptr::null_mut()))
}

#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    alen: *mut socklen_t,
) -> ssize_t {
    let Some((h, e)) = emulated(fd) else { return real::__recvfrom_chk()(fd, buf, n, buflen, flags, addr, alen) };
    if n > buflen {
        return real::__recvfrom_chk()(fd, buf, n, buflen, flags, addr, alen);
    }
    let ulen = len_in(alen);
    run("recvfrom", || format!("{fd}, {}, {n}, {}, {}", filled_buf(buf), tr::fmt_msg_flags(flags), tr::fmt_addr_out(addr as usize, alen as usize, ulen, traced_ok())), || do_recvfrom(h, e, buf, n, flags, addr, alen))
}

/// Reads a user msghdr: (name ptr, namelen, iov ptr, iovlen, control ptr, controllen, flags).
fn read_msghdr(m: *const msghdr) -> KResult<(usize, u32, usize, usize, usize, usize)> {
    let b = copy_from_user(m as usize, core::mem::size_of::<msghdr>())?;
    let u64_at = |i: usize| usize::from_ne_bytes(b[i..i + 8].try_into().unwrap());
    let name = u64_at(0);
    let namelen = u32::from_ne_bytes(b[8..12].try_into().unwrap());
    let iov = u64_at(16);
    let iovlen = u64_at(24);
    let control = u64_at(32);
    let controllen = u64_at(40);
    Ok((name, namelen, iov, iovlen, control, controllen))
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, m: *const msghdr, flags: c_int) -> ssize_t {
    let args = || format!("{fd}, {}, {}", tr::fmt_msghdr(m as usize, None), tr::fmt_msg_flags(flags));
    let Some((h, e)) = emulated(fd) else { return trace_real("sendmsg", args, real::sendmsg()(fd, m, flags)) };
    run("sendmsg", args, || {
        let (name, namelen, iov, iovlen, control, controllen) = read_msghdr(m)?;
        let iovs = iov_in(iov as *const iovec, iovlen.min(i32::MAX as usize) as c_int)?;
        let name = if name != 0 && namelen != 0 { Some(move_addr_to_kernel(name as *const sockaddr, namelen)?) } else { None };
        if controllen > i32::MAX as usize {
            return Err(Errno::ENOBUFS);
        }
        let ctl = if controllen > 0 { copy_from_user(control, controllen.min(64 * 1024))? } else { Vec::new() };
        match send_common(h, e, iovs, name.as_deref(), &ctl, flags & !libc::MSG_CMSG_CLOEXEC) {
            Err(err) if err == Errno::HANDOFF => {
                super::handoff::to_kernel(h, fd, e)?;
                // SAFETY: the program's own arguments, passed on unchanged.
                unsafe { crate::syscall!(SYS_sendmsg, fd, m, flags) }.map(|n| n as i64)
            }
            r => r,
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, m: *mut msghdr, flags: c_int) -> ssize_t {
    let args = || format!("{fd}, {}, {}", if traced_ok() { tr::fmt_msghdr(m as usize, Some(tr::ret() as usize)) } else { tr::fmt_ptr(m as usize) }, tr::fmt_msg_flags(flags));
    let Some((h, e)) = emulated(fd) else { return trace_real("recvmsg", args, real::recvmsg()(fd, m, flags)) };
    run("recvmsg", args, || {
        let (name, namelen, iov, iovlen, control, controllen) = read_msghdr(m)?;
        if (namelen as i32) < 0 {
            return Err(Errno::EINVAL);
        }
        let cap = if control != 0 { controllen } else { 0 };
        let mut msg = recv_msg(h, e, flags, cap, name != 0);
        iov_out(&mut msg, iov as *mut iovec, iovlen.min(i32::MAX as usize) as c_int)?;
        // SCM_RIGHTS fds are installed by the protocol (scm_detach_fds).
        let r = recv_common(h, e, &mut msg)?;
        let base = m as usize;
        // msg_namelen
        if name != 0 {
            let a = msg.name.unwrap_or_default();
            let n = (namelen as usize).min(a.len as usize);
            copy_to_user(name, &a.as_bytes()[..n])?;
            put_i32(base + 8, a.len as i32)?;
        } else {
            put_i32(base + 8, 0)?;
        }
        copy_to_user(control, &msg.control)?;
        copy_to_user(base + 40, &msg.control.len().to_ne_bytes())?;
        put_i32(base + 48, msg.msg_flags)?;
        Ok(r)
    })
}

// ----- positional I/O: ESPIPE on a socket ------------------------------------

macro_rules! espipe_hook {
    ($name:ident, $buf:ty) => {
        #[no_mangle]
        pub unsafe extern "C" fn $name(fd: c_int, buf: $buf, n: size_t, off: off_t) -> ssize_t {
            if emulated(fd).is_none() {
                return real::$name()(fd, buf, n, off);
            }
            run(stringify!($name), || format!("{fd}"), || Err(Errno::ESPIPE))
        }
    };
}
espipe_hook!(pread, *mut c_void);
espipe_hook!(pread64, *mut c_void);
espipe_hook!(pwrite, *const c_void);
espipe_hook!(pwrite64, *const c_void);

#[no_mangle]
pub unsafe extern "C" fn lseek(fd: c_int, off: off_t, whence: c_int) -> off_t {
    if emulated(fd).is_none() {
        return real::lseek()(fd, off, whence);
    }
    run::<isize>("lseek", || format!("{fd}"), || Err(Errno::ESPIPE)) as off_t
}

#[no_mangle]
pub unsafe extern "C" fn lseek64(fd: c_int, off: off_t, whence: c_int) -> off_t {
    if emulated(fd).is_none() {
        return real::lseek64()(fd, off, whence);
    }
    run::<isize>("lseek", || format!("{fd}"), || Err(Errno::ESPIPE)) as off_t
}

// ----- fd table: close, dup*, fcntl, ioctl ------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let Some((h, _)) = emulated(fd) else {
        super::epoll::forget(fd);
        return real::close()(fd);
    };
    run("close", || format!("{fd}"), || {
        close_emulated(h, fd);
        Ok(0)
    })
}

/// Closes the emulated fds in `[first, last]` (the kernel's close_range
/// walks the fd table the same way, fs/file.c `__close_range`); the real
/// call then closes everything else of the range, placeholders included.
fn close_range_emulated(first: c_uint, last: c_uint) {
    let Some(h) = super::host() else { return };
    let Some(slot) = crate::task::my_slot() else { return };
    let limit = last.saturating_add(1);
    for (fd, _) in crate::task::entries(h, slot, limit) {
        if fd as c_uint >= first {
            run::<c_int>("close", || format!("{fd}"), || {
                net::fd_close(h, fd);
                Ok(0)
            });
        }
    }
}

/// CLOSE_RANGE_CLOEXEC only marks the fds: the placeholders carry the flag
/// as any fd does, so the kernel does it alone.
const CLOSE_RANGE_CLOEXEC: c_uint = 4;

#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if flags as c_uint & CLOSE_RANGE_CLOEXEC == 0 && first <= last && !super::reentrant() {
        close_range_emulated(first, last);
        super::epoll::close_range(first, last);
    }
    real::close_range()(first, last, flags)
}

#[no_mangle]
pub unsafe extern "C" fn closefrom(first: c_int) {
    if first >= 0 && !super::reentrant() {
        close_range_emulated(first as c_uint, c_uint::MAX);
        super::epoll::close_range(first as c_uint, c_uint::MAX);
    }
    real::closefrom()(first)
}

/// After a real call put a copy of the placeholder at `newfd`: record it.
fn record_dup(h: &Host, e: FdEntry, newfd: c_int) -> KResult<i64> {
    super::epoll::replaced(newfd);
    if let Err(err) = net::fd_dup(h, e, newfd) {
        crate::sys::close_fd(newfd);
        return Err(err);
    }
    Ok(newfd as i64)
}

/// A real fd replaced an emulated one at `newfd` (dup2 from a real fd).
fn forget_replaced(newfd: c_int) {
    if let Some((h, _)) = emulated(newfd) {
        let _g = super::Guard::enter();
        net::fd_close(h, newfd);
    }
}

#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    let Some((h, e)) = emulated(fd) else {
        let r = real::dup()(fd);
        super::epoll::dup_hook(fd, r);
        return r;
    };
    run("dup", || format!("{fd}"), || {
        let n = real::dup()(fd);
        if n < 0 {
            return Err(Errno::last());
        }
        record_dup(h, e, n)
    })
}

#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    let Some((h, e)) = emulated(old) else {
        let r = real::dup2()(old, new);
        if r >= 0 && old != new {
            forget_replaced(new);
            super::epoll::dup_hook(old, new);
        }
        return r;
    };
    run("dup2", || format!("{old}, {new}"), || {
        if old == new {
            return Ok(new as i64);
        }
        let n = real::dup2()(old, new);
        if n < 0 {
            return Err(Errno::last());
        }
        record_dup(h, e, n)
    })
}

#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    let Some((h, e)) = emulated(old) else {
        let r = real::dup3()(old, new, flags);
        if r >= 0 {
            forget_replaced(new);
            super::epoll::dup_hook(old, new);
        }
        return r;
    };
    run("dup3", || format!("{old}, {new}, {}", tr::fmt_cloexec_flag(flags)), || {
        let n = real::dup3()(old, new, flags);
        if n < 0 {
            return Err(Errno::last());
        }
        record_dup(h, e, n)
    })
}

unsafe fn do_fcntl(h: &Host, e: FdEntry, fd: c_int, cmd: c_int, arg: c_ulong) -> KResult<i64> {
    let sh = &h.shared()[e.sock.idx()];
    match cmd {
        libc::F_GETFL => Ok((libc::O_RDWR as u32 | sh.f_flags.load(Ordering::Relaxed)) as i64),
        libc::F_SETFL => {
            let nb = arg as i32 & libc::O_NONBLOCK;
            if nb != 0 {
                sh.f_flags.fetch_or(libc::O_NONBLOCK as u32, Ordering::Relaxed);
            } else {
                sh.f_flags.fetch_and(!(libc::O_NONBLOCK as u32), Ordering::Relaxed);
            }
            Ok(0)
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let n = real::fcntl()(fd, cmd, arg);
            if n < 0 {
                return Err(Errno::last());
            }
            record_dup(h, e, n)
        }
        // F_SETSIG (10), F_SETOWN_EX (15): signal-driven I/O is not emulated.
        libc::F_SETOWN | 10 | 15 => Ok(0),
        libc::F_GETOWN | 11 => Ok(0),
        _ => {
            // F_GETFD/F_SETFD (close-on-exec lives on the placeholder), locks, ...
            let r = real::fcntl()(fd, cmd, arg);
            if r < 0 {
                Err(Errno::last())
            } else {
                Ok(r as i64)
            }
        }
    }
}

/// fcntl is variadic; on the x86_64 and aarch64 Linux ABIs an integer or
/// pointer third argument arrives exactly like a fixed one, so the hook
/// takes it as `c_ulong` (redhook cannot hook variadic functions at all).
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    let Some((h, e)) = emulated(fd) else {
        let r = real::fcntl()(fd, cmd, arg);
        if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
            super::epoll::dup_hook(fd, r);
        }
        return r;
    };
    run("fcntl", || tr::fmt_fcntl(fd, cmd, arg as u64), || do_fcntl(h, e, fd, cmd, arg))
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    let Some((h, e)) = emulated(fd) else {
        let r = real::fcntl64()(fd, cmd, arg);
        if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
            super::epoll::dup_hook(fd, r);
        }
        return r;
    };
    run("fcntl64", || tr::fmt_fcntl(fd, cmd, arg as u64), || do_fcntl(h, e, fd, cmd, arg))
}

/// ioctl is variadic too; see `fcntl`.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: c_ulong) -> c_int {
    let Some((h, e)) = emulated(fd) else { return real::ioctl()(fd, req, arg) };
    run("ioctl", || tr::fmt_ioctl(fd, req as u64, arg as u64, traced_ok()), || match req {
        libc::FIONBIO => {
            let v = get_i32(arg as usize)?;
            net::sock_ioctl(h, e.sock, req, v).map(|_| 0)
        }
        libc::FIOCLEX | libc::FIONCLEX => {
            let r = real::ioctl()(fd, req, arg);
            if r < 0 {
                Err(Errno::last())
            } else {
                Ok(0)
            }
        }
        libc::FIOASYNC => get_i32(arg as usize).map(|_| 0),
        // sock_ioctl: the private device range copies a struct ifreq in
        // and goes to dev_ioctl, whatever the socket.
        r if (net::SIOCDEVPRIVATE..=net::SIOCDEVPRIVATE + 15).contains(&r) => {
            let ifr = copy_from_user(arg as usize, core::mem::size_of::<libc::ifreq>())?;
            net::dev_ioctl_private(&ifr).map(i64::from)
        }
        _ => {
            let v = net::sock_ioctl(h, e.sock, req, 0)?;
            put_i32(arg as usize, v)?;
            Ok(0)
        }
    })
}

// ----- processes ---------------------------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn fork() -> pid_t {
    let Some(h) = emulating() else { return real::fork()() };
    let _g = super::Guard::enter();
    let mut g = h.header().host.lock();
    let held = task::fork_prepare(h, &mut g);
    let pid = real::fork()();
    if pid == 0 {
        // The parent owns the lock and unlocks it once our slot exists.
        std::mem::forget(g);
        crate::sys::forget_tid();
        task::fork_child();
        task::attach_child(h);
        return 0;
    }
    let err = Errno::last();
    task::fork_parent(h, &mut g, (pid > 0).then_some(pid as u32), &held);
    drop(g);
    if pid < 0 {
        err.set();
    }
    pid
}

/// posix_spawn and posix_spawnp: as fork, the parent takes the child's
/// file references and builds its fd table under the host lock, so the
/// child finds its sockets however early the parent closes its copies. The
/// child's image checks the table against what survived its file actions
/// and exec (task::attach).
macro_rules! spawn_hook {
    ($name:ident) => {
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            pid: *mut pid_t,
            path: *const libc::c_char,
            fa: *const libc::posix_spawn_file_actions_t,
            attr: *const libc::posix_spawnattr_t,
            argv: *const *mut libc::c_char,
            envp: *const *mut libc::c_char,
        ) -> c_int {
            let mut local: pid_t = 0;
            let pidp = if pid.is_null() { &mut local as *mut pid_t } else { pid };
            let Some(h) = emulating() else { return real::$name()(pidp, path, fa, attr, argv, envp) };
            let _g = super::Guard::enter();
            let mut g = h.header().host.lock();
            let held = task::fork_prepare(h, &mut g);
            let r = real::$name()(pidp, path, fa, attr, argv, envp);
            // SAFETY: pidp points at a pid_t (the program's or ours).
            let child = (r == 0).then(|| unsafe { *pidp } as u32);
            task::fork_parent(h, &mut g, child, &held);
            r
        }
    };
}
spawn_hook!(posix_spawn);
spawn_hook!(posix_spawnp);

/// vfork shares the parent's memory until exec; the shim's bookkeeping
/// needs a separate child, and POSIX allows vfork to be fork.
#[no_mangle]
pub unsafe extern "C" fn vfork() -> pid_t {
    fork()
}

fn exit_hook() {
    if let Some(h) = super::HOST.get().and_then(|h| h.as_ref()) {
        let _g = super::Guard::enter();
        tr::clear_path();
        task::exit_process(h);
        // Epoll instances this process was the last holder of.
        super::epoll::exit_gc(h);
        // Real fds this process still holds in flight (SCM_RIGHTS).
        super::carrier::keep_on_exit(h);
        tr::exit_line();
    }
}

#[no_mangle]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    exit_hook();
    real::_exit()(status);
    libc::abort()
}

#[no_mangle]
pub unsafe extern "C" fn _Exit(status: c_int) -> ! {
    exit_hook();
    real::_Exit()(status);
    libc::abort()
}

/// Registered with atexit: the exit path closes this process's sockets.
pub extern "C" fn at_exit() {
    exit_hook();
}

// ----- syscall(2) ---------------------------------------------------------------

/// `syscall()` with a socket number runs the emulation like the libc call.
#[no_mangle]
pub unsafe extern "C" fn syscall(n: c_long, a1: c_long, a2: c_long, a3: c_long, a4: c_long, a5: c_long, a6: c_long) -> c_long {
    let real = || real::syscall()(n, a1, a2, a3, a4, a5, a6);
    if super::reentrant() {
        return real();
    }
    let fd = a1 as c_int;
    let p = |x: c_long| x as usize;
    match n {
        libc::SYS_socket => socket(a1 as c_int, a2 as c_int, a3 as c_int) as c_long,
        libc::SYS_socketpair => socketpair(a1 as c_int, a2 as c_int, a3 as c_int, p(a4) as *mut c_int) as c_long,
        libc::SYS_close_range => close_range(a1 as c_uint, a2 as c_uint, a3 as c_int) as c_long,
        _ if emulated(fd).is_none() => real(),
        libc::SYS_bind => bind(fd, p(a2) as *const sockaddr, a3 as socklen_t) as c_long,
        libc::SYS_listen => listen(fd, a2 as c_int) as c_long,
        libc::SYS_connect => connect(fd, p(a2) as *const sockaddr, a3 as socklen_t) as c_long,
        libc::SYS_accept => accept(fd, p(a2) as *mut sockaddr, p(a3) as *mut socklen_t) as c_long,
        libc::SYS_accept4 => accept4(fd, p(a2) as *mut sockaddr, p(a3) as *mut socklen_t, a4 as c_int) as c_long,
        libc::SYS_getsockname => getsockname(fd, p(a2) as *mut sockaddr, p(a3) as *mut socklen_t) as c_long,
        libc::SYS_getpeername => getpeername(fd, p(a2) as *mut sockaddr, p(a3) as *mut socklen_t) as c_long,
        libc::SYS_shutdown => shutdown(fd, a2 as c_int) as c_long,
        libc::SYS_setsockopt => setsockopt(fd, a2 as c_int, a3 as c_int, p(a4) as *const c_void, a5 as socklen_t) as c_long,
        libc::SYS_getsockopt => getsockopt(fd, a2 as c_int, a3 as c_int, p(a4) as *mut c_void, p(a5) as *mut socklen_t) as c_long,
        libc::SYS_sendto => sendto(fd, p(a2) as *const c_void, p(a3), a4 as c_int, p(a5) as *const sockaddr, a6 as socklen_t) as c_long,
        libc::SYS_recvfrom => recvfrom(fd, p(a2) as *mut c_void, p(a3), a4 as c_int, p(a5) as *mut sockaddr, p(a6) as *mut socklen_t) as c_long,
        libc::SYS_sendmsg => sendmsg(fd, p(a2) as *const msghdr, a3 as c_int) as c_long,
        libc::SYS_recvmsg => recvmsg(fd, p(a2) as *mut msghdr, a3 as c_int) as c_long,
        libc::SYS_read => read(fd, p(a2) as *mut c_void, p(a3)) as c_long,
        libc::SYS_write => write(fd, p(a2) as *const c_void, p(a3)) as c_long,
        libc::SYS_close => close(fd) as c_long,
        libc::SYS_dup => dup(fd) as c_long,
        libc::SYS_dup2 => dup2(fd, a2 as c_int) as c_long,
        libc::SYS_dup3 => dup3(fd, a2 as c_int, a3 as c_int) as c_long,
        libc::SYS_fcntl => fcntl(fd, a2 as c_int, a3 as c_ulong) as c_long,
        libc::SYS_ioctl => ioctl(fd, a2 as c_ulong, a3 as c_ulong) as c_long,
        libc::SYS_sendfile => super::sendfile::sendfile(fd, a2 as c_int, p(a3) as *mut off_t, p(a4)) as c_long,
        _ => real(),
    }
}
