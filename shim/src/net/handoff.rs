//! Handing a socket to the kernel (`NETSHIM_NONLOCAL=kernel`).
//!
//! The emulated host has only `lo`. A connect or send to any other address
//! either fails with ENETUNREACH (the default, `refuse`), or, before the
//! socket is used, the socket becomes a kernel socket: the protocol's
//! non-local check returns the internal [`Errno::HANDOFF`], and the FFI
//! layer (`ffi::handoff`) makes a kernel socket of the same family, type and
//! protocol, copies the options and the bound address listed here, puts it
//! on the program's fd number and makes the call on it.
//!
//! "Before it is used": the socket's file has this one reference (no dup,
//! no fork child sharing it) and nothing is queued for it to read. A TCP
//! socket can only get here from CLOSE (connect refuses the other states
//! first); a UDP socket may have sent to emulated peers, but nothing it
//! received is pending.

use super::addr::Addr;
use super::sock::{SockId, SOCK_BINDADDR_LOCK, SOCK_BINDPORT_LOCK};
use super::socket::{__sys_getsockname, __sys_getsockopt, sock_ioctl, with_host};
use crate::errno::{Errno, KResult};
use crate::shm::Host;
use libc::{AF_INET, AF_INET6, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOCK_STREAM, SOL_SOCKET};

/// What a kernel socket needs to stand in for an emulated one.
pub struct Handoff {
    pub family: i32,
    pub kind: i32,
    pub protocol: i32,
    pub nonblock: bool,
    /// The bound address, when the program's bind gave it a port or a
    /// specific address.
    pub bound: Option<Addr>,
    /// (level, name, value) of the options to set on the kernel socket.
    pub opts: Vec<(i32, i32, Vec<u8>)>,
}

/// What the protocols return for a destination off the emulated host.
pub fn nonlocal_errno() -> Errno {
    match crate::config::nonlocal() {
        crate::config::Nonlocal::Refuse => Errno::ENETUNREACH,
        crate::config::Nonlocal::Kernel => Errno::HANDOFF,
    }
}

/// Options copied to the kernel socket: SO_SNDBUF/SO_RCVBUF are not (a
/// set value would lock the kernel's buffer autotuning), nor options that
/// only mean something on the emulated host (SO_BINDTODEVICE).
const SOCKET_OPTS: &[(i32, usize)] = &[
    (libc::SO_REUSEADDR, 4),
    (libc::SO_REUSEPORT, 4),
    (libc::SO_KEEPALIVE, 4),
    (libc::SO_BROADCAST, 4),
    (libc::SO_OOBINLINE, 4),
    (libc::SO_PRIORITY, 4),
    (libc::SO_TIMESTAMP, 4),
    (libc::SO_LINGER, 8),
    (libc::SO_RCVTIMEO, 16),
    (libc::SO_SNDTIMEO, 16),
];
const TCP_OPTS: &[i32] = &[libc::TCP_NODELAY, libc::TCP_CORK, libc::TCP_KEEPIDLE, libc::TCP_KEEPINTVL, libc::TCP_KEEPCNT, libc::TCP_USER_TIMEOUT];
const IP_OPTS: &[i32] = &[libc::IP_TOS, libc::IP_TTL, libc::IP_RECVERR, libc::IP_PKTINFO];
const IPV6_OPTS: &[i32] = &[libc::IPV6_V6ONLY, libc::IPV6_UNICAST_HOPS, libc::IPV6_TCLASS, libc::IPV6_RECVERR, libc::IPV6_RECVPKTINFO];

fn int_opt(host: &Host, id: SockId, level: i32, name: i32) -> KResult<i32> {
    let b = __sys_getsockopt(host, id, level, name, 4)?;
    Ok(i32::from_ne_bytes(b.get(..4).ok_or(Errno::EINVAL)?.try_into().unwrap_or([0; 4])))
}

/// Whether `a` (an AF_INET/AF_INET6 sockaddr) names a port or a specific
/// address, i.e. the kernel socket must be bound the same way.
fn is_bound(a: &Addr) -> bool {
    let b = a.as_bytes();
    let family = u16::from_ne_bytes([b[0], b[1]]) as i32;
    let port = b.get(2..4).is_some_and(|p| p != [0, 0]);
    let ip = match family {
        AF_INET => b.get(4..8),
        AF_INET6 => b.get(8..24),
        _ => None,
    };
    port || ip.is_some_and(|ip| ip.iter().any(|&x| x != 0))
}

/// The description of `id` for the kernel socket; ENETUNREACH when the
/// socket is past "before it is used" (see the module doc).
pub fn handoff_info(host: &Host, id: SockId) -> KResult<Handoff> {
    let (shared, user_bound) = with_host(host, |g| {
        let c = &g.socks[id.idx()];
        (c.f_count > 1, c.userlocks & (SOCK_BINDADDR_LOCK | SOCK_BINDPORT_LOCK) != 0)
    });
    if shared {
        crate::ktrace!("handoff: the file has other references -> ENETUNREACH");
        return Err(Errno::ENETUNREACH);
    }
    if sock_ioctl(host, id, libc::FIONREAD, 0).unwrap_or(0) != 0 {
        crate::ktrace!("handoff: data queued to read -> ENETUNREACH");
        return Err(Errno::ENETUNREACH);
    }
    let family = int_opt(host, id, SOL_SOCKET, libc::SO_DOMAIN)?;
    let kind = int_opt(host, id, SOL_SOCKET, libc::SO_TYPE)?;
    let protocol = int_opt(host, id, SOL_SOCKET, libc::SO_PROTOCOL)?;
    let nonblock = host.shared()[id.idx()].nonblocking();
    let mut opts = Vec::new();
    let mut take = |level: i32, name: i32, len: usize| {
        if let Ok(v) = __sys_getsockopt(host, id, level, name, len as i32) {
            if v.len() == len {
                opts.push((level, name, v));
            }
        }
    };
    for &(name, len) in SOCKET_OPTS {
        take(SOL_SOCKET, name, len);
    }
    if kind == SOCK_STREAM {
        for &name in TCP_OPTS {
            take(IPPROTO_TCP, name, 4);
        }
    }
    if family == AF_INET {
        for &name in IP_OPTS {
            take(IPPROTO_IP, name, 4);
        }
    } else {
        for &name in IPV6_OPTS {
            take(IPPROTO_IPV6, name, 4);
        }
    }
    // An autobind (a send before the handoff) took an emulated port: the
    // kernel picks its own then.
    let bound = if user_bound { __sys_getsockname(host, id).ok().filter(is_bound) } else { None };
    crate::ktrace!("handoff: a kernel socket takes the fd (NETSHIM_NONLOCAL=kernel)");
    Ok(Handoff { family, kind, protocol, nonblock, bound, opts })
}
