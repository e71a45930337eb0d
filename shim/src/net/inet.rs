//! AF_INET and AF_INET6 on the emulated loopback: net/ipv4/af_inet.c,
//! inet_connection_sock.c, inet_hashtables.c, tcp.c, tcp_input.c, udp.c and
//! their net/ipv6 twins, reduced to what a single host with only `lo` does.
//!
//! There are no packets: a connect finds the listener and completes the
//! three-way handshake as state changes (SYN_SENT -> ESTABLISHED on the
//! client, a child queued ESTABLISHED on the listener), a FIN is a state
//! change plus RCV_SHUTDOWN on the peer, a RST is an error on the peer.
//! Data goes straight into the peer's receive ring, as loopback delivers it.
//!
//! IPv4 addresses are kept v4-mapped (`InetAddr`), so dual-stack sockets
//! and IPv4 sockets meet in one port table.

use super::addr::{family_of, Addr, InetAddr};
use super::dev;
use super::queue;
use super::sock::*;
use super::socket::*;
use super::inet_sockopt;
use super::inet_timewait::{self, InetTimewaitSock};
use super::sockopt;
use super::unix::{acceptq_pop, send_sigpipe};
use crate::errno::{Errno, KResult};
use crate::ktrace;
use crate::shm::{Host, HostState, INET_LHTABLE_SIZE};
use std::sync::atomic::Ordering;

pub static INET_STREAM_OPS: ProtoOps = ProtoOps {
    name: "inet_stream_ops",
    release: inet_release,
    bind: inet_bind,
    connect: inet_stream_connect,
    accept: inet_accept,
    getname: inet_getname,
    poll: tcp_poll,
    ioctl: inet_ioctl,
    listen: inet_listen,
    shutdown: inet_shutdown,
    setsockopt: inet_sockopt::inet_setsockopt,
    getsockopt: inet_sockopt::inet_getsockopt,
    sendmsg: tcp_sendmsg,
    recvmsg: tcp_recvmsg,
    // sk_set_peek_off / udp_set_peek_off: store sk_peek_off.
    set_peek_off: Some(super::sockopt::sk_set_peek_off),
};

pub static INET_DGRAM_OPS: ProtoOps = ProtoOps {
    name: "inet_dgram_ops",
    release: inet_release,
    bind: inet_bind,
    connect: inet_dgram_connect,
    accept: sock_no_accept,
    getname: inet_getname,
    poll: udp_poll,
    ioctl: inet_ioctl,
    listen: sock_no_listen,
    shutdown: inet_shutdown,
    setsockopt: inet_sockopt::inet_setsockopt,
    getsockopt: inet_sockopt::inet_getsockopt,
    sendmsg: udp_sendmsg,
    recvmsg: udp_recvmsg,
    // sk_set_peek_off / udp_set_peek_off: store sk_peek_off.
    set_peek_off: Some(super::sockopt::sk_set_peek_off),
};

const SIOCATMARK: u64 = 0x8905;
const SIOCOUTQNSD: u64 = 0x894b;
const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;
const IPPROTO_MAX: i32 = 263;
/// tcp_rmem[1], tcp_wmem[1]: a fresh TCP socket's buffers.
const TCP_RMEM_DEFAULT: u32 = 131072;
const TCP_WMEM_DEFAULT: u32 = 16384;

fn sh(host: &Host, id: SockId) -> &SockShared {
    &host.shared()[id.idx()]
}

fn is_tcp(c: &SockCtl) -> bool {
    c.kind == libc::SOCK_STREAM as u16
}

/// `inet_create` / `inet6_create`: the inetsw lookup by type and protocol.
pub fn inet_create(host: &Host, g: &mut HostState, family: u16, ty: i32, protocol: i32) -> KResult<SockId> {
    ktrace!("inet_create");
    if !(0..IPPROTO_MAX).contains(&protocol) {
        return Err(Errno::EINVAL);
    }
    let (kind, proto, ops) = match ty {
        libc::SOCK_STREAM => match protocol {
            0 | libc::IPPROTO_TCP => (ty, libc::IPPROTO_TCP, OpsId::InetStream),
            _ => return Err(Errno::EPROTONOSUPPORT),
        },
        libc::SOCK_DGRAM => match protocol {
            0 | libc::IPPROTO_UDP => (ty, libc::IPPROTO_UDP, OpsId::InetDgram),
            _ => return Err(Errno::EPROTONOSUPPORT),
        },
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    let id = sk_alloc(host, g, family, kind as u16, proto as u16, ops)?;
    let s = sh(host, id);
    if kind == libc::SOCK_STREAM {
        s.sndbuf.store(TCP_WMEM_DEFAULT, Ordering::Relaxed);
        s.rcvbuf.store(TCP_RMEM_DEFAULT, Ordering::Relaxed);
    }
    let o = &mut g.socks[id.idx()].opts;
    o.ttl = -1;
    o.keepidle = 7200;
    o.keepintvl = 75;
    o.keepcnt = 9;
    inet_sockopt::inet_init_opts(&mut g.socks[id.idx()]);
    Ok(id)
}

// ----- addresses and the port table ------------------------------------------

/// The address a socket's bind would cover: (v4 part, v6 part), None where
/// it covers nothing of that family. `Some(any)` covers all.
fn coverage(c: &SockCtl) -> (Option<InetAddr>, Option<InetAddr>) {
    coverage_of(c.family, c.laddr, c.opts.v6only)
}

/// `coverage` of a bound (family, address, ipv6only).
fn coverage_of(family: u16, a: InetAddr, v6only: bool) -> (Option<InetAddr>, Option<InetAddr>) {
    if family == AF_INET {
        return (Some(a), None);
    }
    if a.is_v4() && !a.is_any() {
        return (Some(a), None);
    }
    if a.ip == [0; 16] {
        let v4 = if v6only { None } else { Some(InetAddr::v4([0; 4], 0)) };
        return (v4, Some(a));
    }
    if a.is_v4() {
        // ::ffff:0.0.0.0 covers all of IPv4 only.
        return (Some(a), None);
    }
    (None, Some(a))
}

fn overlap(a: Option<InetAddr>, b: Option<InetAddr>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.is_any() || y.is_any() || x.ip == y.ip,
        _ => false,
    }
}

fn addrs_overlap(a: &SockCtl, b: &SockCtl) -> bool {
    let (a4, a6) = coverage(a);
    let (b4, b6) = coverage(b);
    overlap(a4, b4) || overlap(a6, b6)
}

/// The sockets on the bind chain of `port` (`inet_bhashfn` +
/// `inet_bind_bucket_for_each`, owners included).
fn inet_bhash_owners(g: &HostState, port: u16) -> impl Iterator<Item = usize> + '_ {
    g.inet_bhash.iter(port as usize).filter(move |&i| g.socks[i].in_use && g.socks[i].num == port)
}

/// Sets `inet_num`, moving the socket to the bind chain of the new port
/// (`inet_bind_hash`) or off the table for 0 (`__inet_put_port`). A
/// listener whose port changes leaves the listening hash too.
fn inet_set_num(g: &mut HostState, id: SockId, port: u16) {
    let i = id.idx();
    let old = g.socks[i].num;
    g.socks[i].num = port;
    if port == 0 {
        g.inet_bhash.del(i);
    } else if g.inet_bhash.chain_of(i) != Some(port as usize) {
        g.inet_bhash.add(port as usize, i);
    }
    if old != port {
        g.inet_lhash.del(i);
    }
}

/// `inet_hash` -> `__inet_hash`: a listener goes on the listening chain of its port.
fn inet_hash(g: &mut HostState, id: SockId) {
    let port = g.socks[id.idx()].num as usize;
    if g.inet_lhash.chain_of(id.idx()) != Some(port % INET_LHTABLE_SIZE) {
        g.inet_lhash.add(port % INET_LHTABLE_SIZE, id.idx());
    }
}

/// Sets `pending_connect` (the listener a waiting SYN is for), keeping the
/// host's count of waiting SYNs.
fn set_pending_connect(g: &mut HostState, id: SockId, v: u32) {
    let c = &mut g.socks[id.idx()];
    match (c.pending_connect != 0, v != 0) {
        (false, true) => g.tcp_pending_connects += 1,
        (true, false) => g.tcp_pending_connects = g.tcp_pending_connects.saturating_sub(1),
        _ => {}
    }
    g.socks[id.idx()].pending_connect = v;
}

/// The sockets whose SYN waits for listener `l` (none unless some SYN waits).
fn pending_for(g: &HostState, l: SockId) -> Vec<usize> {
    if g.tcp_pending_connects == 0 {
        return Vec::new();
    }
    let want = SockId::pack(Some(l));
    (0..g.nsocks_hw as usize).filter(|&i| g.socks[i].in_use && g.socks[i].pending_connect == want).collect()
}

fn inet_family(f: u16) -> bool {
    f == AF_INET || f == AF_INET6
}

/// `inet_csk_bind_conflict` / `udp_lib_lport_inuse` for socket `me`
/// wanting `port`.
fn bind_conflict(host: &Host, g: &HostState, me: SockId, port: u16) -> bool {
    let c = &g.socks[me.idx()];
    let tcp = is_tcp(c);
    inet_bhash_owners(g, port).any(|i| {
        if i == me.idx() {
            return false;
        }
        let o = &g.socks[i];
        if !inet_family(o.family) || o.kind != c.kind || !addrs_overlap(c, o) {
            return false;
        }
        let ostate = sh(host, SockId(i as u32)).state();
        let same_uid = o.cred.uid == c.cred.uid;
        if tcp {
            if c.opts.reuseaddr && o.opts.reuseaddr && ostate != TcpState::Listen {
                return false;
            }
            !(c.opts.reuseport && o.opts.reuseport && same_uid)
        } else {
            if c.opts.reuseaddr && o.opts.reuseaddr {
                return false;
            }
            !(c.opts.reuseport && o.opts.reuseport && same_uid)
        }
    })
}

/// Whether a TIME_WAIT entry's address overlaps socket `c`'s.
fn tw_overlaps(c: &SockCtl, tw: &InetTimewaitSock) -> bool {
    let (a4, a6) = coverage(c);
    let (b4, b6) = coverage_of(tw.family, tw.laddr, tw.ipv6only);
    overlap(a4, b4) || overlap(a6, b6)
}

/// `inet_bind_conflict` against the TIME_WAIT entries holding `port`
/// (`sk2` a timewait sock: `sk2->sk_state == TCP_TIME_WAIT`, so the uid
/// does not matter for SO_REUSEPORT; relax and reuseport_ok as
/// inet_csk_get_port passes them for a given port).
fn twsk_bind_conflict(g: &HostState, me: SockId, port: u16, now: u64) -> bool {
    let c = &g.socks[me.idx()];
    if !is_tcp(c) {
        return false;
    }
    inet_timewait::owners(&g.tw, port, now).any(|tw| {
        if !tw_overlaps(c, tw) {
            return false;
        }
        let dev = c.opts.bound_dev_if;
        if dev != 0 && tw.bound_dev_if != 0 && dev != tw.bound_dev_if {
            return false;
        }
        if c.opts.reuseaddr && tw.reuse {
            return false;
        }
        !(c.opts.reuseport && tw.reuseport)
    })
}

