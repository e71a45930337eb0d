//! SOL_SOCKET options (net/core/sock.c: sk_setsockopt / sk_getsockopt),
//! ancillary data (net/core/scm.c) and the sysctls the stack reads.

use super::sock::*;
use super::socket::{with_host, RecvMsg};
use crate::errno::{Errno, KResult};
use crate::shm::Host;
use std::sync::atomic::Ordering;

/// net.core.wmem_default / rmem_default, and the _max the setters cap at.
pub const WMEM_DEFAULT: u32 = 212992;
pub const RMEM_DEFAULT: u32 = 212992;
const WMEM_MAX: u32 = 212992;
const RMEM_MAX: u32 = 212992;
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

/// CONFIG_HZ of the kernel emulated: timeouts are kept in jiffies.
pub const HZ: u64 = 250;
const USEC_PER_JIFFY: u64 = 1_000_000 / HZ;
/// MAX_SCHEDULE_TIMEOUT (LONG_MAX) in seconds, the bound sock_set_timeout
/// and SO_LINGER test against.
const MAX_TIMEOUT_SECS: u64 = i64::MAX as u64 / HZ;

/// `sock_set_timeout`: the timeout rounded up to whole jiffies, kept in
/// microseconds (0: none, MAX_SCHEDULE_TIMEOUT).
fn timeval_us(val: &[u8]) -> KResult<u64> {
    if val.len() < 16 {
        return Err(Errno::EINVAL);
    }
    let sec = i64::from_ne_bytes(val[0..8].try_into().unwrap());
    let usec = i64::from_ne_bytes(val[8..16].try_into().unwrap());
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::EDOM_());
    }
    if sec < 0 {
        return Ok(0);
    }
    if (sec == 0 && usec == 0) || sec as u64 >= MAX_TIMEOUT_SECS - 1 {
        return Ok(0);
    }
    let jiffies = sec as u64 * HZ + (usec as u64).div_ceil(USEC_PER_JIFFY);
    Ok(jiffies * USEC_PER_JIFFY)
}

