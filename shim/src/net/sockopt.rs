//! SOL_SOCKET options (net/core/sock.c: sk_setsockopt / sk_getsockopt),
//! ancillary data (net/core/scm.c) and the sysctls the stack reads.

use super::sock::*;
use super::socket::{with_host, RecvMsg};
use crate::errno::{Errno, KResult};
use crate::shm::Host;
use std::sync::atomic::{AtomicU64, Ordering};

/// net.core.wmem_default / rmem_default.
pub const WMEM_DEFAULT: u32 = 212992;
pub const RMEM_DEFAULT: u32 = 212992;

/// SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF on x86_64.
const MIN_SNDBUF: u32 = 4608;
const MIN_RCVBUF: u32 = 2304;

fn sysctl(path: &str, default: u32) -> u32 {
    std::fs::read_to_string(path).ok().and_then(|s| s.split_whitespace().next()?.parse().ok()).unwrap_or(default)
}

/// net.core.somaxconn (read once).
pub fn somaxconn() -> u32 {
    static V: once_cell::sync::OnceCell<u32> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| sysctl("/proc/sys/net/core/somaxconn", 4096))
}

/// net.core.wmem_max (`sysctl_wmem_max`), the SO_SNDBUF ceiling.
pub fn wmem_max() -> u32 {
    static V: once_cell::sync::OnceCell<u32> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| sysctl("/proc/sys/net/core/wmem_max", 212992))
}

/// net.core.rmem_max (`sysctl_rmem_max`), the SO_RCVBUF ceiling.
pub fn rmem_max() -> u32 {
    static V: once_cell::sync::OnceCell<u32> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| sysctl("/proc/sys/net/core/rmem_max", 212992))
}

/// net.ipv4.ip_unprivileged_port_start.
pub fn unprivileged_port_start() -> u32 {
    static V: once_cell::sync::OnceCell<u32> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start", 1024))
}

/// net.ipv4.ip_local_port_range.
pub fn local_port_range() -> (u16, u16) {
    static V: once_cell::sync::OnceCell<(u16, u16)> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| {
        let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
        let mut it = s.split_whitespace().filter_map(|x| x.parse().ok());
        match (it.next(), it.next()) {
            (Some(a), Some(b)) => (a, b),
            _ => (32768, 60999),
        }
    })
}

fn int_of(val: &[u8]) -> KResult<i32> {
    if val.len() < 4 {
        return Err(Errno::EINVAL);
    }
    Ok(i32::from_ne_bytes([val[0], val[1], val[2], val[3]]))
}

/// An int option's value, cut to the caller's length as sk_getsockopt does.
pub fn int_out(v: i32, len: usize) -> Vec<u8> {
    let b = v.to_ne_bytes();
    b[..len.min(4)].to_vec()
}

// Option numbers of include/uapi/asm-generic/socket.h the libc crate may
// not name.
const SO_BSDCOMPAT: i32 = 14;
const SO_PEERNAME: i32 = 28;
const SO_PASSSEC: i32 = 34;
const SO_RXQ_OVFL: i32 = 40;
const SO_PEEK_OFF: i32 = 42;
const SO_SELECT_ERR_QUEUE: i32 = 45;
const SO_ZEROCOPY: i32 = 60;
const SO_BINDTOIFINDEX: i32 = 62;
const SO_TIMESTAMP_NEW: i32 = 63;
const SO_TIMESTAMPNS_NEW: i32 = 64;
const SO_RCVTIMEO_NEW: i32 = 66;
const SO_SNDTIMEO_NEW: i32 = 67;

/// `MAX_SCHEDULE_TIMEOUT` (LONG_MAX jiffies): no timeout.
const MAX_SCHEDULE_TIMEOUT: u64 = i64::MAX as u64;
/// A timeout of zero jiffies (what a negative tv_sec sets): the call does
/// not wait. Stored as 1 µs, which no whole number of jiffies can be, since
/// 0 in `rcvtimeo_us`/`sndtimeo_us` means MAX_SCHEDULE_TIMEOUT.
const TIMEO_ZERO_US: u64 = 1;

/// Jiffies to the microseconds the timeout words hold (0: no timeout).
fn timeo_to_us(jiffies: u64) -> u64 {
    if jiffies == MAX_SCHEDULE_TIMEOUT {
        return 0;
    }
    if jiffies == 0 {
        return TIMEO_ZERO_US;
    }
    let hz = crate::sys::kernel_hz() as u128;
    let us = (jiffies as u128 * 1_000_000 + hz / 2) / hz;
    u64::try_from(us).unwrap_or(u64::MAX).max(TIMEO_ZERO_US + 1)
}