/// Whether any socket of this kind holds `port` at an address overlapping `me`'s.
fn port_used(g: &HostState, me: SockId, port: u16, now: u64) -> bool {
    let c = &g.socks[me.idx()];
    inet_bhash_owners(g, port).any(|i| {
        let o = &g.socks[i];
        i != me.idx() && inet_family(o.family) && o.kind == c.kind && addrs_overlap(c, o)
    }) || is_tcp(c) && inet_timewait::owners(&g.tw, port, now).any(|tw| tw_overlaps(c, tw))
}

/// `get_port`: takes `port` (or, for 0, an ephemeral port) for `me`.
fn inet_get_port(host: &Host, g: &mut HostState, me: SockId, port: u16) -> KResult<u16> {
    ktrace!("inet_csk_get_port");
    let now = crate::sys::monotonic_ns();
    inet_timewait::inet_twsk_purge(g, now);
    if port != 0 {
        if bind_conflict(host, g, me, port) || twsk_bind_conflict(g, me, port, now) {
            crate::task::reap_dead_locked(host, g);
            if bind_conflict(host, g, me, port) || twsk_bind_conflict(g, me, port, now) {
                return Err(Errno::EADDRINUSE);
            }
        }
        inet_set_num(g, me, port);
        return Ok(port);
    }
    let (lo, hi) = sockopt::local_port_range();
    let span = (hi as u32).saturating_sub(lo as u32) + 1;
    let mut seed = [0u8; 4];
    // SAFETY: getrandom fills the 4-byte buffer.
    let _ = unsafe { crate::syscall!(SYS_getrandom, seed.as_mut_ptr(), 4, libc::GRND_NONBLOCK) };
    let start = u32::from_ne_bytes(seed).wrapping_add(g.port_rover);
    g.port_rover = g.port_rover.wrapping_add(1);
    for i in 0..span {
        let p = (lo as u32 + (start.wrapping_add(i)) % span) as u16;
        if !port_used(g, me, p, now) {
            inet_set_num(g, me, p);
            return Ok(p);
        }
    }
    Err(Errno::EADDRINUSE)
}

/// Whether the calling process may bind ports below ip_unprivileged_port_start.
fn capable_net_bind_service() -> bool {
    static V: once_cell::sync::OnceCell<bool> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| {
        // struct __user_cap_header_struct / __user_cap_data_struct (v3).
        let hdr: [u32; 2] = [0x20080522, 0];
        let mut data = [0u32; 6];
        // SAFETY: capget writes two 3-word data structs for version 3.
        let r = unsafe { crate::syscall!(SYS_capget, hdr.as_ptr(), data.as_mut_ptr()) };
        const CAP_NET_BIND_SERVICE: u32 = 10;
        r.is_ok() && data[0] & (1 << CAP_NET_BIND_SERVICE) != 0
    })
}

/// Parses a bind/connect address for a socket of `family`: the kernel's
/// length and family checks, in the order the kernel makes them.
fn parse_inet(family: u16, uaddr: &[u8], for_bind: bool, v6only: bool) -> KResult<InetAddr> {
    if family == AF_INET {
        if uaddr.len() < 16 {
            return Err(Errno::EINVAL);
        }
        let fam = family_of(uaddr);
        if fam != AF_INET {
            // Compatibility: AF_UNSPEC with INADDR_ANY is AF_INET (bind only).
            let any = uaddr[4..8] == [0; 4];
            if !(for_bind && fam == libc::AF_UNSPEC as u16 && any) {
                return Err(Errno::EAFNOSUPPORT);
            }
        }
        Ok(InetAddr::parse(&{
            let mut b = uaddr[..16].to_vec();
            b[0..2].copy_from_slice(&AF_INET.to_ne_bytes());
            b
        })
        .expect("length checked"))
    } else {
        if uaddr.len() < 24 {
            return Err(Errno::EINVAL);
        }
        if family_of(uaddr) != AF_INET6 {
            return Err(Errno::EAFNOSUPPORT);
        }
        let a = InetAddr::parse(uaddr).expect("length checked");
        if a.is_v4() && v6only && for_bind {
            return Err(Errno::EINVAL);
        }
        Ok(a)
    }
}

/// `inet_bind` / `inet6_bind`.
fn inet_bind(host: &Host, id: SockId, uaddr: &[u8]) -> KResult<()> {
    let family = with_host(host, |g| g.socks[id.idx()].family);
    if family == AF_INET6 {
        return inet6_bind(host, id, uaddr);
    }
    ktrace!("inet_bind -> __inet_bind");
    with_host(host, |g| {
        let c = &g.socks[id.idx()];
        let a = parse_inet(family, uaddr, true, c.opts.v6only)?;
        // "Not specified by any standard per-se, however it breaks too
        // many applications when removed."
        if !inet_addr_valid_or_nonlocal(c, &a) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if a.port != 0 && (a.port as u32) < sockopt::unprivileged_port_start() && !capable_net_bind_service() {
            return Err(Errno::EACCES);
        }
        if sh(host, id).state() != TcpState::Close || c.num != 0 {
            return Err(Errno::EINVAL);
        }
        let old = g.socks[id.idx()].laddr;
        g.socks[id.idx()].laddr = a.with_port(0);
        match inet_get_port(host, g, id, a.port) {
            Ok(p) => {
                let c = &mut g.socks[id.idx()];
                c.laddr.port = p;
                if !a.is_any() {
                    c.userlocks |= SOCK_BINDADDR_LOCK;
                }
                if a.port != 0 {
                    c.userlocks |= SOCK_BINDPORT_LOCK;
                }
                Ok(())
            }
            Err(e) => {
                g.socks[id.idx()].laddr = old;
                Err(e)
            }
        }
    })
}

/// net.ipv4.ip_nonlocal_bind / net.ipv6.ip_nonlocal_bind (read once).
fn sysctl_ip_nonlocal_bind(v6: bool) -> bool {
    static V4: once_cell::sync::OnceCell<bool> = once_cell::sync::OnceCell::new();
    static V6: once_cell::sync::OnceCell<bool> = once_cell::sync::OnceCell::new();
    let path = if v6 { "/proc/sys/net/ipv6/ip_nonlocal_bind" } else { "/proc/sys/net/ipv4/ip_nonlocal_bind" };
    *(if v6 { &V6 } else { &V4 }).get_or_init(|| {
        std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<i32>().ok()).is_some_and(|v| v != 0)
    })
}

/// `inet_can_nonlocal_bind` / `ipv6_can_nonlocal_bind`: the sysctl,
/// IP_FREEBIND/IPV6_FREEBIND or IP_TRANSPARENT/IPV6_TRANSPARENT (one flag
/// each in inet_sock, whichever level set it).
fn inet_can_nonlocal_bind(c: &SockCtl, v6: bool) -> bool {
    sysctl_ip_nonlocal_bind(v6) || c.inet.freebind || c.inet.transparent
}

/// `inet_addr_valid_or_nonlocal` with `inet_addr_type` of the emulated
/// host's table.
fn inet_addr_valid_or_nonlocal(c: &SockCtl, a: &InetAddr) -> bool {
    use super::dev::RtnType;
    let ip = a.v4_bytes();
    inet_can_nonlocal_bind(c, false)
        || ip == [0; 4]
        || matches!(dev::inet_addr_type(ip), RtnType::Local | RtnType::Multicast | RtnType::Broadcast)
}

/// `inet6_bind` -> `__inet6_bind`, in the kernel's order of checks.
fn inet6_bind(host: &Host, id: SockId, uaddr: &[u8]) -> KResult<()> {
    ktrace!("inet6_bind -> __inet6_bind");
    // SIN6_LEN_RFC2133
    if uaddr.len() < 24 {
        return Err(Errno::EINVAL);
    }
    if family_of(uaddr) != AF_INET6 {
        return Err(Errno::EAFNOSUPPORT);
    }
    let a = InetAddr::parse(uaddr).ok_or(Errno::EINVAL)?;
    let addr_type = dev::ipv6_addr_type(&a);
    with_host(host, |g| {
        let c = &g.socks[id.idx()];
        if addr_type & dev::IPV6_ADDR_MULTICAST != 0 && is_tcp(c) {
            return Err(Errno::EINVAL);
        }
        if a.port != 0 && (a.port as u32) < sockopt::unprivileged_port_start() && !capable_net_bind_service() {
            return Err(Errno::EACCES);
        }
        // Check these errors (active socket, double bind).
        if sh(host, id).state() != TcpState::Close || c.num != 0 {
            return Err(Errno::EINVAL);
        }
        // Check if the address belongs to the host.
        if addr_type == dev::IPV6_ADDR_MAPPED {
            // Binding to a v4-mapped address on a v6-only socket makes no sense.
            if c.opts.v6only {
                return Err(Errno::EINVAL);
            }
            if c.opts.bound_dev_if != 0 && dev::dev_get_by_index(c.opts.bound_dev_if).is_none() {
                return Err(Errno::ENODEV);
            }
            // Reproduce AF_INET checks to make the bindings consistent.
            if !inet_addr_valid_or_nonlocal(c, &a) {
                return Err(Errno::EADDRNOTAVAIL);
            }
        } else if addr_type != dev::IPV6_ADDR_ANY {
            if dev::ipv6_addr_needs_scope_id(addr_type) {
                if uaddr.len() >= 28 && a.scope != 0 {
                    // Override any existing binding, if another one is
                    // supplied by the user.
                    let o = &mut g.socks[id.idx()].opts;
                    o.bound_dev_if = a.scope as i32;
                    o.bound_dev_name = [0; 16];
                    if let Some(d) = dev::dev_get_by_index(a.scope as i32) {
                        let n = d.name.len().min(15);
                        o.bound_dev_name[..n].copy_from_slice(&d.name.as_bytes()[..n]);
                    }
                }
                // Binding to a link-local address requires an interface.
                if g.socks[id.idx()].opts.bound_dev_if == 0 {
                    return Err(Errno::EINVAL);
                }
            }
            let c = &g.socks[id.idx()];
            let dev = match c.opts.bound_dev_if {
                0 => None,
                i => Some(dev::dev_get_by_index(i).ok_or(Errno::ENODEV)?),
            };
            if addr_type & dev::IPV6_ADDR_MULTICAST == 0
                && !inet_can_nonlocal_bind(c, true)
                && !dev::ipv6_chk_addr(&a, dev.as_ref())
            {
                return Err(Errno::EADDRNOTAVAIL);
            }
        }
        let c = &mut g.socks[id.idx()];
        let old = c.laddr;
        let mut la = a.with_port(0);
        // sk_v6_rcv_saddr keeps no scope or flow label.
        la.scope = 0;
        la.flowinfo = 0;
        c.laddr = la;
        let saved_ipv6only = c.opts.v6only;
        if addr_type != dev::IPV6_ADDR_ANY && addr_type != dev::IPV6_ADDR_MAPPED {
            c.opts.v6only = true;
        }
        match inet_get_port(host, g, id, a.port) {
            Ok(p) => {
                let c = &mut g.socks[id.idx()];
                c.laddr.port = p;
                if addr_type != dev::IPV6_ADDR_ANY {
                    c.userlocks |= SOCK_BINDADDR_LOCK;
                }
                if a.port != 0 {
                    c.userlocks |= SOCK_BINDPORT_LOCK;
                }
                Ok(())
            }
            Err(e) => {
                let c = &mut g.socks[id.idx()];
                c.opts.v6only = saved_ipv6only;
                c.laddr = old;
                Err(e)
            }
        }
    })
}