/// `sockopt_ns_capable` / `sockopt_capable`: whether the calling process
/// has `cap` in its effective set now (asked each time: a process may
/// drop its privileges after it created the socket).
pub fn sockopt_capable(cap: u32) -> bool {
    // struct __user_cap_header_struct / __user_cap_data_struct (v3).
    let hdr: [u32; 2] = [0x20080522, 0];
    let mut data = [0u32; 6];
    // SAFETY: capget writes two 3-word data structs for version 3 into
    // `data`, which has room for them; `hdr` is read only.
    let r = unsafe { crate::syscall!(SYS_capget, hdr.as_ptr(), data.as_mut_ptr()) };
    r.is_ok() && data[(cap / 32) as usize * 3] & (1 << (cap % 32)) != 0
}

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
const SO_TIMESTAMP_NEW: i32 = 63;
const SO_TIMESTAMPNS_NEW: i32 = 64;
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
        if o.bound_dev_if != 0 && !sockopt_capable(CAP_NET_RAW) {
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

impl Errno {
    #[allow(non_snake_case)]
    pub fn EDOM_() -> Errno {
        Errno(libc::EDOM)
    }
}

/// `sk_setsockopt`.
pub fn sock_setsockopt(host: &Host, id: SockId, name: i32, val: &[u8]) -> KResult<()> {
    let s = &host.shared()[id.idx()];
    match name {
        libc::SO_RCVTIMEO | libc::SO_SNDTIMEO => {
            let us = timeval_us(val)?;
            let w = if name == libc::SO_RCVTIMEO { &s.rcvtimeo_us } else { &s.sndtimeo_us };
            w.store(us, Ordering::Relaxed);
            return Ok(());
        }
        libc::SO_LINGER => {
            if val.len() < 8 {
                return Err(Errno::EINVAL);
            }
            let on = int_of(&val[0..4])?;
            let secs = int_of(&val[4..8])?;
            return with_host(host, |g| {
                let o = &mut g.socks[id.idx()].opts;
                // Off keeps sk_lingertime; on stores it in jiffies, an
                // (unsigned long) l_linger past MAX_SCHEDULE_TIMEOUT / HZ as
                // MAX_SCHEDULE_TIMEOUT, which SO_LINGER reads back / HZ.
                o.linger_on = on != 0;
                if on != 0 {
                    let t = secs as i64 as u64;
                    o.linger_secs = if t >= MAX_TIMEOUT_SECS { MAX_TIMEOUT_SECS as i32 } else { secs };
                }
                Ok(())
            });
        }
        libc::SO_BINDTODEVICE => return sock_setbindtodevice(host, id, val),
        _ => {}
    }
    let v = int_of(val)?;
    let on = v != 0;
    match name {
        // sk_set_prio_allowed
        libc::SO_PRIORITY if !(0..=6).contains(&v) && !sockopt_capable(CAP_NET_RAW) && !sockopt_capable(CAP_NET_ADMIN) => {
            return Err(Errno::EPERM)
        }
        libc::SO_MARK if !sockopt_capable(CAP_NET_RAW) && !sockopt_capable(CAP_NET_ADMIN) => return Err(Errno::EPERM),
        libc::SO_SNDBUFFORCE | libc::SO_RCVBUFFORCE if !sockopt_capable(CAP_NET_ADMIN) => return Err(Errno::EPERM),
        _ => {}
    }
    with_host(host, |g| {
        let c = &mut g.socks[id.idx()];
        match name {
            libc::SO_REUSEADDR => c.opts.reuseaddr = on,
            libc::SO_REUSEPORT => {
                if c.family == libc::AF_UNIX as u16 {
                    return Err(Errno::EOPNOTSUPP);
                }
                c.opts.reuseport = on
            }
            libc::SO_KEEPALIVE => c.opts.keepalive = on,
            libc::SO_BROADCAST => c.opts.broadcast = on,
            libc::SO_OOBINLINE => c.opts.oobinline = on,
            libc::SO_PASSCRED => {
                c.opts.passcred = on;
                s.set_flag(SOCK_PASSCRED, on);
            }
            libc::SO_SNDBUF | libc::SO_SNDBUFFORCE => {
                let v = (v.max(0) as u32).min(if name == libc::SO_SNDBUF { WMEM_MAX } else { i32::MAX as u32 / 2 });
                s.sndbuf.store((v * 2).max(MIN_SNDBUF), Ordering::Relaxed);
            }
            libc::SO_RCVBUF | libc::SO_RCVBUFFORCE => {
                let v = (v.max(0) as u32).min(if name == libc::SO_RCVBUF { RMEM_MAX } else { i32::MAX as u32 / 2 });
                s.rcvbuf.store((v * 2).max(MIN_RCVBUF), Ordering::Relaxed);
            }
            libc::SO_RCVLOWAT => {
                let v = if v < 0 { i32::MAX } else { v };
                if c.ops == OpsId::InetStream {
                    super::inet_sockopt::tcp_set_rcvlowat(s, c, v);
                } else {
                    c.opts.rcvlowat = v.max(1);
                }
            }
            libc::SO_PRIORITY => c.opts.priority = v,
            libc::SO_MARK => c.opts.mark = v as u32,
            libc::SO_DONTROUTE => c.opts.dontroute = on,
            libc::SO_NO_CHECK => c.opts.no_check_tx = on,
            // sock_set_timestamp
            libc::SO_TIMESTAMP | libc::SO_TIMESTAMPNS | SO_TIMESTAMP_NEW | SO_TIMESTAMPNS_NEW => {
                if on {
                    c.opts.tstamp_new = name == SO_TIMESTAMP_NEW || name == SO_TIMESTAMPNS_NEW;
                    c.opts.rcvtstampns = name == libc::SO_TIMESTAMPNS || name == SO_TIMESTAMPNS_NEW;
                    c.opts.rcvtstamp = true;
                } else {
                    c.opts.rcvtstamp = false;
                    c.opts.rcvtstampns = false;
                }
            }
            libc::SO_DEBUG | libc::SO_ZEROCOPY | libc::SO_BUSY_POLL => {}
            libc::SO_SNDLOWAT => return Err(Errno::ENOPROTOOPT),
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    })
}

/// `sock_get_timeout`: whole jiffies back to a timeval.
fn timeval_out(us: u64, len: usize) -> Vec<u8> {
    let j = us / USEC_PER_JIFFY;
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&((j / HZ) as i64).to_ne_bytes());
    b.extend_from_slice(&(((j % HZ) * 1_000_000 / HZ) as i64).to_ne_bytes());
    b.truncate(len);
    b
}

/// `sk_getsockopt`: the value bytes, already cut to `len`.
pub fn sock_getsockopt(host: &Host, id: SockId, name: i32, len: usize) -> KResult<Vec<u8>> {
    let s = &host.shared()[id.idx()];
    with_host(host, |g| {
        let c = &g.socks[id.idx()];
        let v: i32 = match name {
            libc::SO_TYPE => c.kind as i32,
            libc::SO_DOMAIN => c.family as i32,
            libc::SO_PROTOCOL => c.protocol as i32,
            libc::SO_ACCEPTCONN => (s.state() == TcpState::Listen) as i32,
            libc::SO_ERROR => s.take_err().map_or(0, |e| e.0),
            libc::SO_REUSEADDR => c.opts.reuseaddr as i32,
            libc::SO_REUSEPORT => c.opts.reuseport as i32,
            libc::SO_KEEPALIVE => c.opts.keepalive as i32,
            libc::SO_BROADCAST => c.opts.broadcast as i32,
            libc::SO_OOBINLINE => c.opts.oobinline as i32,
            libc::SO_PASSCRED => c.opts.passcred as i32,
            libc::SO_SNDBUF => s.sndbuf.load(Ordering::Relaxed) as i32,
            libc::SO_RCVBUF => s.rcvbuf.load(Ordering::Relaxed) as i32,
            libc::SO_RCVLOWAT => c.opts.rcvlowat.max(1),
            libc::SO_SNDLOWAT => 1,
            libc::SO_PRIORITY => c.opts.priority,
            libc::SO_MARK => c.opts.mark as i32,
            libc::SO_DONTROUTE => c.opts.dontroute as i32,
            libc::SO_NO_CHECK => c.opts.no_check_tx as i32,
            libc::SO_DEBUG => 0,
            libc::SO_TIMESTAMP => (c.opts.rcvtstamp && !c.opts.tstamp_new && !c.opts.rcvtstampns) as i32,
            libc::SO_TIMESTAMPNS => (c.opts.rcvtstampns && !c.opts.tstamp_new) as i32,
            SO_TIMESTAMP_NEW => (c.opts.rcvtstamp && c.opts.tstamp_new && !c.opts.rcvtstampns) as i32,
            SO_TIMESTAMPNS_NEW => (c.opts.rcvtstampns && c.opts.tstamp_new) as i32,
            libc::SO_BINDTODEVICE => return sock_getbindtodevice(&c.opts, len),
            libc::SO_RCVTIMEO => return Ok(timeval_out(s.rcvtimeo_us.load(Ordering::Relaxed), len)),
            libc::SO_SNDTIMEO => return Ok(timeval_out(s.sndtimeo_us.load(Ordering::Relaxed), len)),
            libc::SO_LINGER => {
                let mut b = Vec::with_capacity(8);
                b.extend_from_slice(&(c.opts.linger_on as i32).to_ne_bytes());
                b.extend_from_slice(&c.opts.linger_secs.to_ne_bytes());
                b.truncate(len);
                return Ok(b);
            }
            libc::SO_PEERCRED => {
                let pc = if c.family == libc::AF_UNIX as u16 { c.peer_cred } else { Cred { pid: 0, uid: u32::MAX, gid: u32::MAX } };
                let mut b = Vec::with_capacity(12);
                b.extend_from_slice(&pc.pid.to_ne_bytes());
                b.extend_from_slice(&pc.uid.to_ne_bytes());
                b.extend_from_slice(&pc.gid.to_ne_bytes());
                b.truncate(len);
                return Ok(b);
            }
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

/// Parses SCM_RIGHTS in sendmsg control data into sockets, taking an
/// in-flight file reference on each. Real (non-emulated) fds cannot cross
/// processes through the emulation: EOPNOTSUPP.
pub fn scm_rights_in(host: &Host, control: &[u8]) -> KResult<Vec<SockId>> {
    let hdr = core::mem::size_of::<libc::cmsghdr>();
    let mut out = Vec::new();
    let mut off = 0;
    while off + hdr <= control.len() {
        let clen = u64::from_ne_bytes(control[off..off + 8].try_into().unwrap()) as usize;
        let level = i32::from_ne_bytes(control[off + 8..off + 12].try_into().unwrap());
        let ty = i32::from_ne_bytes(control[off + 12..off + 16].try_into().unwrap());
        if clen < hdr || off + clen > control.len() {
            scm_rights_drop(host, &out);
            return Err(Errno::EINVAL);
        }
        if level == libc::SOL_SOCKET && ty == libc::SCM_RIGHTS {
            for c in control[off + hdr..off + clen].chunks_exact(4) {
                let fd = i32::from_ne_bytes(c.try_into().unwrap());
                match crate::task::lookup(host, fd) {
                    Some(e) => {
                        with_host(host, |g| g.socks[e.sock.idx()].f_count += 1);
                        out.push(e.sock);
                    }
                    None => {
                        scm_rights_drop(host, &out);
                        return Err(if crate::ffi::real_fd_valid(fd) { Errno::EOPNOTSUPP } else { Errno::EBADF });
                    }
                }
            }
        }
        off += (clen + 7) & !7;
    }
    Ok(out)
}

/// Drops in-flight references of sockets a failed send carried.
pub fn scm_rights_drop(host: &Host, socks: &[SockId]) {
    with_host(host, |g| {
        for s in socks {
            super::socket::fput(host, g, *s);
        }
    })
}