/// The timeout words back to jiffies (`sk_rcvtimeo` / `sk_sndtimeo`).
fn timeo_of_us(us: u64) -> u64 {
    match us {
        0 => MAX_SCHEDULE_TIMEOUT,
        TIMEO_ZERO_US => 0,
        _ => {
            let hz = crate::sys::kernel_hz() as u128;
            let j = (us as u128 * hz + 500_000) / 1_000_000;
            u64::try_from(j).unwrap_or(MAX_SCHEDULE_TIMEOUT).min(MAX_SCHEDULE_TIMEOUT)
        }
    }
}

/// `sock_set_timeout` (with `sock_copy_user_timeval`): a timeval in
/// jiffies, rounded up to whole jiffies. The old and the new (64-bit)
/// timeval are the same 16 bytes on the 64-bit ABIs the shim runs on.
fn sock_set_timeout(w: &AtomicU64, val: &[u8]) -> KResult<()> {
    if val.len() < 16 {
        return Err(Errno::EINVAL);
    }
    let sec = i64::from_ne_bytes(val[0..8].try_into().unwrap());
    let usec = i64::from_ne_bytes(val[8..16].try_into().unwrap());
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::EDOM_());
    }
    if sec < 0 {
        w.store(timeo_to_us(0), Ordering::Relaxed);
        return Ok(());
    }
    let hz = crate::sys::kernel_hz();
    let mut timeo = MAX_SCHEDULE_TIMEOUT;
    if (sec != 0 || usec != 0) && (sec as u64) < MAX_SCHEDULE_TIMEOUT / hz - 1 {
        timeo = sec as u64 * hz + (usec as u64).div_ceil(1_000_000 / hz);
    }
    w.store(timeo_to_us(timeo), Ordering::Relaxed);
    Ok(())
}

/// `sock_get_timeout`: the timeval of a timeout in jiffies (0.0: none).
fn sock_get_timeout(us: u64, len: usize) -> Vec<u8> {
    let timeo = timeo_of_us(us);
    let hz = crate::sys::kernel_hz();
    let (sec, usec) = if timeo == MAX_SCHEDULE_TIMEOUT { (0, 0) } else { (timeo / hz, (timeo % hz) * 1_000_000 / hz) };
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&(sec as i64).to_ne_bytes());
    b.extend_from_slice(&(usec as i64).to_ne_bytes());
    b.truncate(len);
    b
}

impl Errno {
    #[allow(non_snake_case)]
    pub fn EDOM_() -> Errno {
        Errno(libc::EDOM)
    }
}

/// `sk_set_prio_allowed`: priorities 0..=6 are anybody's.
fn sk_set_prio_allowed(val: i32) -> bool {
    (0..=6).contains(&val) || crate::sys::capable(crate::sys::CAP_NET_RAW) || crate::sys::capable(crate::sys::CAP_NET_ADMIN)
}

/// `sk_may_scm_recv`: the families that pass SCM_CREDENTIALS/SCM_SECURITY.
fn sk_may_scm_recv(c: &SockCtl) -> bool {
    c.family == libc::AF_UNIX as u16 || c.family == libc::AF_NETLINK as u16
}

const IFNAMSIZ: usize = 16;

/// `dev_get_by_name`: the ifindex of a device of this host's network
/// namespace, from sysfs.
fn dev_get_by_name(name: &[u8]) -> Option<i32> {
    let name = std::str::from_utf8(name).ok()?;
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?.trim().parse().ok()
}

/// `sock_setbindtodevice` -> `sock_bindtoindex_locked`.
fn sock_setbindtodevice(host: &Host, id: SockId, val: &[u8]) -> KResult<()> {
    let n = val.len().min(IFNAMSIZ - 1);
    let mut devname = [0u8; IFNAMSIZ];
    devname[..n].copy_from_slice(&val[..n]);
    let len = devname.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
    let mut index = 0;
    if len > 0 {
        index = dev_get_by_name(&devname[..len]).ok_or(Errno::ENODEV)?;
    }
    with_host(host, |g| {
        let o = &mut g.socks[id.idx()].opts;
        if o.bound_dev_if != 0 && !crate::sys::capable(crate::sys::CAP_NET_RAW) {
            return Err(Errno::EPERM);
        }
        o.bound_dev_if = index;
        o.bound_dev_name = if index != 0 { devname } else { [0; IFNAMSIZ] };
        Ok(())
    })
}