/// `inet_autobind`: an ephemeral port for an unbound socket.
fn inet_autobind(host: &Host, g: &mut HostState, id: SockId) -> KResult<()> {
    if g.socks[id.idx()].num == 0 {
        let p = inet_get_port(host, g, id, 0)?;
        g.socks[id.idx()].laddr.port = p;
    }
    Ok(())
}

/// `tcp_set_state(TCP_CLOSE)` -> `inet_put_port`: releases a port the user
/// did not lock. Only `inet_num` is cleared: `inet_sport`, which
/// getsockname reports, keeps the old port until the next bind, connect or
/// listen takes one.
fn inet_put_port(g: &mut HostState, id: SockId) {
    if g.socks[id.idx()].userlocks & SOCK_BINDPORT_LOCK == 0 {
        inet_set_num(g, id, 0);
    }
}

/// The source address the loopback route picks for `dst`.
fn source_for(c: &SockCtl, dst: &InetAddr) -> InetAddr {
    if !c.laddr.is_any() {
        return c.laddr;
    }
    if dst.is_v4() {
        InetAddr::v4([127, 0, 0, 1], 0)
    } else {
        let mut a = InetAddr::any(AF_INET6);
        a.ip = std::net::Ipv6Addr::LOCALHOST.octets();
        a
    }
}

/// Where a connect to `dst` really goes: 0.0.0.0 and :: mean loopback.
fn route_dst(dst: InetAddr) -> InetAddr {
    if dst.is_any() {
        if dst.is_v4() {
            InetAddr::v4([127, 0, 0, 1], dst.port)
        } else {
            let mut a = dst;
            a.ip = std::net::Ipv6Addr::LOCALHOST.octets();
            a
        }
    } else {
        dst
    }
}

/// Whether a socket's bound address accepts traffic for `dst`.
fn accepts(c: &SockCtl, dst: &InetAddr) -> Option<u8> {
    let (c4, c6) = coverage(c);
    let cover = if dst.is_v4() { c4 } else { c6 };
    match cover {
        Some(a) if a.is_any() => Some(1),
        Some(a) if a.ip == dst.ip => Some(2),
        _ => None,
    }
}

/// `__inet_lookup_listener`: the best listener for `dst` (exact address
/// beats wildcard; among a SO_REUSEPORT group, by a hash of the source).
fn lookup_listener(host: &Host, g: &HostState, dst: &InetAddr, hash: u32) -> Option<SockId> {
    let mut best: Vec<(u8, usize)> = Vec::new();
    // inet_lhash2_lookup: the listening chain of the port.
    for i in g.inet_lhash.iter(dst.port as usize % INET_LHTABLE_SIZE) {
        let c = &g.socks[i];
        if !c.in_use || !inet_family(c.family) || !is_tcp(c) || c.num != dst.port {
            continue;
        }
        if sh(host, SockId(i as u32)).state() != TcpState::Listen {
            continue;
        }
        if let Some(score) = accepts(c, dst) {
            best.push((score, i));
        }
    }
    let top = best.iter().map(|b| b.0).max()?;
    // A SO_REUSEPORT group in slot order, whatever order the chain has.
    let mut group: Vec<usize> = best.iter().filter(|b| b.0 == top).map(|b| b.1).collect();
    group.sort_unstable();
    Some(SockId(group[hash as usize % group.len()] as u32))
}

/// The listener's accept queue is full (`sk_acceptq_is_full`).
fn acceptq_is_full(host: &Host, g: &HostState, l: SockId) -> bool {
    g.socks[l.idx()].acceptq_len > sh(host, l).max_ack_backlog.load(Ordering::Relaxed)
}

// ----- TCP connection setup -------------------------------------------------

/// The handshake on the emulated loopback: the SYN reaches `listener`, a
/// child is created (`tcp_v4_syn_recv_sock` -> `inet_csk_clone_lock`) and
/// queued established; the client becomes ESTABLISHED.
fn tcp_handshake(host: &Host, g: &mut HostState, client: SockId, listener: SockId) -> KResult<()> {
    ktrace!("tcp_rcv_state_process(LISTEN): SYN -> tcp_conn_request -> tcp_v4_syn_recv_sock -> inet_csk_reqsk_queue_add");
    let (lfamily, lopts, linet, lkind) = {
        let l = &g.socks[listener.idx()];
        (l.family, l.opts, l.inet, l.kind)
    };
    let child = sk_alloc(host, g, lfamily, lkind, libc::IPPROTO_TCP as u16, OpsId::InetStream)?;
    let (csrc, cdst) = {
        let c = &g.socks[client.idx()];
        (c.laddr, c.raddr)
    };
    {
        let ch = &mut g.socks[child.idx()];
        // sk_clone_lock copies the listener's sock, options and all.
        ch.opts = lopts;
        ch.inet = linet;
        // The child's local address is where the SYN went; its peer is the client.
        let mut local = cdst;
        let mut peer = csrc;
        if lfamily == AF_INET6 && cdst.is_v4() {
            local = cdst; // stays v4-mapped on a dual-stack listener
            peer = csrc;
        }
        ch.laddr = local;
        ch.raddr = peer;
        ch.ss = SsState::Connected;
        ch.userlocks = SOCK_BINDPORT_LOCK;
        ch.ehashed = true;
    }
    // __inet_inherit_port: the child joins its listener's bind bucket.
    inet_set_num(g, child, cdst.port);
    g.socks[child.idx()].cred = g.socks[client.idx()].cred;
    let chs = sh(host, child);
    let ls = sh(host, listener);
    chs.sndbuf.store(ls.sndbuf.load(Ordering::Relaxed), Ordering::Relaxed);
    chs.rcvbuf.store(ls.rcvbuf.load(Ordering::Relaxed), Ordering::Relaxed);
    chs.rcvtimeo_us.store(ls.rcvtimeo_us.load(Ordering::Relaxed), Ordering::Relaxed);
    chs.sndtimeo_us.store(ls.sndtimeo_us.load(Ordering::Relaxed), Ordering::Relaxed);
    {
        let syn_ttl = inet_sockopt::unicast_ttl(&g.socks[client.idx()]);
        inet_sockopt::inet_clone_opts(&mut g.socks[child.idx()], syn_ttl);
        let crcv = sh(host, client).rcvbuf.load(Ordering::Relaxed);
        let lrcv = ls.rcvbuf.load(Ordering::Relaxed);
        let (a, b) = (client.idx(), child.idx());
        let (cl, ch) = if a < b {
            let (x, y) = g.socks.split_at_mut(b);
            (&mut x[a], &mut y[0])
        } else {
            let (x, y) = g.socks.split_at_mut(a);
            (&mut y[0], &mut x[b])
        };
        inet_sockopt::tcp_handshake_opts(cl, crcv, ch, lrcv);
    }
    chs.set_state(TcpState::Established);
    // Cross-link: each holds the other (the emulated wire).
    sock_hold(g, client);
    chs.peer.store(SockId::pack(Some(client)), Ordering::Release);
    sock_hold(g, child);
    sh(host, client).peer.store(SockId::pack(Some(child)), Ordering::Release);
    crate::pcap::tcp_v4_send_synack(host, client, child);
    set_pending_connect(g, client, 0);
    sh(host, client).set_state(TcpState::Established);
    // The accept queue holds the child's first reference.
    super::unix::acceptq_push_pub(g, listener, child);
    ls.wq.wake();
    sh(host, client).wq.wake();
    Ok(())
}


/// A SYN to a port nobody listens on: RST, so ECONNREFUSED (`tcp_reset` in SYN_SENT).
fn tcp_refuse(host: &Host, g: &mut HostState, id: SockId) {
    ktrace!("tcp_v4_send_reset -> tcp_rcv_state_process(SYN_SENT): RST -> tcp_reset -> tcp_done");
    crate::pcap::tcp_reset_reply(host, id, true);
    let s = sh(host, id);
    s.err.store(libc::ECONNREFUSED, Ordering::Release);
    tcp_done(host, g, id);
}

/// `tcp_done`: CLOSE, both directions shut, port released if autobound.
fn tcp_done(host: &Host, g: &mut HostState, id: SockId) {
    let s = sh(host, id);
    s.set_state(TcpState::Close);
    s.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
    set_pending_connect(g, id, 0);
    inet_put_port(g, id);
    s.wq.wake();
}

/// Tries the handshake for a client in SYN_SENT (first try and every
/// "retransmission" when a listener makes room).
fn tcp_try_connect(host: &Host, g: &mut HostState, id: SockId) -> KResult<()> {
    let dst = g.socks[id.idx()].raddr;
    let hash = g.socks[id.idx()].laddr.port as u32;
    match lookup_listener(host, g, &dst, hash) {
        None => {
            ktrace!("__inet_lookup_listener: no listener -> RST");
            tcp_refuse(host, g, id);
            Ok(())
        }
        Some(l) if sh(host, l).shutdown() & RCV_SHUTDOWN != 0 => {
            ktrace!("__inet_lookup_listener: listener is shut down -> RST");
            tcp_refuse(host, g, id);
            Ok(())
        }
        Some(l) => {
            if acceptq_is_full(host, g, l) {
                ktrace!("tcp_conn_request: sk_acceptq_is_full -> drop SYN");
                if g.socks[id.idx()].pending_connect == 0 {
                    set_pending_connect(g, id, SockId::pack(Some(l)));
                    g.next_id += 1;
                    g.socks[id.idx()].pending_since = g.next_id;
                }
                return Ok(());
            }
            ktrace!("__inet_lookup_listener: found, sk_acceptq_is_full? no");
            tcp_handshake(host, g, id, l)
        }
    }
}

/// A listener made room: the oldest SYN waiting for it is "retransmitted".
fn retransmit_pending(host: &Host, g: &mut HostState, listener: SockId) {
    let mut waiting: Vec<(u64, usize)> = pending_for(g, listener)
        .into_iter()
        .filter(|&i| sh(host, SockId(i as u32)).state() == TcpState::SynSent)
        .map(|i| (g.socks[i].pending_since, i))
        .collect();
    waiting.sort();
    for (_, i) in waiting {
        if acceptq_is_full(host, g, listener) {
            break;
        }
        crate::pcap::tcp_retransmit_syn(host, SockId(i as u32));
        let _ = tcp_handshake(host, g, SockId(i as u32), listener);
    }
}

/// `inet_stream_connect` -> `__inet_stream_connect`.
fn inet_stream_connect(host: &Host, id: SockId, uaddr: &[u8]) -> KResult<()> {
    ktrace!("inet_stream_connect -> __inet_stream_connect");
    let s = sh(host, id);
    if uaddr.len() < 2 {
        return Err(Errno::EINVAL);
    }
    if family_of(uaddr) == libc::AF_UNSPEC as u16 {
        return with_host(host, |g| {
            tcp_disconnect(host, g, id);
            g.socks[id.idx()].ss = SsState::Unconnected;
            Ok(())
        });
    }
    let nonblock = s.nonblocking();
    let mut err = with_host(host, |g| -> KResult<Errno> {
        match g.socks[id.idx()].ss {
            SsState::Connected => Err(Errno::EISCONN),
            SsState::Connecting => Ok(Errno::EALREADY),
            SsState::Disconnecting => Err(Errno::EINVAL),
            SsState::Unconnected => {
                if s.state() != TcpState::Close {
                    return Err(Errno::EISCONN);
                }
                // tcp_v4_connect / tcp_v6_connect
                let c = &g.socks[id.idx()];
                ktrace!("{}", if c.family == AF_INET6 { "tcp_v6_connect" } else { "tcp_v4_connect" });
                let mut dst = parse_inet(c.family, uaddr, false, c.opts.v6only)?;
                if c.family == AF_INET6 {
                    dst = ip6_connect_addr(g, id, uaddr.len(), dst, true)?;
                }
                let c = &g.socks[id.idx()];
                if c.family == AF_INET6 && dst.is_v4() && c.opts.v6only {
                    return Err(Errno::ENETUNREACH);
                }
                if !dst.is_local() {
                    ktrace!("destination is not on the emulated host");
                    return Err(super::handoff::nonlocal_errno());
                }
                let dst = route_dst(dst);
                let src = source_for(c, &dst);
                g.socks[id.idx()].laddr.ip = src.ip;
                inet_autobind(host, g, id)?;
                // inet_hash_connect: into the established hash.
                g.socks[id.idx()].ehashed = true;
                g.socks[id.idx()].raddr = dst;
                ktrace!("inet_hash_connect -> tcp_set_state(SYN_SENT) -> tcp_connect: SYN");
                crate::pcap::tcp_connect(host, id, &g.socks[id.idx()].laddr, g.socks[id.idx()].num, &dst);
                s.set_state(TcpState::SynSent);
                g.socks[id.idx()].ss = SsState::Connecting;
                tcp_try_connect(host, g, id)?;
                Ok(Errno::EINPROGRESS)
            }
        }
    })?;
    // Wait while the handshake is in progress.
    let deadline = SockShared::deadline(&s.sndtimeo_us);
    let state = s.state();
    if state == TcpState::SynSent || state == TcpState::SynRecv {
        if nonblock {
            return Err(err);
        }
        let r = wait_event(host, &s.wq, false, deadline, || {
            let st = s.state();
            Ok((st != TcpState::SynSent && st != TcpState::SynRecv).then_some(()))
        });
        match r {
            Ok(()) => {}
            Err(e) if e == Errno::EAGAIN => return Err(Errno::EINPROGRESS),
            Err(e) => return Err(e),
        }
    } else if nonblock && err == Errno::EINPROGRESS {
        ktrace!("nonblocking -> EINPROGRESS (the handshake completes at release_sock)");
        // On loopback the handshake is never complete inside connect: the
        // SYN-ACK waits in the socket's backlog until release_sock.
        return Err(err);
    }
    with_host(host, |g| {
        if s.state() == TcpState::Close {
            ktrace!("sk_state is TCP_CLOSE after the handshake -> sock_error");
            // sock_error: the RST's error, or ECONNABORTED.
            err = s.take_err().unwrap_or(Errno::ECONNABORTED);
            g.socks[id.idx()].ss = SsState::Unconnected;
            tcp_disconnect(host, g, id);
            return Err(err);
        }
        g.socks[id.idx()].ss = SsState::Connected;
        Ok(())
    })
}

/// The IPv6 half of `tcp_v6_connect` (`tcp`) / `__ip6_datagram_connect`
/// before the route: :: means loopback (v4-mapped loopback for a socket
/// bound to a v4-mapped address), TCP refuses multicast, a link-local
/// destination needs an interface (the scope id, which must agree with a
/// bound one). For an IPv6 destination it also makes `ip6_dst_lookup_tail`'s
/// checks: no route off the host, and no IPv6 flow from a v4-mapped source
/// (EAFNOSUPPORT). A v4-mapped destination goes on to the IPv4 connect.
fn ip6_connect_addr(g: &mut HostState, id: SockId, addr_len: usize, dst: InetAddr, tcp: bool) -> KResult<InetAddr> {
    let mut dst = dst;
    let c = &g.socks[id.idx()];
    if dst.ip == [0; 16] {
        dst.ip = if c.laddr.is_v4() { InetAddr::v4([127, 0, 0, 1], 0).ip } else { std::net::Ipv6Addr::LOCALHOST.octets() };
    }
    let ty = dev::ipv6_addr_type(&dst);
    if tcp && ty & dev::IPV6_ADDR_MULTICAST != 0 {
        return Err(Errno::ENETUNREACH);
    }
    if ty & dev::IPV6_ADDR_MAPPED != 0 {
        return Ok(dst);
    }
    let needs_scope = if tcp { ty & dev::IPV6_ADDR_LINKLOCAL != 0 } else { dev::ipv6_addr_needs_scope_id(ty) };
    if needs_scope {
        if addr_len >= 28 && dst.scope != 0 {
            // sk_dev_equal_l3scope: an interface set while binding must coincide.
            let o = &mut g.socks[id.idx()].opts;
            if o.bound_dev_if != 0 && o.bound_dev_if != dst.scope as i32 {
                return Err(Errno::EINVAL);
            }
            o.bound_dev_if = dst.scope as i32;
            o.bound_dev_name = [0; 16];
            if let Some(d) = dev::dev_get_by_index(dst.scope as i32) {
                let n = d.name.len().min(15);
                o.bound_dev_name[..n].copy_from_slice(&d.name.as_bytes()[..n]);
            }
        }
        // Connect to a link-local address requires an interface.
        if g.socks[id.idx()].opts.bound_dev_if == 0 {
            return Err(Errno::EINVAL);
        }
    }
    if !dst.is_local() {
        return Err(super::handoff::nonlocal_errno());
    }
    if g.socks[id.idx()].laddr.is_v4() {
        return Err(Errno::EAFNOSUPPORT);
    }
    Ok(dst)
}

/// `tcp_need_reset`: the states whose ABORT sends a RST (RFC 793).
fn tcp_need_reset(state: TcpState) -> bool {
    matches!(state, TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::FinWait2 | TcpState::SynRecv)
}

/// `tcp_disconnect`: back to CLOSE, ready to connect again.
fn tcp_disconnect(host: &Host, g: &mut HostState, id: SockId) {
    let s = sh(host, id);
    let state = s.state();
    if state != TcpState::Close {
        // tcp_set_state(sk, TCP_CLOSE): unhash, put an unlocked port.
        s.set_state(TcpState::Close);
        inet_put_port(g, id);
    }
    if state == TcpState::Listen {
        inet_csk_listen_stop(host, g, id);
    } else if tcp_need_reset(state) {
        tcp_send_active_reset(host, g, id);
        s.err.store(libc::ECONNRESET, Ordering::Release);
    } else if state == TcpState::SynSent {
        s.err.store(libc::ECONNRESET, Ordering::Release);
    }
    if let Some(p) = SockId::unpack(s.peer.swap(0, Ordering::AcqRel)) {
        sock_put(host, g, p);
    }
    queue::purge(host, id);
    s.shutdown.store(0, Ordering::Release);
    s.set_flag(SOCK_DONE, false);
    set_pending_connect(g, id, 0);
    g.socks[id.idx()].raddr = InetAddr::any(g.socks[id.idx()].family);
    if g.socks[id.idx()].userlocks & SOCK_BINDADDR_LOCK == 0 {
        let f = g.socks[id.idx()].family;
        let port = g.socks[id.idx()].laddr.port;
        g.socks[id.idx()].laddr = InetAddr::any(f).with_port(port);
    }
    s.wq.wake();
}

/// A RST to the peer: it gets ECONNRESET (EPIPE in CLOSE_WAIT) and closes.
fn tcp_send_active_reset(host: &Host, g: &mut HostState, id: SockId) {
    ktrace!("tcp_send_active_reset -> tcp_reset(peer)");
    crate::pcap::tcp_send_active_reset(host, id);
    if let Some(p) = sh(host, id).peer() {
        tcp_reset(host, g, p);
    }
}

/// `tcp_reset`: what receiving a RST does to a socket.
fn tcp_reset(host: &Host, g: &mut HostState, id: SockId) {
    let s = sh(host, id);
    let err = match s.state() {
        TcpState::SynSent => libc::ECONNREFUSED,
        TcpState::CloseWait => libc::EPIPE,
        TcpState::Close | TcpState::Free => return,
        _ => libc::ECONNRESET,
    };
    s.err.store(err, Ordering::Release);
    if s.flag(SOCK_DEAD) && s.state() == TcpState::FinWait2 {
        // The orphan is a FIN_WAIT2 timewait sock: tcp_timewait_state_process
        // answers the segment with a RST and inet_twsk_deschedule_put frees it.
        inet_timewait::inet_twsk_kill(g, id.idx());
    }
    tcp_done(host, g, id);
}

/// Sending a FIN (`tcp_close_state` + `tcp_send_fin`) and the peer's
/// `tcp_fin`; loopback acknowledges at once.
fn tcp_send_fin(host: &Host, g: &mut HostState, id: SockId) {
    let s = sh(host, id);
    let next = match s.state() {
        TcpState::Established | TcpState::SynRecv => TcpState::FinWait2,
        TcpState::CloseWait => TcpState::Close, // LAST_ACK, acknowledged
        _ => return,
    };
    ktrace!("tcp_send_fin -> tcp_fin(peer)");
    crate::pcap::tcp_send_fin(host, id, s.peer());
    s.set_state(next);
    ktrace!("tcp_set_state({})", if next == TcpState::Close { "TCP_CLOSE: LAST_ACK acknowledged" } else { "TCP_FIN_WAIT2: FIN acknowledged" });
    if let Some(p) = s.peer() {
        let ps = sh(host, p);
        ps.shutdown.fetch_or(RCV_SHUTDOWN, Ordering::AcqRel);
        ps.set_flag(SOCK_DONE, true);
        match ps.state() {
            TcpState::Established | TcpState::SynRecv => ps.set_state(TcpState::CloseWait),
            TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing => {
                // tcp_time_wait: a TIME_WAIT entry takes over the port
                // (or the orphan's FIN_WAIT2 one becomes TIME_WAIT), then
                // tcp_done: the full socket is done, its port put unless
                // the user locked it.
                inet_timewait::tcp_time_wait(g, p.idx(), false, ps.flag(SOCK_DEAD));
                ps.set_state(TcpState::Close);
                ps.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
                inet_put_port(g, p);
            }
            _ => {}
        }
        ps.wq.wake();
    }
    if next == TcpState::Close {
        s.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
    }
    s.wq.wake();
}