/// `sock_getbindtodevice`.
fn sock_getbindtodevice(o: &Opts, len: usize) -> KResult<Vec<u8>> {
    if o.bound_dev_if == 0 {
        return Ok(Vec::new());
    }
    if len < IFNAMSIZ {
        return Err(Errno::EINVAL);
    }
    let n = o.bound_dev_name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ - 1);
    Ok(o.bound_dev_name[..=n.min(IFNAMSIZ - 1)].to_vec())
}

/// `sk_setsockopt`.
pub fn sock_setsockopt(host: &Host, id: SockId, name: i32, val: &[u8]) -> KResult<()> {
    let s = &host.shared()[id.idx()];
    if name == libc::SO_BINDTODEVICE {
        return sock_setbindtodevice(host, id, val);
    }
    let v = int_of(val)?;
    let on = v != 0;
    // The options sk_setsockopt handles before lock_sock.
    match name {
        libc::SO_PRIORITY => {
            if !sk_set_prio_allowed(v) {
                return Err(Errno::EPERM);
            }
            return with_host(host, |g| {
                g.socks[id.idx()].opts.priority = v;
                Ok(())
            });
        }
        libc::SO_TYPE | libc::SO_PROTOCOL | libc::SO_DOMAIN | libc::SO_ERROR => return Err(Errno::ENOPROTOOPT),
        SO_PEEK_OFF => {
            return match super::socket::ops(host, id).set_peek_off {
                Some(set_peek_off) => set_peek_off(host, id, v),
                None => Err(Errno::EOPNOTSUPP),
            };
        }
        libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW => return sock_set_timeout(&s.rcvtimeo_us, val),
        libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW => return sock_set_timeout(&s.sndtimeo_us, val),
        _ => {}
    }
    with_host(host, |g| {
        let c = &mut g.socks[id.idx()];
        match name {
            libc::SO_DEBUG => {
                if on && !crate::sys::capable(crate::sys::CAP_NET_ADMIN) {
                    return Err(Errno::EACCES);
                }
                c.opts.debug = on;
            }
            libc::SO_REUSEADDR => c.opts.reuseaddr = on,
            libc::SO_REUSEPORT => {
                if on && c.family != libc::AF_INET as u16 && c.family != libc::AF_INET6 as u16 {
                    return Err(Errno::EOPNOTSUPP);
                }
                c.opts.reuseport = on
            }
            libc::SO_DONTROUTE => c.opts.dontroute = on,
            libc::SO_BROADCAST => c.opts.broadcast = on,
            libc::SO_SNDBUF | libc::SO_SNDBUFFORCE => {
                let v = if name == libc::SO_SNDBUF {
                    (v as u32).min(wmem_max())
                } else {
                    if !crate::sys::capable(crate::sys::CAP_NET_ADMIN) {
                        return Err(Errno::EPERM);
                    }
                    v.max(0) as u32
                };
                let v = v.min(i32::MAX as u32 / 2);
                s.sndbuf.store((v * 2).max(MIN_SNDBUF), Ordering::Relaxed);
                // sk_write_space: a bigger buffer may let writers go on.
                s.wq.wake();
            }
            libc::SO_RCVBUF | libc::SO_RCVBUFFORCE => {
                let v = if name == libc::SO_RCVBUF {
                    (v as u32).min(rmem_max())
                } else {
                    if !crate::sys::capable(crate::sys::CAP_NET_ADMIN) {
                        return Err(Errno::EPERM);
                    }
                    v.max(0) as u32
                };
                // __sock_set_rcvbuf
                let v = v.min(i32::MAX as u32 / 2);
                s.rcvbuf.store((v * 2).max(MIN_RCVBUF), Ordering::Relaxed);
            }
            libc::SO_KEEPALIVE => c.opts.keepalive = on,
            libc::SO_OOBINLINE => {
                c.opts.oobinline = on;
                s.set_flag(SOCK_URGINLINE, on);
            }
            libc::SO_NO_CHECK => c.opts.no_check = on,
            libc::SO_LINGER => {
                if val.len() < 8 {
                    return Err(Errno::EINVAL);
                }
                let onoff = int_of(&val[0..4])?;
                let secs = int_of(&val[4..8])?;
                if onoff == 0 {
                    // sock_reset_flag(SOCK_LINGER): sk_lingertime stays.
                    c.opts.linger_on = false;
                } else {
                    // The kernel keeps secs * HZ, or MAX_SCHEDULE_TIMEOUT for
                    // what does not fit (a negative l_linger is huge as
                    // unsigned long); SO_LINGER reads back lingertime / HZ.
                    c.opts.linger_secs = if secs < 0 { (MAX_SCHEDULE_TIMEOUT / crate::sys::kernel_hz()) as i32 } else { secs };
                    c.opts.linger_on = true;
                }
            }
            SO_BSDCOMPAT => {}
            libc::SO_TIMESTAMP | libc::SO_TIMESTAMPNS | SO_TIMESTAMP_NEW | SO_TIMESTAMPNS_NEW => {
                // sock_set_timestamp -> __sock_set_timestamps
                c.opts.rcvtstamp = on;
                c.opts.rcvtstampns = on && (name == libc::SO_TIMESTAMPNS || name == SO_TIMESTAMPNS_NEW);
                if on {
                    c.opts.tstamp_new = name == SO_TIMESTAMP_NEW || name == SO_TIMESTAMPNS_NEW;
                }
            }
            libc::SO_RCVLOWAT => {
                let v = if v < 0 { i32::MAX } else { v };
                // sock->ops->set_rcvlowat: inet_stream_ops / inet6_stream_ops
                // have tcp_set_rcvlowat; the others store the value.
                if c.ops == OpsId::InetStream {
                    super::inet_sockopt::tcp_set_rcvlowat(s, c, v);
                } else {
                    c.opts.rcvlowat = if v == 0 { 1 } else { v };
                }
            }
            libc::SO_PASSCRED => {
                c.opts.passcred = on;
                s.set_flag(SOCK_PASSCRED, on);
            }
            SO_PASSSEC => {
                if !sk_may_scm_recv(c) {
                    return Err(Errno::EOPNOTSUPP);
                }
                c.opts.passsec = on;
            }
            libc::SO_MARK => {
                if !crate::sys::capable(crate::sys::CAP_NET_RAW) && !crate::sys::capable(crate::sys::CAP_NET_ADMIN) {
                    return Err(Errno::EPERM);
                }
                c.opts.mark = v as u32;
            }
            SO_RXQ_OVFL => c.opts.rxq_ovfl = on,
            SO_SELECT_ERR_QUEUE => c.opts.select_err_queue = on,
            SO_ZEROCOPY => {
                let inet = c.family == libc::AF_INET as u16 || c.family == libc::AF_INET6 as u16;
                let ok = inet
                    && (c.kind == libc::SOCK_STREAM as u16
                        || (c.kind == libc::SOCK_DGRAM as u16 && c.protocol == libc::IPPROTO_UDP as u16));
                if !ok {
                    return Err(Errno::EOPNOTSUPP);
                }
                if !(0..=1).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                c.opts.zerocopy = on;
            }
            libc::SO_BUSY_POLL => {}
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    })
}

/// `sk_set_peek_off`: stores `sk_peek_off` (the ops' `set_peek_off`).
pub fn sk_set_peek_off(host: &Host, id: SockId, val: i32) -> KResult<()> {
    host.shared()[id.idx()].sk_peek_off.store(val, Ordering::Relaxed);
    Ok(())
}

/// `sk_getsockopt`: the value bytes, already cut to `len`.
pub fn sock_getsockopt(host: &Host, id: SockId, name: i32, len: usize) -> KResult<Vec<u8>> {
    let s = &host.shared()[id.idx()];
    match name {
        SO_PEERNAME => {
            // ops->getname(sock, addr, 2): the peer's name.
            let a = (super::socket::ops(host, id).getname)(host, id, true).map_err(|_| Errno::ENOTCONN)?;
            let b = a.as_bytes();
            if b.len() < len {
                return Err(Errno::EINVAL);
            }
            return Ok(b[..len].to_vec());
        }
        SO_PEEK_OFF => {
            if super::socket::ops(host, id).set_peek_off.is_none() {
                return Err(Errno::EOPNOTSUPP);
            }
            return Ok(int_out(s.sk_peek_off.load(Ordering::Relaxed), len));
        }
        libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW => return Ok(sock_get_timeout(s.rcvtimeo_us.load(Ordering::Relaxed), len)),
        libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW => return Ok(sock_get_timeout(s.sndtimeo_us.load(Ordering::Relaxed), len)),
        _ => {}
    }
    with_host(host, |g| {
        let c = &g.socks[id.idx()];
        let o = &c.opts;
        let v: i32 = match name {
            libc::SO_BINDTODEVICE => return sock_getbindtodevice(o, len),
            // sk_bound_dev_if (SO_BINDTODEVICE, or a scope id given to bind/connect).
            SO_BINDTOIFINDEX => o.bound_dev_if,
            libc::SO_DEBUG => o.debug as i32,
            libc::SO_DONTROUTE => o.dontroute as i32,
            libc::SO_BROADCAST => o.broadcast as i32,
            libc::SO_SNDBUF => s.sndbuf.load(Ordering::Relaxed) as i32,
            libc::SO_RCVBUF => s.rcvbuf.load(Ordering::Relaxed) as i32,
            libc::SO_REUSEADDR => o.reuseaddr as i32,
            libc::SO_REUSEPORT => o.reuseport as i32,
            libc::SO_KEEPALIVE => o.keepalive as i32,
            libc::SO_TYPE => c.kind as i32,
            libc::SO_PROTOCOL => c.protocol as i32,
            libc::SO_DOMAIN => c.family as i32,
            libc::SO_ERROR => s.take_err().map_or(0, |e| e.0),
            libc::SO_OOBINLINE => o.oobinline as i32,
            libc::SO_NO_CHECK => o.no_check as i32,
            libc::SO_PRIORITY => o.priority,
            libc::SO_LINGER => {
                let mut b = Vec::with_capacity(8);
                b.extend_from_slice(&(o.linger_on as i32).to_ne_bytes());
                b.extend_from_slice(&o.linger_secs.to_ne_bytes());
                b.truncate(len);
                return Ok(b);
            }
            SO_BSDCOMPAT => 0,
            libc::SO_TIMESTAMP => (o.rcvtstamp && !o.tstamp_new && !o.rcvtstampns) as i32,
            libc::SO_TIMESTAMPNS => (o.rcvtstampns && !o.tstamp_new) as i32,
            SO_TIMESTAMP_NEW => (o.rcvtstamp && o.tstamp_new) as i32,
            SO_TIMESTAMPNS_NEW => (o.rcvtstampns && o.tstamp_new) as i32,
            libc::SO_RCVLOWAT => o.rcvlowat.max(1),
            libc::SO_SNDLOWAT => 1,
            libc::SO_PASSCRED => o.passcred as i32,
            libc::SO_PEERCRED => {
                let pc = if c.family == libc::AF_UNIX as u16 { c.peer_cred } else { Cred { pid: 0, uid: u32::MAX, gid: u32::MAX } };
                let mut b = Vec::with_capacity(12);
                b.extend_from_slice(&pc.pid.to_ne_bytes());
                b.extend_from_slice(&pc.uid.to_ne_bytes());
                b.extend_from_slice(&pc.gid.to_ne_bytes());
                b.truncate(len);
                return Ok(b);
            }
            libc::SO_ACCEPTCONN => (s.state() == TcpState::Listen) as i32,
            SO_PASSSEC => {
                if !sk_may_scm_recv(c) {
                    return Err(Errno::EOPNOTSUPP);
                }
                o.passsec as i32
            }
            libc::SO_MARK => o.mark as i32,
            SO_RXQ_OVFL => o.rxq_ovfl as i32,
            SO_SELECT_ERR_QUEUE => o.select_err_queue as i32,
            SO_ZEROCOPY => o.zerocopy as i32,
            _ => return Err(Errno::ENOPROTOOPT),
        };
        Ok(int_out(v, len))
    })
}

/// `put_cmsg`: appends one control message if it fits, else sets MSG_CTRUNC.
pub fn put_cmsg(msg: &mut RecvMsg<'_>, level: i32, ty: i32, data: &[u8]) {
    let hdr = core::mem::size_of::<libc::cmsghdr>();
    let len = hdr + data.len();
    let space = (len + 7) & !7;
    let room = msg.control_cap.saturating_sub(msg.control.len());
    if room < hdr {
        msg.msg_flags |= libc::MSG_CTRUNC;
        return;
    }
    let (take, trunc) = if room < len { (room, true) } else { (len, false) };
    let mut b = Vec::with_capacity(space);
    b.extend_from_slice(&(take as u64).to_ne_bytes()); // cmsg_len (size_t)
    b.extend_from_slice(&level.to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(&data[..take - hdr]);
    if trunc {
        msg.msg_flags |= libc::MSG_CTRUNC;
    } else {
        b.resize(space.min(room), 0);
    }
    msg.control.extend_from_slice(&b);
}