/// `inet_csk_listen_stop`: children never accepted are reset.
fn inet_csk_listen_stop(host: &Host, g: &mut HostState, id: SockId) {
    while let Some(child) = acceptq_pop(g, id) {
        ktrace!("inet_csk_listen_stop -> inet_child_forget -> tcp_disconnect(child)");
        tcp_send_active_reset(host, g, child);
        let cs = sh(host, child);
        cs.set_flag(SOCK_DEAD, true);
        cs.set_state(TcpState::Close);
        if let Some(p) = SockId::unpack(cs.peer.swap(0, Ordering::AcqRel)) {
            sock_put(host, g, p);
        }
        sock_put(host, g, child);
    }
    // Pending SYNs get no answer; the clients' connect keeps waiting as on
    // Linux until their SYNs are refused: refuse them now.
    for i in pending_for(g, id) {
        tcp_refuse(host, g, SockId(i as u32));
    }
}

/// `inet_release` -> `tcp_close` / `udp_lib_close`.
fn inet_release(host: &Host, g: &mut HostState, id: SockId) {
    let s = sh(host, id);
    if !is_tcp(&g.socks[id.idx()]) {
        ktrace!("inet_release -> udp_lib_close");
        s.set_flag(SOCK_DEAD, true);
        s.set_state(TcpState::Close);
        if let Some(p) = SockId::unpack(s.peer.swap(0, Ordering::AcqRel)) {
            sock_put(host, g, p);
        }
        queue::purge_records(host, id);
        super::icmp::errq_purge(host, id);
        inet_set_num(g, id, 0);
        return;
    }
    ktrace!("inet_release -> tcp_close");
    s.shutdown.store(SHUTDOWN_MASK, Ordering::Release);
    let state = s.state();
    if state == TcpState::Listen {
        ktrace!("tcp_set_state(CLOSE) -> inet_csk_listen_stop");
        s.set_state(TcpState::Close);
        inet_csk_listen_stop(host, g, id);
    } else {
        let unread = queue::purge(host, id) > 0;
        let linger0 = g.socks[id.idx()].opts.linger_on && g.socks[id.idx()].opts.linger_secs == 0;
        if state == TcpState::Close {
            // already reset
        } else if unread || linger0 {
            ktrace!("tcp_close: data was unread or zero linger -> RST");
            tcp_send_active_reset(host, g, id);
            s.set_state(TcpState::Close);
        } else {
            tcp_send_fin(host, g, id);
            if s.state() == TcpState::FinWait2 {
                // tcp_close: an orphan in FIN_WAIT2 becomes a timewait
                // sock of substate FIN_WAIT2 (tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)).
                inet_timewait::tcp_time_wait(g, id.idx(), true, false);
            }
        }
    }
    s.set_flag(SOCK_DEAD, true);
    set_pending_connect(g, id, 0);
    // The orphan keeps its peer link (the wire) until the peer goes; its
    // port is held by its timewait entry, if it made one.
    inet_set_num(g, id, 0);
    if let Some(p) = s.peer() {
        let ps = sh(host, p);
        if ps.flag(SOCK_DEAD) || ps.state() == TcpState::Close {
            // An orphan peer (closed first, kept its link to us as the
            // wire) is done now too: drop its link before ours, or freeing
            // it would leave our slot referenced for ever.
            if ps.flag(SOCK_DEAD) && ps.peer() == Some(id) {
                ps.peer.store(0, Ordering::Release);
                sock_put(host, g, id);
            }
            s.peer.store(0, Ordering::Release);
            sock_put(host, g, p);
        }
    }
    s.wq.wake();
}

/// `inet_listen`.
fn inet_listen(host: &Host, id: SockId, backlog: i32) -> KResult<()> {
    ktrace!("inet_listen");
    with_host(host, |g| {
        let s = sh(host, id);
        let c = &g.socks[id.idx()];
        if c.ss != SsState::Unconnected || !is_tcp(c) {
            ktrace!("inet_listen: not an unconnected TCP socket -> EINVAL");
            return Err(Errno::EINVAL);
        }
        let old = s.state();
        if old != TcpState::Close && old != TcpState::Listen {
            return Err(Errno::EINVAL);
        }
        s.max_ack_backlog.store(backlog.max(0) as u32, Ordering::Relaxed);
        if old != TcpState::Listen {
            ktrace!("inet_csk_listen_start");
            s.set_state(TcpState::Listen);
            let port = g.socks[id.idx()].num;
            match inet_get_port(host, g, id, port) {
                Ok(p) => {
                    g.socks[id.idx()].laddr.port = p;
                    inet_hash(g, id);
                }
                Err(e) => {
                    s.set_state(TcpState::Close);
                    return Err(e);
                }
            }
            // inet_csk_listen_start -> sk->sk_prot->hash: on 6.18 this
            // fails with EINVAL for a socket that was once in the
            // established hash; the port just taken stays with the
            // socket, back in TCP_CLOSE (see kver).
            if g.socks[id.idx()].ehashed && super::kver::listen_refuses_once_ehashed() {
                ktrace!("inet_csk_listen_start: hash failed (socket was ehashed) -> TCP_CLOSE");
                s.set_state(TcpState::Close);
                return Err(Errno::EINVAL);
            }
        } else {
            retransmit_pending(host, g, id);
        }
        Ok(())
    })
}

/// `inet_accept` -> `inet_csk_accept`.
fn inet_accept(host: &Host, id: SockId, nonblock: bool) -> KResult<SockId> {
    ktrace!("inet_accept -> inet_csk_accept");
    let s = sh(host, id);
    if s.state() != TcpState::Listen {
        ktrace!("inet_csk_accept: not listening -> EINVAL");
        return Err(Errno::EINVAL);
    }
    let deadline = SockShared::deadline(&s.rcvtimeo_us);
    let child = wait_event(host, &s.wq, nonblock, deadline, || {
        with_host(host, |g| {
            if s.state() != TcpState::Listen {
                return Err(Errno::EINVAL);
            }
            match acceptq_pop(g, id) {
                Some(c) => {
                    retransmit_pending(host, g, id);
                    Ok(Some(c))
                }
                None => Ok(None),
            }
        })
    })?;
    ktrace!("reqsk_queue_remove: child taken from the accept queue");
    Ok(child)
}

/// `inet_getname` / `inet6_getname`.
fn inet_getname(host: &Host, id: SockId, peer: bool) -> KResult<Addr> {
    with_host(host, |g| {
        let c = &g.socks[id.idx()];
        let s = sh(host, id);
        if peer {
            let st = s.state();
            let connected = c.raddr.port != 0 && !(st == TcpState::Close || st == TcpState::SynSent);
            if !connected {
                return Err(Errno::ENOTCONN);
            }
            Ok(inet6_name(c, c.raddr).to_addr(c.family))
        } else {
            // inet_rcv_saddr (or inet_saddr) and inet_sport.
            Ok(inet6_name(c, c.laddr).to_addr(c.family))
        }
    })
}

/// `inet6_getname`: no flow label (np->sndflow is not emulated) and the
/// scope id `ipv6_iface_scope_id` gives (the bound device, for addresses
/// that need one).
fn inet6_name(c: &SockCtl, a: InetAddr) -> InetAddr {
    let mut a = a;
    a.flowinfo = 0;
    a.scope = if c.family == AF_INET6 { dev::ipv6_iface_scope_id(&a, c.opts.bound_dev_if) } else { 0 };
    a
}

/// `inet_shutdown`.
fn inet_shutdown(host: &Host, id: SockId, how: i32) -> KResult<()> {
    ktrace!("inet_shutdown");
    let how = how.wrapping_add(1);
    if how as u32 & !SHUTDOWN_MASK != 0 || how == 0 {
        return Err(Errno::EINVAL);
    }
    let how = how as u32;
    with_host(host, |g| {
        let s = sh(host, id);
        let tcp = is_tcp(&g.socks[id.idx()]);
        if g.socks[id.idx()].ss == SsState::Connecting {
            g.socks[id.idx()].ss = if matches!(s.state(), TcpState::SynSent | TcpState::SynRecv | TcpState::Close) {
                SsState::Disconnecting
            } else {
                SsState::Connected
            };
        }
        let mut err = Ok(());
        match s.state() {
            TcpState::Listen => {
                if how & RCV_SHUTDOWN != 0 {
                    tcp_disconnect(host, g, id);
                    g.socks[id.idx()].ss = SsState::Unconnected;
                }
            }
            TcpState::SynSent => {
                tcp_disconnect(host, g, id);
                g.socks[id.idx()].ss = SsState::Unconnected;
            }
            st => {
                if st == TcpState::Close {
                    err = Err(Errno::ENOTCONN);
                }
                s.shutdown.fetch_or(how, Ordering::AcqRel);
                if tcp && how & SEND_SHUTDOWN != 0 {
                    tcp_send_fin(host, g, id);
                }
            }
        }
        s.wq.wake();
        err
    })
}

/// Whether this socket can queue more to its peer (`__sk_stream_is_writeable`).
/// The data in flight is what sits in the peer's queue; without a peer
/// nothing is queued, so a fresh or closed socket is writable.
fn stream_writable(host: &Host, id: SockId) -> bool {
    // Without a peer nothing is queued anywhere: sk_stream_is_writeable
    // holds (a fresh or closed socket polls POLLOUT).
    match sh(host, id).peer() {
        Some(p) => {
            let q = sh(host, p).rx.lock();
            let cap = queue::capacity(host, &q);
            cap - q.used() >= cap / 3
        }
        None => true,
    }
}

/// `tcp_poll`.
fn tcp_poll(host: &Host, id: SockId) -> u32 {
    let s = sh(host, id);
    let state = s.state();
    if state == TcpState::Listen {
        let ready = with_host(host, |g| g.socks[id.idx()].acceptq_len > 0);
        return if ready { (libc::POLLIN | libc::POLLRDNORM) as u32 } else { 0 };
    }
    let shutdown = s.shutdown();
    let mut mask = 0u32;
    if shutdown == SHUTDOWN_MASK || state == TcpState::Close {
        mask |= libc::POLLHUP as u32;
    }
    if shutdown & RCV_SHUTDOWN != 0 {
        mask |= (libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP) as u32;
    }
    if state != TcpState::SynSent && state != TcpState::SynRecv {
        let (avail, urg_data, at_mark) = {
            let q = s.rx.lock();
            (q.used(), q.urg_data, q.urg_data != 0 && q.urg_seq == q.head)
        };
        // The urgent byte at the mark does not count unless inline.
        let mut target = 1;
        if at_mark && !with_host(host, |g| g.socks[id.idx()].opts.oobinline) {
            target += 1;
        }
        if avail >= target {
            mask |= (libc::POLLIN | libc::POLLRDNORM) as u32;
        }
        if shutdown & SEND_SHUTDOWN == 0 {
            if stream_writable(host, id) {
                mask |= (libc::POLLOUT | libc::POLLWRNORM) as u32;
            }
        } else {
            mask |= (libc::POLLOUT | libc::POLLWRNORM) as u32;
        }
        if urg_data & TCP_URG_VALID != 0 {
            mask |= libc::POLLPRI as u32;
        }
    }
    if s.err.load(Ordering::Relaxed) != 0 {
        mask |= libc::POLLERR as u32;
    }
    mask
}

/// `udp_poll` (datagram_poll).
fn udp_poll(host: &Host, id: SockId) -> u32 {
    let s = sh(host, id);
    let shutdown = s.shutdown();
    let mut mask = 0u32;
    if s.err.load(Ordering::Relaxed) != 0 || super::icmp::errq_pending(host, id) {
        mask |= libc::POLLERR as u32;
        if with_host(host, |g| g.socks[id.idx()].opts.select_err_queue) {
            mask |= libc::POLLPRI as u32;
        }
    }
    if shutdown & RCV_SHUTDOWN != 0 {
        mask |= (libc::POLLRDHUP | libc::POLLIN | libc::POLLRDNORM) as u32;
    }
    if shutdown == SHUTDOWN_MASK {
        mask |= libc::POLLHUP as u32;
    }
    if queue::first_record_len(host, id).0 > 0 {
        mask |= (libc::POLLIN | libc::POLLRDNORM) as u32;
    }
    mask | (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) as u32
}

/// `inet_ioctl`: SIOCINQ/FIONREAD, SIOCOUTQ, SIOCATMARK.
fn inet_ioctl(host: &Host, id: SockId, cmd: u64) -> KResult<i32> {
    let s = sh(host, id);
    let (tcp, urginline) = with_host(host, |g| (is_tcp(&g.socks[id.idx()]), g.socks[id.idx()].opts.oobinline));
    match cmd {
        libc::FIONREAD => {
            if tcp {
                if s.state() == TcpState::Listen {
                    return Err(Errno::EINVAL);
                }
                let q = s.rx.lock();
                Ok(tcp_inq(&q, s.state(), urginline) as i32)
            } else {
                Ok(queue::first_record_len(host, id).1 as i32)
            }
        }
        libc::TIOCOUTQ => {
            if tcp && s.state() == TcpState::Listen {
                return Err(Errno::EINVAL);
            }
            Ok(0)
        }
        // tcp_ioctl SIOCOUTQNSD: write_seq - snd_nxt; loopback sends at once.
        SIOCOUTQNSD if tcp => {
            if s.state() == TcpState::Listen {
                return Err(Errno::EINVAL);
            }
            Ok(0)
        }
        SIOCATMARK if tcp => {
            let q = s.rx.lock();
            Ok((q.urg_data != 0 && q.urg_seq == q.head) as i32)
        }
        _ => Err(Errno::ENOTTY),
    }
}

// ----- TCP data -----------------------------------------------------------

/// `sk_stream_error`: the error a failed send returns, with SIGPIPE.
fn sk_stream_error(s: &SockShared, flags: i32, err: Errno) -> Errno {
    let mut err = err;
    if err == Errno::EPIPE {
        err = s.take_err().unwrap_or(Errno::EPIPE);
    }
    if err == Errno::EPIPE && flags & libc::MSG_NOSIGNAL == 0 {
        send_sigpipe();
    }
    err
}

/// `tcp_sendmsg_locked`.
fn tcp_sendmsg(host: &Host, id: SockId, msg: &SendMsg<'_>) -> KResult<usize> {
    ktrace!("tcp_sendmsg -> tcp_sendmsg_locked");
    let s = sh(host, id);
    let flags = msg.flags;
    let nonblock = flags & libc::MSG_DONTWAIT != 0;
    let deadline = SockShared::deadline(&s.sndtimeo_us);
    // Wait for a connection to finish (sk_stream_wait_connect).
    let st = s.state();
    if st != TcpState::Established && st != TcpState::CloseWait {
        let r = if let Some(e) = s.take_err() {
            Err(e)
        } else if st != TcpState::SynSent && st != TcpState::SynRecv {
            Err(Errno::EPIPE)
        } else if nonblock {
            Err(Errno::EAGAIN)
        } else {
            wait_event(host, &s.wq, false, deadline, || {
                let st = s.state();
                Ok((st != TcpState::SynSent && st != TcpState::SynRecv).then_some(()))
            })
            .and_then(|_| match s.state() {
                TcpState::Established | TcpState::CloseWait => Ok(()),
                _ => Err(s.take_err().unwrap_or(Errno::EPIPE)),
            })
        };
        if let Err(e) = r {
            ktrace!("sk_stream_wait_connect: not connected -> {e:?}");
            return Err(sk_stream_error(s, flags, e));
        }
    }
    let len = queue::iov_len(&msg.iov);
    let oob = flags & libc::MSG_OOB != 0;
    // The receiver's SOCK_URGINLINE, which tcp_check_urg reads.
    let peer_urginline = oob
        && with_host(host, |g| s.peer().is_some_and(|p| g.socks[p.idx()].opts.oobinline));
    let mut sent = 0;
    loop {
        let seq = s.wq.prepare();
        if s.err.load(Ordering::Acquire) != 0 || s.shutdown() & SEND_SHUTDOWN != 0 {
            ktrace!("sk_err or SEND_SHUTDOWN -> {}", if sent > 0 { "the bytes sent so far" } else { "sk_stream_error(EPIPE)" });
            if sent > 0 {
                return Ok(sent);
            }
            return Err(sk_stream_error(s, flags, Errno::EPIPE));
        }
        if sent == len {
            return Ok(sent);
        }
        let Some(peer) = s.peer() else {
            return Err(sk_stream_error(s, flags, Errno::EPIPE));
        };
        let ps = sh(host, peer);
        let pstate = ps.state();
        if ps.flag(SOCK_DEAD) && pstate == TcpState::Close {
            ktrace!("the peer socket is gone -> tcp_v4_send_reset");
            // Data to a socket that is gone: the answer is a RST
            // (tcp_v4_rcv -> no socket -> tcp_v4_send_reset); the data was
            // queued, so this send succeeds.
            crate::pcap::tcp_sendmsg_unacked(host, id, crate::pcap::Data { iov: &msg.iov, skip: sent, n: len - sent });
            crate::pcap::tcp_reset_reply(host, id, false);
            with_host(host, |g| tcp_reset(host, g, id));
            return Ok(len);
        }
        if matches!(pstate, TcpState::FinWait1 | TcpState::FinWait2) && ps.shutdown() & RCV_SHUTDOWN != 0 {
            // tcp_rcv_state_process, step 7: new data for a socket in
            // FIN_WAIT with RCV_SHUTDOWN "MUST" be answered by a reset
            // (RFC 1122): tcp_reset on the receiver (LINUX_MIB_TCPABORTONDATA),
            // then tcp_v4_send_reset back to us.
            ktrace!("tcp_rcv_state_process(peer): data after RCV_SHUTDOWN -> tcp_reset(peer) -> tcp_v4_send_reset");
            with_host(host, |g| {
                tcp_reset(host, g, peer);
                tcp_reset(host, g, id);
            });
            return Ok(len);
        }
        // The capture's window of ours, read before the peer's queue is
        // locked (reading it takes our own queue's lock).
        let win = if crate::pcap::on() { crate::pcap::window(host, id) } else { 0 };
        let n = {
            // lock_sock(sk): one writer into the peer's queue at a time.
            let _writer = ps.rx_writer.lock();
            let mut q = ps.rx.lock();
            let rcv_nxt = q.tail;
            let room = queue::capacity(host, &q).saturating_sub(q.used()).min(len - sent);
            let n = if room > queue::COPY_UNLOCKED && !oob {
                // A large copy runs outside the queue's lock, so the reader
                // copies out of the ring while this copies in: room past
                // the tail is this writer's alone (readers stop at the
                // tail), published once it holds the bytes. One step is
                // at most COPY_STEP, so the reader starts on it early.
                let n = room.min(queue::COPY_STEP);
                let gen = q.gen;
                q.unlocked(|| queue::stream_put_at(host, peer, rcv_nxt, &msg.iov, sent, n));
                if q.gen == gen && q.tail == rcv_nxt {
                    q.tail += n as u64;
                } else {
                    // Purged meanwhile (tcp_disconnect, tcp_close, reset):
                    // the bytes went as they would into a queue that was
                    // dropped right after.
                    ktrace!("the peer's receive queue was purged during the copy");
                }
                n
            } else {
                queue::stream_put_at(host, peer, rcv_nxt, &msg.iov, sent, room);
                q.tail += room as u64;
                room
            };
            if oob && n > 0 {
                // tcp_push -> tcp_mark_urg: snd_up = write_seq, so the
                // urgent byte is the last one sent so far; the receiver's
                // tcp_urg -> tcp_check_urg takes it.
                let ptr = q.tail - 1;
                tcp_check_urg(host, peer, &mut q, ptr, rcv_nxt, peer_urginline);
            }
            if n > 0 {
                let data = crate::pcap::Data { iov: &msg.iov, skip: sent, n };
                crate::pcap::tcp_sendmsg(host, id, peer, data, win, q.used(), oob && len - sent == 1);
            }
            n
        };
        ktrace!("{}", if n > 0 { format!("skb_entail -> tcp_push: {n} bytes to the peer's receive queue") } else { "the peer's receive queue is full -> sk_stream_wait_memory".to_string() });
        if n > 0 {
            sent += n;
            ps.wq.wake();
            continue;
        }
        if nonblock {
            return if sent > 0 { Ok(sent) } else { Err(Errno::EAGAIN) };
        }
        if let Err(e) = s.wq.wait(seq, deadline, &|| {
            crate::task::reap_dead(host);
        }) {
            return if sent > 0 { Ok(sent) } else { Err(e) };
        }
    }
}

/// tp->urg_data values (include/net/tcp.h).
const TCP_URG_VALID: u32 = 0x0100;
const TCP_URG_NOTYET: u32 = 0x0200;
const TCP_URG_READ: u32 = 0x0400;

/// `tcp_check_urg` + `tcp_urg` on the receiver, whose queue lock is held:
/// a segment carrying urgent pointer `ptr` (the urgent byte's position)
/// arrived, its data already in the queue from `rcv_nxt` on.
fn tcp_check_urg(host: &Host, me: SockId, q: &mut RxQueue, ptr: u64, rcv_nxt: u64, urginline: bool) {
    // Ignore urgent data that we've already seen and read.
    if q.head > ptr {
        return;
    }
    // Do not replay urg ptr.
    if ptr < rcv_nxt {
        return;
    }
    // Do we already have a newer (or duplicate) urgent pointer?
    if q.urg_data != 0 && ptr <= q.urg_seq {
        return;
    }
    // The previous urgent byte, not inline and not read past yet, is
    // skipped so it is not read again as data.
    if q.urg_seq == q.head && q.urg_data != 0 && !urginline && q.head != rcv_nxt {
        q.head += 1;
    }
    q.urg_data = TCP_URG_NOTYET;
    q.urg_seq = ptr;
    // tcp_urg: the pointer is inside this segment: take the byte.
    let mut b = [0u8; 1];
    queue::stream_copy_at(host, me, ptr, &mut [&mut b[..]], 0, 1);
    q.urg_data = TCP_URG_VALID | b[0] as u32;
}

/// `tcp_inq`: bytes readable before the urgent mark (all of them inline).
fn tcp_inq(q: &RxQueue, state: TcpState, urginline: bool) -> usize {
    if matches!(state, TcpState::SynSent | TcpState::SynRecv) {
        0
    } else if urginline || q.urg_data == 0 || q.urg_seq < q.head || q.urg_seq >= q.tail {
        q.used()
    } else {
        (q.urg_seq - q.head) as usize
    }
}

/// What one pass of tcp_recvmsg_locked's loop decided.
enum RecvStep {
    Copied,
    Stop,
    Fail(Errno),
    Wait,
}

/// `tcp_recvmsg` -> `tcp_recvmsg_locked`. Ring positions are sequence
/// numbers: the queue head is `copied_seq`, a peek walks its own `peek_seq`.
fn tcp_recvmsg(host: &Host, id: SockId, msg: &mut RecvMsg<'_>) -> KResult<usize> {
    ktrace!("tcp_recvmsg -> tcp_recvmsg_locked");
    let s = sh(host, id);
    let flags = msg.flags;
    if flags & libc::MSG_ERRQUEUE != 0 {
        // inet_recv_error: nothing queues errors on an emulated TCP socket.
        let (family, opts, inet) = with_host(host, |g| {
            let c = &g.socks[id.idx()];
            (c.family, c.opts, c.inet)
        });
        return super::icmp::inet_recv_error(host, id, msg, family, &opts, &inet);
    }
    if s.state() == TcpState::Listen {
        ktrace!("listening socket -> ENOTCONN");
        return Err(Errno::ENOTCONN);
    }
    let (lowat, urginline) = with_host(host, |g| {
        let o = &g.socks[id.idx()].opts;
        (o.rcvlowat, o.oobinline)
    });
    if flags & libc::MSG_OOB != 0 {
        return tcp_recv_urg(host, id, msg, urginline);
    }
    let peek = flags & libc::MSG_PEEK != 0;
    let trunc = flags & libc::MSG_TRUNC != 0;
    // timeo: 0 for MSG_DONTWAIT; becomes 0 when a wait ran out.
    let mut timeo = flags & libc::MSG_DONTWAIT == 0;
    let size = msg.size();
    let copyable = queue::iov_len_mut(&msg.iov);
    let mut len = size;
    // sock_rcvlowat
    let target = if flags & libc::MSG_WAITALL != 0 { size } else { (lowat.max(0) as usize).min(size) }.max(1);
    let deadline = SockShared::deadline(&s.rcvtimeo_us);
    let peek_offset = s.sk_peek_offset(flags).max(0) as u64;
    let mut peek_seq: Option<u64> = None;
    let mut copied = 0usize;
    loop {
        let wseq = s.wq.prepare();
        let step = {
            // lock_sock(sk): one reader of the queue at a time.
            let _reader = s.rx_reader.lock();
            let mut q = s.rx.lock();
            let mut seq = if peek { *peek_seq.get_or_insert(q.head + peek_offset) } else { q.head };
            let avail = q.tail.saturating_sub(seq) as usize;
            if q.urg_data != 0 && q.urg_seq == seq && copied > 0 {
                // At urgent data: stop if we have read anything.
                RecvStep::Stop
            } else if avail > 0 {
                // found_ok_skb
                let mut used = avail.min(len);
                let mut skip_copy = false;
                if q.urg_data != 0 {
                    let urg_offset = q.urg_seq.wrapping_sub(seq);
                    if urg_offset < used as u64 {
                        if urg_offset == 0 {
                            if !urginline {
                                seq += 1;
                                used -= 1;
                                skip_copy = used == 0;
                            }
                        } else {
                            used = urg_offset as usize;
                        }
                    }
                }
                let mut fault = false;
                let mut purged = false;
                if !skip_copy {
                    if !trunc {
                        if copied + used > copyable {
                            fault = true;
                        } else if used > queue::COPY_UNLOCKED {
                            // A large copy runs outside the queue's lock
                            // (the writer fills the room past the tail
                            // meanwhile), one COPY_STEP at a time; the
                            // bytes up to `seq + used` stay queued, so no
                            // writer reuses their room, until head moves.
                            used = used.min(queue::COPY_STEP);
                            let gen = q.gen;
                            q.unlocked(|| queue::stream_copy_at(host, id, seq, &mut msg.iov, copied, used));
                            // Purged meanwhile: the bytes were dropped
                            // before this read took them.
                            purged = q.gen != gen;
                        } else {
                            queue::stream_copy_at(host, id, seq, &mut msg.iov, copied, used);
                        }
                    }
                    if purged {
                        ktrace!("the receive queue was purged during the copy");
                    } else if !fault {
                        seq += used as u64;
                        copied += used;
                        len -= used;
                        if peek {
                            s.sk_peek_offset_fwd(used);
                        } else {
                            s.sk_peek_offset_bwd(used);
                        }
                    }
                }
                if purged {
                    peek_seq = None;
                } else if peek {
                    peek_seq = Some(seq);
                } else {
                    // (max: a writer's tcp_check_urg may have stepped the
                    // head over an urgent byte this read skipped too.)
                    q.head = q.head.max(seq);
                }
                // skip_copy: past the urgent byte, it is gone.
                if q.urg_data != 0 && q.head > q.urg_seq {
                    q.urg_data = 0;
                }
                if fault {
                    if copied == 0 {
                        RecvStep::Fail(Errno::EFAULT)
                    } else {
                        RecvStep::Stop
                    }
                } else {
                    RecvStep::Copied
                }
            } else if copied >= target {
                RecvStep::Stop
            } else if copied > 0 {
                if !timeo || s.err.load(Ordering::Acquire) != 0 || s.state() == TcpState::Close || s.shutdown() & RCV_SHUTDOWN != 0 {
                    RecvStep::Stop
                } else {
                    RecvStep::Wait
                }
            } else if s.flag(SOCK_DONE) {
                RecvStep::Stop
            } else if let Some(e) = s.take_err() {
                RecvStep::Fail(e)
            } else if s.shutdown() & RCV_SHUTDOWN != 0 {
                RecvStep::Stop
            } else if s.state() == TcpState::Close {
                // A read on a never connected socket.
                RecvStep::Fail(Errno::ENOTCONN)
            } else if !timeo {
                RecvStep::Fail(Errno::EAGAIN)
            } else {
                RecvStep::Wait
            }
        };
        ktrace!("{}", match &step { RecvStep::Copied => "copied from the receive queue".to_string(), RecvStep::Stop if copied == 0 => "nothing to read, FIN received -> 0".to_string(), RecvStep::Stop => format!("done, {copied} bytes"), RecvStep::Fail(e) => format!("-> {e:?}"), RecvStep::Wait => "receive queue empty -> sk_wait_data".to_string() });
        match step {
            RecvStep::Copied => {
                if !peek {
                    // The window opened: a blocked sender may go on.
                    if let Some(p) = s.peer() {
                        sh(host, p).wq.wake();
                    }
                }
            }
            RecvStep::Stop => break,
            RecvStep::Fail(e) => return Err(e),
            RecvStep::Wait => {
                // sk_wait_data: one wait, until data, an event or the timeout.
                match s.wq.wait(wseq, deadline, &|| {
                    crate::task::reap_dead(host);
                }) {
                    Ok(()) => {}
                    Err(e) if e == Errno::EAGAIN => timeo = false,
                    Err(e) => {
                        if copied > 0 {
                            break;
                        }
                        return Err(e);
                    }
                }
            }
        }
        if len == 0 {
            break;
        }
    }
    Ok(copied)
}

/// `tcp_recv_urg`: recv(MSG_OOB), which never blocks.
fn tcp_recv_urg(host: &Host, id: SockId, msg: &mut RecvMsg<'_>, urginline: bool) -> KResult<usize> {
    let s = sh(host, id);
    let mut q = s.rx.lock();
    // No URG data to read.
    if urginline || q.urg_data == 0 || q.urg_data == TCP_URG_READ {
        return Err(Errno::EINVAL);
    }
    if s.state() == TcpState::Close && !s.flag(SOCK_DONE) {
        return Err(Errno::ENOTCONN);
    }
    if q.urg_data & TCP_URG_VALID != 0 {
        let c = (q.urg_data & 0xff) as u8;
        if msg.flags & libc::MSG_PEEK == 0 {
            q.urg_data = TCP_URG_READ;
        }
        drop(q);
        msg.msg_flags |= libc::MSG_OOB;
        if msg.size() > 0 {
            if msg.flags & libc::MSG_TRUNC == 0 {
                match msg.iov.iter_mut().find(|b| !b.is_empty()) {
                    Some(b) => b[0] = c,
                    None => return Err(Errno::EFAULT),
                }
            }
            return Ok(1);
        }
        msg.msg_flags |= libc::MSG_TRUNC;
        return Ok(0);
    }
    if s.state() == TcpState::Close || s.shutdown() & RCV_SHUTDOWN != 0 {
        return Ok(0);
    }
    Err(Errno::EAGAIN)
}

// ----- UDP ----------------------------------------------------------------

/// `__udp4_lib_lookup`: the socket that receives a datagram for `dst` from `src`.
fn udp_lookup(g: &HostState, dst: &InetAddr, src: &InetAddr) -> Option<SockId> {
    let mut best: Option<(u8, usize)> = None;
    // udp_lib_lookup2 over the port's slot (`udp_hashslot`).
    for i in inet_bhash_owners(g, dst.port) {
        let c = &g.socks[i];
        if !inet_family(c.family) || is_tcp(c) {
            continue;
        }
        let Some(mut score) = accepts(c, dst) else { continue };
        if c.raddr.port != 0 {
            let r = c.raddr;
            let same = if r.is_v4() == src.is_v4() { r.ip == src.ip } else { false };
            if !same || r.port != src.port {
                continue;
            }
            score += 2;
        }
        // The best score, the lowest slot among equals.
        if best.is_none_or(|(b, bi)| score > b || score == b && i < bi) {
            best = Some((score, i));
        }
    }
    best.map(|(_, i)| SockId(i as u32))
}

/// `inet_dgram_connect` -> `ip4_datagram_connect` / `ip6_datagram_connect`.
fn inet_dgram_connect(host: &Host, id: SockId, uaddr: &[u8]) -> KResult<()> {
    ktrace!("inet_dgram_connect -> ip4_datagram_connect");
    if uaddr.len() < 2 {
        return Err(Errno::EINVAL);
    }
    let s = sh(host, id);
    with_host(host, |g| {
        if family_of(uaddr) == libc::AF_UNSPEC as u16 {
            // udp_disconnect
            s.set_state(TcpState::Close);
            let c = &mut g.socks[id.idx()];
            c.raddr = InetAddr::any(c.family);
            if c.userlocks & SOCK_BINDADDR_LOCK == 0 {
                let port = c.laddr.port;
                c.laddr = InetAddr::any(c.family).with_port(port);
            }
            if c.userlocks & SOCK_BINDPORT_LOCK == 0 {
                c.laddr.port = 0;
                inet_set_num(g, id, 0);
            }
            return Ok(());
        }
        let c = &g.socks[id.idx()];
        let mut dst;
        if c.family == AF_INET6 && family_of(uaddr) == AF_INET {
            // __ip6_datagram_connect: an AF_INET address is handed to
            // __ip4_datagram_connect, unless the socket is IPv6-only.
            if c.opts.v6only {
                return Err(Errno::EAFNOSUPPORT);
            }
            dst = parse_inet(AF_INET, uaddr, false, false)?;
        } else {
            dst = parse_inet(c.family, uaddr, false, c.opts.v6only)?;
            if c.family == AF_INET6 {
                dst = ip6_connect_addr(g, id, uaddr.len(), dst, false)?;
            }
        }
        let c = &g.socks[id.idx()];
        if c.family == AF_INET6 && dst.is_v4() && c.opts.v6only {
            return Err(Errno::ENETUNREACH);
        }
        if dst.is_v4_broadcast() && !c.opts.broadcast {
            return Err(Errno::EACCES);
        }
        if !dst.is_local() && !dst.is_v4_broadcast() {
            return Err(super::handoff::nonlocal_errno());
        }
        let dst = route_dst(dst);
        inet_autobind(host, g, id)?;
        let src = source_for(&g.socks[id.idx()], &dst);
        let c = &mut g.socks[id.idx()];
        if c.laddr.is_any() {
            c.laddr.ip = src.ip;
        }
        c.raddr = dst;
        s.set_state(TcpState::Established);
        Ok(())
    })
}

/// `inet_send_prepare`: `inet_sendmsg` / `inet6_sendmsg` bind an unbound
/// UDP socket (`inet_autobind`) before the protocol looks at the message,
/// so even a send that then fails leaves it with a port.
fn inet_send_prepare(host: &Host, g: &mut HostState, id: SockId) -> KResult<()> {
    if g.socks[id.idx()].num == 0 && inet_autobind(host, g, id).is_err() {
        return Err(Errno::EAGAIN);
    }
    Ok(())
}

/// Where `udp_sendmsg` sends (`usin`, or the connected peer): the checks
/// it makes on the address, in its order. `name` is a sockaddr_in-shaped
/// name (for an AF_INET6 socket, what `udpv6_sendmsg` handed over).
fn udp_v4_daddr(s: &SockShared, c: &SockCtl, name: Option<&[u8]>, len: usize, oob: bool) -> KResult<InetAddr> {
    if len > 0xffff {
        return Err(Errno::EMSGSIZE);
    }
    // "Mirror BSD error message compatibility".
    if oob {
        return Err(Errno::EOPNOTSUPP);
    }
    match name {
        Some(n) => {
            if n.len() < 16 {
                return Err(Errno::EINVAL);
            }
            let f = family_of(n);
            if f != AF_INET && f != libc::AF_UNSPEC as u16 {
                return Err(Errno::EAFNOSUPPORT);
            }
            let d = InetAddr::v4([n[4], n[5], n[6], n[7]], u16::from_be_bytes([n[2], n[3]]));
            if d.port == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(d)
        }
        None => {
            if s.state() != TcpState::Established {
                return Err(Errno::EDESTADDRREQ);
            }
            Ok(c.raddr)
        }
    }
}

/// `udpv6_sendmsg`'s destination check: AF_INET6 names (v4-mapped ones and
/// AF_INET names go to `udp_sendmsg` unless IPV6_V6ONLY), AF_UNSPEC as no
/// name at all, other families EINVAL.
fn udpv6_daddr(s: &SockShared, c: &SockCtl, name: Option<&[u8]>, len: usize, oob: bool) -> KResult<InetAddr> {
    let mut sin6 = None;
    if let Some(n) = name {
        if n.len() < 2 {
            return Err(Errno::EINVAL);
        }
        match family_of(n) as i32 {
            libc::AF_INET6 => {
                if n.len() < 24 {
                    return Err(Errno::EINVAL);
                }
                let mut d = InetAddr::parse(n).expect("length checked");
                if d.is_any() && c.laddr.is_v4() {
                    // A socket bound to a v4-mapped address sends to :: as 127.0.0.1.
                    d = InetAddr::v4([127, 0, 0, 1], d.port);
                }
                sin6 = Some(d);
            }
            libc::AF_INET => {
                // do_udp_sendmsg
                if c.opts.v6only {
                    return Err(Errno::ENETUNREACH);
                }
                return udp_v4_daddr(s, c, Some(n), len, oob);
            }
            libc::AF_UNSPEC => {}
            _ => return Err(Errno::EINVAL),
        }
    }
    let daddr = match sin6 {
        Some(d) => d,
        None => {
            if s.state() != TcpState::Established {
                return Err(Errno::EDESTADDRREQ);
            }
            c.raddr
        }
    };
    if daddr.is_v4() {
        // The v4-mapped destination becomes a sockaddr_in for udp_sendmsg.
        if c.opts.v6only {
            return Err(Errno::ENETUNREACH);
        }
        let sin = daddr.to_addr(AF_INET);
        return udp_v4_daddr(s, c, Some(sin.as_bytes()), len, oob);
    }
    if sin6.is_some() && daddr.port == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(daddr)
}

/// `udp_sendmsg` / `udpv6_sendmsg`.
fn udp_sendmsg(host: &Host, id: SockId, msg: &SendMsg<'_>) -> KResult<usize> {
    ktrace!("inet_sendmsg -> udp_sendmsg");
    let s = sh(host, id);
    let len = queue::iov_len(&msg.iov);
    let oob = msg.flags & libc::MSG_OOB != 0;
    with_host(host, |g| {
        inet_send_prepare(host, g, id)?;
        let c = &g.socks[id.idx()];
        let family = c.family;
        // sendto() with a name of length 0 still passes a name (which
        // fails the length checks); sendmsg() with msg_namelen 0 has none.
        let name = msg.name;
        let dst = if family == AF_INET {
            udp_v4_daddr(s, c, name, len, oob)?
        } else {
            udpv6_daddr(s, c, name, len, oob)?
        };
        // Routing: the broadcast permission (RTCF_BROADCAST), then whether
        // the destination is reachable on this host at all.
        if dst.is_v4_broadcast() && !c.opts.broadcast {
            return Err(Errno::EACCES);
        }
        let nowhere = !dst.is_local();
        if nowhere && !(dst.is_v4_broadcast() || dst.is_multicast()) {
            return Err(super::handoff::nonlocal_errno());
        }
        // ip_make_skb / ip6_make_skb: the datagram must fit an IP packet,
        // then sock_alloc_send_skb reports a pending error or SEND_SHUTDOWN.
        let max = if dst.is_v4() { 65507 } else { 65527 };
        if len > max {
            return Err(Errno::EMSGSIZE);
        }
        if let Some(e) = s.take_err() {
            return Err(e);
        }
        if s.shutdown() & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        if nowhere {
            // Nobody else is on this host's lo: the datagram goes nowhere.
            return Ok(len);
        }
        let dst = route_dst(dst);
        let mut src = source_for(c, &dst);
        src.port = c.num;
        let rcv = udp_lookup(g, &dst, &src);
        crate::pcap::udp_sendmsg(&src, &dst, &msg.iov, rcv.is_some());
        match rcv {
            Some(r) => {
                let rs = sh(host, r);
                let from = src.to_addr(AF_INET6);
                let limit = rs.rcvbuf.load(Ordering::Relaxed) as usize;
                let q = queue::first_record_len(host, r);
                let used = rs.rx.lock().used() + super::icmp::errq_bytes(host, r);
                if used <= limit && (q.0 as usize) < 100_000 {
                    let rc = &g.socks[r.idx()];
                    // What the receive path leaves in the skb: a timestamp
                    // when somebody wants one (netstamp_needed), the IP
                    // header's destination, ipv4_pktinfo_prepare / IP6CB.
                    let meta = queue::RecMeta {
                        tstamp: if rc.opts.rcvtstamp { super::cmsg::net_timestamp() } else { 0 },
                        daddr: dst.ip,
                        iif: super::cmsg::pktinfo_prepare(rc.family, &rc.inet, dst.is_v4()),
                        _pad: 0,
                    };
                    if queue::record_put_meta(host, r, c.cred, &from, &msg.iov, meta) {
                        rs.wq.wake();
                    }
                }
            }
            None => {
                // ICMP port unreachable, back to the socket the error
                // lookup finds for the datagram's source.
                ktrace!("udp: no socket -> icmp_send(PORT_UNREACH) -> __udp4_lib_err");
                if let Some(victim) = udp_lookup(g, &src, &dst) {
                    super::icmp::udp_port_unreach(host, g, victim, &src, &dst, &msg.iov);
                }
            }
        }
        Ok(len)
    })
}

/// `udp_recvmsg` / `udpv6_recvmsg`.
fn udp_recvmsg(host: &Host, id: SockId, msg: &mut RecvMsg<'_>) -> KResult<usize> {
    ktrace!("udp_recvmsg");
    let s = sh(host, id);
    let flags = msg.flags;
    let (family, opts, inet) = with_host(host, |g| {
        let c = &g.socks[id.idx()];
        (c.family, c.opts, c.inet)
    });
    if flags & libc::MSG_ERRQUEUE != 0 {
        ktrace!("{}", if family == AF_INET { "ip_recv_error" } else { "ipv6_recv_error" });
        return super::icmp::inet_recv_error(host, id, msg, family, &opts, &inet);
    }
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let peek = flags & libc::MSG_PEEK != 0;
    let nonblock = flags & libc::MSG_DONTWAIT != 0;
    let deadline = SockShared::deadline(&s.rcvtimeo_us);
    // __skb_recv_udp: sock_error, the queue, and only a receive that would
    // wait (__skb_wait_for_more_packets) ends with 0 on RCV_SHUTDOWN; a
    // non-blocking one gets EAGAIN.
    let rec = wait_event(host, &s.wq, nonblock, deadline, || {
        if let Some(e) = s.take_err() {
            return Err(e);
        }
        if let Some(r) = queue::record_take(host, id, &mut msg.iov, peek) {
            return Ok(Some(r));
        }
        if !nonblock && s.shutdown() & RCV_SHUTDOWN != 0 {
            return Err(Errno(0));
        }
        Ok(None)
    });
    let rec = match rec {
        Ok(r) => r,
        Err(Errno(0)) => return Ok(0),
        Err(e) => return Err(e),
    };
    if rec.copied < rec.len {
        msg.msg_flags |= libc::MSG_TRUNC;
    }
    // sock_recv_cmsgs, the address, then the IP-level control messages.
    super::cmsg::sock_recv_timestamp(msg, &opts, rec.meta.tstamp);
    let from = InetAddr::parse(rec.from.as_bytes());
    if let Some(a) = from {
        msg.name = Some(a.to_addr(family));
    }
    let v4_packet = from.is_none_or(|a| a.is_v4());
    if family == AF_INET6 {
        super::cmsg::ip6_datagram_recv_common_ctl(msg, &inet, &rec.meta);
    }
    if v4_packet {
        super::cmsg::ip_cmsg_recv_offset(msg, &inet, &rec.meta);
    }
    Ok(if flags & libc::MSG_TRUNC != 0 { rec.len } else { rec.copied })
}
