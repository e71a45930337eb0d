//! Options below SOL_SOCKET on AF_INET / AF_INET6 sockets, dispatched as
//! the kernel's `sk->sk_prot->setsockopt` chain does:
//! - `tcp_setsockopt` / `tcp_getsockopt` (net/ipv4/tcp.c): SOL_TCP here,
//!   anything else to `icsk_af_ops` (`ip_setsockopt` or `ipv6_setsockopt`);
//! - `udp_setsockopt` / `udpv6_setsockopt` (net/ipv4/udp.c, net/ipv6/udp.c):
//!   SOL_UDP here, anything else to the IP layer;
//! - `ip_setsockopt` / `do_ip_getsockopt` (net/ipv4/ip_sockglue.c);
//! - `ipv6_setsockopt` / `ipv6_getsockopt` (net/ipv6/ipv6_sockglue.c),
//!   which hand SOL_IP to the IPv4 code.
//!
//! Also the loopback numbers the options report (`tcp_get_info`, the MSS
//! both ends of a handshake settle on, the route's MTU).

use super::sock::*;
use super::socket::with_host;
use super::sockopt::{self, int_out};
use crate::sys::{capable as sockopt_capable, CAP_NET_ADMIN, CAP_NET_RAW};
use crate::errno::{Errno, KResult};
use crate::shm::{Host, HostState};
use once_cell::sync::OnceCell;
use std::sync::atomic::Ordering;

const AF_INET6: u16 = libc::AF_INET6 as u16;

// Option numbers the libc crate may not name.
const IP_RECVERR_RFC4884: i32 = 26;
const IP_CHECKSUM: i32 = 23;
const IP_RECVFRAGSIZE: i32 = 25;
const IP_MULTICAST_ALL: i32 = 49;
const IP_NODEFRAG: i32 = 22;
const IP_BIND_ADDRESS_NO_PORT: i32 = 24;
const IP_MINTTL: i32 = 21;
const IP_PMTUDISC_OMIT: i32 = 5;
const IPV6_PMTUDISC_OMIT: i32 = 5;
const IPV6_MINHOPCOUNT: i32 = 73;
const IPV6_TRANSPARENT: i32 = 75;
const IPV6_FREEBIND: i32 = 78;
const IPV6_DONTFRAG: i32 = 62;
const IPV6_RECVTCLASS: i32 = 66;
const IPV6_RECVHOPLIMIT: i32 = 51;
const TCP_INQ: i32 = 36;
const TCP_THIN_LINEAR_TIMEOUTS: i32 = 16;
const TCP_THIN_DUPACK: i32 = 17;
const TCP_SAVE_SYN: i32 = 27;
const TCP_FASTOPEN_CONNECT: i32 = 30;
const TCP_FASTOPEN_NO_COOKIE: i32 = 34;
const TCP_TX_DELAY: i32 = 37;
const UDP_ENCAP: i32 = 100;
const UDP_NO_CHECK6_TX: i32 = 101;
const UDP_NO_CHECK6_RX: i32 = 102;
const UDP_SEGMENT: i32 = 103;
const UDP_GRO: i32 = 104;

/// INET_ECN_MASK: the ECN bits TCP keeps out of IP_TOS / IPV6_TCLASS.
const INET_ECN_MASK: i32 = 3;
/// TCP_MSS_DEFAULT, TCP_MIN_MSS, MAX_TCP_WINDOW.
pub const TCP_MSS_DEFAULT: i32 = 536;
const TCP_MIN_MSS: i32 = 88;
const MAX_TCP_WINDOW: i32 = 32767;
const MAX_TCP_SYNCNT: i32 = 127;
/// TCP_FIN_TIMEOUT_MAX / HZ.
const TCP_FIN_TIMEOUT_MAX_SECS: i32 = 120;
/// TCP_TIMEOUT_INIT / HZ and TCP_RTO_MAX / HZ, the TCP_DEFER_ACCEPT scale.
const TCP_TIMEOUT_INIT_SECS: i32 = 1;
const TCP_RTO_MAX_SECS: i32 = 120;
/// SOCK_MIN_RCVBUF on x86_64 (TCP_WINDOW_CLAMP's floor is half of it).
const SOCK_MIN_RCVBUF: u32 = 2304;
/// SOCK_RCVBUF_LOCK in sk_userlocks.
const SOCK_RCVBUF_LOCK: u8 = 2;
/// TCPOLEN_TSTAMP_ALIGNED: what timestamps take from every segment.
const TCPOLEN_TSTAMP_ALIGNED: i32 = 12;
/// TCP_MAX_WSCALE.
const TCP_MAX_WSCALE: u32 = 14;
/// TCP_CA_NAME_MAX.
const TCP_CA_NAME_MAX: usize = 16;
/// IP_MAX_MTU: an IPv4 route's MTU is capped at it.
const IP_MAX_MTU: i32 = 0xFFFF;
/// TCP_INFO's size (struct tcp_info of the kernels emulated).
pub const TCP_INFO_LEN: usize = 280;

fn sysctl_u32(path: &str, default: u32) -> u32 {
    std::fs::read_to_string(path).ok().and_then(|s| s.split_whitespace().next()?.parse().ok()).unwrap_or(default)
}

macro_rules! sysctl_once {
    ($name:ident, $path:expr, $default:expr) => {
        fn $name() -> u32 {
            static V: OnceCell<u32> = OnceCell::new();
            *V.get_or_init(|| sysctl_u32($path, $default))
        }
    };
}

sysctl_once!(ip_default_ttl, "/proc/sys/net/ipv4/ip_default_ttl", 64);
sysctl_once!(ipv6_hop_limit, "/proc/sys/net/ipv6/conf/all/hop_limit", 64);
sysctl_once!(ip_no_pmtu_disc, "/proc/sys/net/ipv4/ip_no_pmtu_disc", 0);
sysctl_once!(tcp_syn_retries, "/proc/sys/net/ipv4/tcp_syn_retries", 6);
sysctl_once!(tcp_fin_timeout, "/proc/sys/net/ipv4/tcp_fin_timeout", 60);
sysctl_once!(tcp_timestamps, "/proc/sys/net/ipv4/tcp_timestamps", 1);
sysctl_once!(tcp_sack, "/proc/sys/net/ipv4/tcp_sack", 1);
sysctl_once!(tcp_window_scaling, "/proc/sys/net/ipv4/tcp_window_scaling", 1);
sysctl_once!(rmem_max, "/proc/sys/net/core/rmem_max", 212992);
sysctl_once!(lo_mtu, "/sys/class/net/lo/mtu", 65536);

/// net.ipv4.tcp_rmem[2].
fn tcp_rmem_max() -> u32 {
    static V: OnceCell<u32> = OnceCell::new();
    *V.get_or_init(|| {
        let s = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_rmem").unwrap_or_default();
        s.split_whitespace().nth(2).and_then(|x| x.parse().ok()).unwrap_or(6291456)
    })
}

fn sysctl_words(path: &str, default: &str) -> Vec<String> {
    let s = std::fs::read_to_string(path).unwrap_or_else(|_| default.to_string());
    s.split_whitespace().map(str::to_string).collect()
}

/// net.ipv4.tcp_congestion_control, and the algorithms there are and the
/// ones an unprivileged process may pick (TCP_CONG_NON_RESTRICTED).
fn tcp_ca_default() -> &'static str {
    static V: OnceCell<String> = OnceCell::new();
    V.get_or_init(|| sysctl_words("/proc/sys/net/ipv4/tcp_congestion_control", "cubic").into_iter().next().unwrap_or_default())
}
fn tcp_ca_available() -> &'static [String] {
    static V: OnceCell<Vec<String>> = OnceCell::new();
    V.get_or_init(|| sysctl_words("/proc/sys/net/ipv4/tcp_available_congestion_control", "reno cubic"))
}
fn tcp_ca_allowed() -> &'static [String] {
    static V: OnceCell<Vec<String>> = OnceCell::new();
    V.get_or_init(|| sysctl_words("/proc/sys/net/ipv4/tcp_allowed_congestion_control", "reno cubic"))
}

fn is_tcp(c: &SockCtl) -> bool {
    c.kind == libc::SOCK_STREAM as u16
}

/// The defaults `inet_create` / `inet6_create` / `tcp_init_sock` give.
pub fn inet_init_opts(c: &mut SockCtl) {
    let i = &mut c.inet;
    i.mc_ttl = 1;
    i.mc_loop = true;
    i.mc_all = true;
    i.pmtudisc = if ip_no_pmtu_disc() != 0 { libc::IP_PMTUDISC_DONT as u8 } else { libc::IP_PMTUDISC_WANT as u8 };
    i.hop_limit = -1;
    i.mcast_hops = 1;
    i.mc6_loop = true;
    i.pmtudisc6 = libc::IPV6_PMTUDISC_WANT as u8;
    i.mss_cache = TCP_MSS_DEFAULT;
    i.linger2 = 0;
}

// ----- value helpers ------------------------------------------------------------

fn int_in(val: &[u8]) -> KResult<i32> {
    if val.len() < 4 {
        return Err(Errno::EINVAL);
    }
    Ok(i32::from_ne_bytes([val[0], val[1], val[2], val[3]]))
}

/// The `int` an IP option reads: four bytes, one byte, or 0 (do_ip_setsockopt).
fn ip_int_in(val: &[u8]) -> i32 {
    match val.len() {
        0 => 0,
        1..=3 => val[0] as i32,
        _ => i32::from_ne_bytes([val[0], val[1], val[2], val[3]]),
    }
}

/// `copyval` of do_ip_getsockopt: a short buffer gets one byte when the
/// value fits in one.
fn ip_copyval(v: i32, len: i32) -> Vec<u8> {
    if len > 0 && len < 4 && (0..=255).contains(&v) {
        vec![v as u8]
    } else {
        int_out(v, (len as u32).min(4) as usize)
    }
}

/// `rt_tos2priority`: the sk_priority an IP_TOS implies (ip_tos2prio).
fn rt_tos2priority(tos: i32) -> i32 {
    const IP_TOS2PRIO: [i32; 16] = [0, 0, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4];
    IP_TOS2PRIO[((tos & 0x1e) >> 1) as usize]
}

/// `secs_to_retrans`: TCP_DEFER_ACCEPT seconds as SYN-ACK retransmissions.
fn secs_to_retrans(seconds: i32, mut timeout: i32, rto_max: i32) -> u8 {
    let mut res: u8 = 0;
    if seconds > 0 {
        let mut period = timeout;
        res = 1;
        while seconds > period && res < 255 {
            res += 1;
            timeout <<= 1;
            if timeout > rto_max {
                timeout = rto_max;
            }
            period += timeout;
        }
    }
    res
}

/// `retrans_to_secs`.
fn retrans_to_secs(mut retrans: u8, mut timeout: i32, rto_max: i32) -> i32 {
    let mut period = 0;
    if retrans > 0 {
        period = timeout;
        retrans -= 1;
        while retrans > 0 {
            timeout <<= 1;
            if timeout > rto_max {
                timeout = rto_max;
            }
            period += timeout;
            retrans -= 1;
        }
    }
    period
}

// ----- routes on loopback ---------------------------------------------------------

/// Whether the socket holds a route (`sk_dst_cache`): a TCP socket from
/// its connect (or its SYN) on, a UDP socket while connected.
fn has_dst(host: &Host, id: SockId, c: &SockCtl) -> bool {
    if is_tcp(c) {
        c.raddr.port != 0
    } else {
        host.shared()[id.idx()].state() == TcpState::Established
    }
}

/// `dst_mtu` of the loopback route: lo's MTU, capped at IP_MAX_MTU for IPv4.
fn dst_mtu(c: &SockCtl) -> i32 {
    let mtu = lo_mtu() as i32;
    if c.family != AF_INET6 || c.raddr.is_v4() {
        mtu.min(IP_MAX_MTU)
    } else {
        mtu
    }
}

/// The IP header the socket's segments carry: IPv4 for AF_INET and for
/// v4-mapped peers of AF_INET6 sockets (ipv6_mapped), else IPv6.
fn net_header_len(c: &SockCtl) -> i32 {
    if c.family != AF_INET6 || c.raddr.is_v4() {
        20
    } else {
        40
    }
}

/// `tcp_full_space` with the default scaling_ratio (half of sk_rcvbuf).
fn tcp_full_space(rcvbuf: u32) -> u32 {
    rcvbuf / 2
}

/// `tcp_mss_clamp`.
fn tcp_mss_clamp(user_mss: i32, mss: i32) -> i32 {
    if user_mss != 0 && user_mss < mss {
        user_mss
    } else {
        mss
    }
}

/// `tcp_bound_to_half_wnd`.
fn tcp_bound_to_half_wnd(max_window: u32, pktsize: i32, tcp_header_len: i32) -> i32 {
    let cutoff = if max_window > TCP_MSS_DEFAULT as u32 { max_window >> 1 } else { max_window } as i32;
    if cutoff != 0 && pktsize > cutoff {
        cutoff.max(68 - tcp_header_len)
    } else {
        pktsize
    }
}

/// The receive window scale `tcp_select_initial_window` picks.
fn tcp_rcv_wscale(window_clamp: u32) -> u8 {
    let space = tcp_rmem_max().max(rmem_max()).min(window_clamp.max(1));
    (31 - space.leading_zeros()).saturating_sub(15).min(TCP_MAX_WSCALE) as u8
}

/// The handshake's numbers for a connection on loopback, as
/// `tcp_connect_init`, `tcp_openreq_init_rwin` (the SYN-ACK's window and MSS
/// option), `tcp_rcv_synsent_state_process`, `tcp_create_openreq_child` and
/// `tcp_sync_mss` leave them on the client and on the listener's child.
/// `child` starts as the listener's copy.
pub fn tcp_handshake_opts(client: &mut SockCtl, client_rcvbuf: u32, child: &mut SockCtl, listener_rcvbuf: u32) {
    let hdr = net_header_len(client);
    let mtu = dst_mtu(client);
    let advmss = mtu - hdr - 20; // dst_metric_advmss
    let ts = tcp_timestamps() != 0;
    let wscale_ok = tcp_window_scaling() != 0;
    let sack = tcp_sack() != 0;
    let opt_len = if ts { TCPOLEN_TSTAMP_ALIGNED } else { 0 };

    let c_advmss = tcp_mss_clamp(client.opts.maxseg, advmss);
    let l_advmss = tcp_mss_clamp(child.opts.maxseg, advmss);
    // The SYN carries c_advmss; the request's mss_clamp applies the
    // listener's user_mss (tcp_parse_options).
    let req_mss = tcp_mss_clamp(child.opts.maxseg, c_advmss);
    // The SYN-ACK: MSS option l_advmss, window rounded to whole segments.
    let l_space = tcp_full_space(listener_rcvbuf);
    let l_seg = (l_advmss - opt_len).max(1) as u32;
    let synack_wnd = if l_space > l_seg { l_space - l_space % l_seg } else { l_space }.min(65535);
    let l_clamp = if child.inet.window_clamp != 0 { child.inet.window_clamp } else { 65535 << TCP_MAX_WSCALE };
    let l_wscale = if wscale_ok { tcp_rcv_wscale(l_clamp) } else { 0 };
    let c_clamp = if client.inet.window_clamp != 0 { client.inet.window_clamp } else { 65535 << TCP_MAX_WSCALE };
    let c_wscale = if wscale_ok { tcp_rcv_wscale(c_clamp) } else { 0 };

    // tcp_mtu_to_mss: the MTU's room, clamped, less the options.
    let mtu_to_mss = |clamp: i32| (mtu - hdr - 20).min(clamp).max(48) - opt_len;

    // Client: mss_clamp from the SYN-ACK, bounded by half its window.
    let c_clamp_mss = tcp_mss_clamp(client.opts.maxseg, l_advmss);
    let c = &mut client.inet;
    c.mss_cache = tcp_bound_to_half_wnd(synack_wnd, mtu_to_mss(c_clamp_mss), 20 + opt_len);
    c.advmss = c_advmss;
    c.rcv_mss = c.advmss.min(c.mss_cache).min(TCP_MSS_DEFAULT).max(TCP_MIN_MSS);
    c.tstamp_ok = ts;
    c.sack_ok = sack;
    c.wscale_ok = wscale_ok;
    c.rcv_wscale = c_wscale;
    c.snd_wscale = l_wscale;
    c.window_clamp = (65535u32 << c_wscale).min(c_clamp);

    // Child: the final ACK's window (the client's free space, in units of
    // its scale) bounds it.
    let c_space = tcp_full_space(client_rcvbuf);
    let ack_wnd = (c_space >> c_wscale) << c_wscale;
    let ch = &mut child.inet;
    ch.mss_cache = tcp_bound_to_half_wnd(ack_wnd, mtu_to_mss(req_mss), 20 + opt_len);
    ch.advmss = l_advmss;
    ch.rcv_mss = ch.advmss.min(ch.mss_cache).min(TCP_MSS_DEFAULT).max(TCP_MIN_MSS);
    ch.tstamp_ok = ts;
    ch.sack_ok = sack;
    ch.wscale_ok = wscale_ok;
    ch.rcv_wscale = l_wscale;
    ch.snd_wscale = c_wscale;
    ch.window_clamp = (65535u32 << l_wscale).min(l_clamp);
}

/// What `sk_clone_lock`, `inet_csk_clone_lock`, `tcp_create_openreq_child`
/// and `tcp_v4_syn_recv_sock` / `tcp_v6_syn_recv_sock` change in the
/// child's copy of the listener's options. `syn_ttl` is the hop limit the
/// SYN arrived with.
pub fn inet_clone_opts(child: &mut SockCtl, syn_ttl: i32) {
    child.opts.priority = 0; // sk_clone_lock
    let i = &mut child.inet;
    i.pingpong = false; // icsk_ack cleared
    i.defer_accept = 0; // icsk_accept_queue cleared
    i.fastopen_qlen = 0;
    i.mc_ttl = syn_ttl; // newinet->mc_ttl = ip_hdr(skb)->ttl
    i.mcast_hops = syn_ttl; // newnp->mcast_hops = ipv6_hdr(skb)->hop_limit
}

/// The hop limit a socket's packets leave with (unicast).
pub fn unicast_ttl(c: &SockCtl) -> i32 {
    if c.family == AF_INET6 && !c.raddr.is_v4() {
        if c.inet.hop_limit >= 0 {
            c.inet.hop_limit
        } else {
            ipv6_hop_limit() as i32
        }
    } else if c.opts.ttl >= 0 {
        c.opts.ttl
    } else {
        ip_default_ttl() as i32
    }
}

// ----- entry points ------------------------------------------------------------------

/// `sock_common_setsockopt` -> `sk->sk_prot->setsockopt`.
pub fn inet_setsockopt(host: &Host, id: SockId, level: i32, name: i32, val: &[u8]) -> KResult<()> {
    with_host(host, |g| {
        if is_tcp(&g.socks[id.idx()]) {
            tcp_setsockopt(host, g, id, level, name, val)
        } else {
            udp_setsockopt(host, g, id, level, name, val)
        }
    })
}

/// `sock_common_getsockopt` -> `sk->sk_prot->getsockopt`.
pub fn inet_getsockopt(host: &Host, id: SockId, level: i32, name: i32, len: i32) -> KResult<Vec<u8>> {
    with_host(host, |g| {
        if is_tcp(&g.socks[id.idx()]) {
            tcp_getsockopt(host, g, id, level, name, len)
        } else {
            udp_getsockopt(host, g, id, level, name, len)
        }
    })
}

/// `icsk_af_ops->setsockopt` / the IP layer under UDP.
fn af_setsockopt(host: &Host, g: &mut HostState, id: SockId, level: i32, name: i32, val: &[u8]) -> KResult<()> {
    if g.socks[id.idx()].family == AF_INET6 {
        ipv6_setsockopt(host, g, id, level, name, val)
    } else {
        ip_setsockopt(host, g, id, level, name, val)
    }
}

fn af_getsockopt(host: &Host, g: &HostState, id: SockId, level: i32, name: i32, len: i32) -> KResult<Vec<u8>> {
    if g.socks[id.idx()].family == AF_INET6 {
        ipv6_getsockopt(host, g, id, level, name, len)
    } else {
        ip_getsockopt(host, g, id, level, name, len)
    }
}

// ----- IPPROTO_IP -----------------------------------------------------------------------

/// `ip_setsockopt` -> `do_ip_setsockopt`.
fn ip_setsockopt(host: &Host, g: &mut HostState, id: SockId, level: i32, name: i32, val: &[u8]) -> KResult<()> {
    let _ = host;
    if level != libc::IPPROTO_IP {
        return Err(Errno::ENOPROTOOPT);
    }
    let c = &mut g.socks[id.idx()];
    let tcp = is_tcp(c);
    let optlen = val.len();
    // If optlen == 0 the value is 0; one to three bytes give one byte.
    let v = ip_int_in(val);
    let i = &mut c.inet;
    match name {
        libc::IP_PKTINFO => i.pktinfo = v != 0,
        libc::IP_RECVTTL => i.recvttl = v != 0,
        libc::IP_RECVTOS => i.recvtos = v != 0,
        libc::IP_RECVERR => {
            i.recverr = v != 0;
            if v == 0 {
                // skb_queue_purge(&sk->sk_error_queue)
                super::icmp::errq_purge(host, id);
            }
        }
        libc::IP_FREEBIND => {
            if optlen < 1 {
                return Err(Errno::EINVAL);
            }
            i.freebind = v != 0;
        }
        libc::IP_HDRINCL | IP_NODEFRAG => return Err(Errno::ENOPROTOOPT), // SOCK_RAW only
        libc::IP_MULTICAST_LOOP => {
            if optlen < 1 {
                return Err(Errno::EINVAL);
            }
            i.mc_loop = v != 0;
        }
        IP_MULTICAST_ALL => {
            if optlen < 1 {
                return Err(Errno::EINVAL);
            }
            if v != 0 && v != 1 {
                return Err(Errno::EINVAL);
            }
            i.mc_all = v != 0;
        }
        libc::IP_TRANSPARENT => {
            if v != 0 && !sockopt_capable(CAP_NET_RAW) && !sockopt_capable(CAP_NET_ADMIN) {
                return Err(Errno::EPERM);
            }
            if optlen < 1 {
                return Err(Errno::EINVAL);
            }
            i.transparent = v != 0;
        }
        IP_BIND_ADDRESS_NO_PORT => i.bind_address_no_port = v != 0,
        libc::IP_TTL => {
            if optlen < 1 {
                return Err(Errno::EINVAL);
            }
            if v != -1 && !(1..=255).contains(&v) {
                return Err(Errno::EINVAL);
            }
            c.opts.ttl = v;
        }
        IP_MINTTL => {
            if optlen < 1 {
                return Err(Errno::EINVAL);
            }
            if !(0..=255).contains(&v) {
                return Err(Errno::EINVAL);
            }
            i.minttl = v;
        }
        libc::IP_MULTICAST_TTL => {
            if tcp {
                return Err(Errno::EINVAL);
            }
            if optlen < 1 {
                return Err(Errno::EINVAL);
            }
            let v = if v == -1 { 1 } else { v };
            if !(0..=255).contains(&v) {
                return Err(Errno::EINVAL);
            }
            i.mc_ttl = v;
        }
        libc::IP_MTU_DISCOVER => {
            // ip_sock_set_mtu_discover
            if !(libc::IP_PMTUDISC_DONT..=IP_PMTUDISC_OMIT).contains(&v) {
                return Err(Errno::EINVAL);
            }
            i.pmtudisc = v as u8;
        }
        libc::IP_TOS => {
            // __ip_sock_set_tos: TCP keeps its ECN bits; the priority follows.
            let old = c.opts.tos;
            let mut v = v & 0xff;
            if tcp {
                v = (v & !INET_ECN_MASK) | (old & INET_ECN_MASK);
            }
            if old != v {
                c.opts.tos = v;
                c.opts.priority = rt_tos2priority(v);
            }
        }
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(())
}

/// `ip_getsockopt` -> `do_ip_getsockopt`.
fn ip_getsockopt(host: &Host, g: &HostState, id: SockId, level: i32, name: i32, len: i32) -> KResult<Vec<u8>> {
    if level != libc::IPPROTO_IP {
        return Err(Errno::EOPNOTSUPP);
    }
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let c = &g.socks[id.idx()];
    let i = &c.inet;
    let v = match name {
        libc::IP_PKTINFO => i.pktinfo as i32,
        libc::IP_RECVTTL => i.recvttl as i32,
        libc::IP_RECVTOS => i.recvtos as i32,
        libc::IP_RECVOPTS | libc::IP_RETOPTS | libc::IP_PASSSEC | libc::IP_RECVORIGDSTADDR | IP_CHECKSUM
        | IP_RECVFRAGSIZE | IP_RECVERR_RFC4884 | libc::IP_HDRINCL | IP_NODEFRAG => 0,
        libc::IP_RECVERR => i.recverr as i32,
        libc::IP_FREEBIND => i.freebind as i32,
        libc::IP_MULTICAST_LOOP => i.mc_loop as i32,
        IP_MULTICAST_ALL => i.mc_all as i32,
        libc::IP_TRANSPARENT => i.transparent as i32,
        IP_BIND_ADDRESS_NO_PORT => i.bind_address_no_port as i32,
        libc::IP_TTL => {
            if c.opts.ttl < 0 {
                ip_default_ttl() as i32
            } else {
                c.opts.ttl
            }
        }
        IP_MINTTL => i.minttl,
        libc::IP_MULTICAST_TTL => i.mc_ttl,
        libc::IP_MTU_DISCOVER => i.pmtudisc as i32,
        libc::IP_TOS => c.opts.tos,
        libc::IP_MTU => {
            if !has_dst(host, id, c) {
                return Err(Errno::ENOTCONN);
            }
            dst_mtu(c)
        }
        _ => return Err(Errno::ENOPROTOOPT),
    };
    Ok(ip_copyval(v, len))
}

// ----- IPPROTO_IPV6 ---------------------------------------------------------------------

/// `ipv6_setsockopt` -> `do_ipv6_setsockopt`.
fn ipv6_setsockopt(host: &Host, g: &mut HostState, id: SockId, level: i32, name: i32, val: &[u8]) -> KResult<()> {
    if level == libc::IPPROTO_IP {
        // udp_prot.setsockopt: SOL_IP goes on to ip_setsockopt.
        return ip_setsockopt(host, g, id, level, name, val);
    }
    if level != libc::IPPROTO_IPV6 {
        return Err(Errno::ENOPROTOOPT);
    }
    let optlen = val.len();
    let v = if optlen >= 4 { int_in(val)? } else { 0 };
    let on = v != 0;
    let short = optlen < 4;
    let state = host.shared()[id.idx()].state();
    let c = &mut g.socks[id.idx()];
    let tcp = is_tcp(c);
    let i = &mut c.inet;
    match name {
        libc::IPV6_UNICAST_HOPS => {
            if short || !(-1..=255).contains(&v) {
                return Err(Errno::EINVAL);
            }
            i.hop_limit = v;
        }
        libc::IPV6_MULTICAST_LOOP => {
            if short || v != on as i32 {
                return Err(Errno::EINVAL);
            }
            i.mc6_loop = on;
        }
        libc::IPV6_MULTICAST_HOPS => {
            if tcp {
                return Err(Errno::ENOPROTOOPT);
            }
            if short || !(-1..=255).contains(&v) {
                return Err(Errno::EINVAL);
            }
            i.mcast_hops = if v == -1 { 1 } else { v };
        }
        libc::IPV6_MTU => {
            if short || (v != 0 && v < 1280) {
                return Err(Errno::EINVAL);
            }
            i.frag_size = v;
        }
        libc::IPV6_RECVERR => {
            if short {
                return Err(Errno::EINVAL);
            }
            i.recverr6 = on;
            if !on {
                // skb_queue_purge(&sk->sk_error_queue)
                super::icmp::errq_purge(host, id);
            }
        }
        libc::IPV6_MTU_DISCOVER => {
            if short || !(libc::IPV6_PMTUDISC_DONT..=IPV6_PMTUDISC_OMIT).contains(&v) {
                return Err(Errno::EINVAL);
            }
            i.pmtudisc6 = v as u8;
        }
        IPV6_DONTFRAG => i.dontfrag = on,
        libc::IPV6_ADDRFORM if super::kver::ipv6_addrform_gone() => return Err(Errno::ENOPROTOOPT),
        libc::IPV6_ADDRFORM => {
            // do_ipv6_setsockopt IPV6_ADDRFORM: a connected v4-mapped
            // socket becomes AF_INET (tcp_prot/udp_prot, inet_stream_ops/
            // inet_dgram_ops: the same ops here, so only sk_family changes).
            // No UDP corked data is pending here (up->pending: EBUSY).
            if short || v != libc::AF_INET {
                return Err(Errno::EINVAL);
            }
            if state != TcpState::Established {
                return Err(Errno::ENOTCONN);
            }
            if c.opts.v6only || !c.raddr.is_v4() {
                return Err(Errno::EADDRNOTAVAIL);
            }
            c.family = libc::AF_INET as u16;
        }
        libc::IPV6_V6ONLY => {
            if short || c.num != 0 || state != TcpState::Close {
                return Err(Errno::EINVAL);
            }
            c.opts.v6only = on;
        }
        libc::IPV6_RECVPKTINFO => {
            if short {
                return Err(Errno::EINVAL);
            }
            i.rxinfo = on;
        }
        IPV6_RECVHOPLIMIT => {
            if short {
                return Err(Errno::EINVAL);
            }
            i.rxhlim = on;
        }
        IPV6_RECVTCLASS => {
            if short {
                return Err(Errno::EINVAL);
            }
            i.rxtclass = on;
        }
        libc::IPV6_TCLASS => {
            if short || !(-1..=0xff).contains(&v) {
                return Err(Errno::EINVAL);
            }
            let mut v = if v == -1 { 0 } else { v };
            if tcp {
                v = (v & !INET_ECN_MASK) | (i.tclass & INET_ECN_MASK);
            }
            i.tclass = v;
        }
        IPV6_TRANSPARENT => {
            if on && !sockopt_capable(CAP_NET_RAW) && !sockopt_capable(CAP_NET_ADMIN) {
                return Err(Errno::EPERM);
            }
            if short {
                return Err(Errno::EINVAL);
            }
            i.transparent = on;
        }
        IPV6_FREEBIND => {
            if short {
                return Err(Errno::EINVAL);
            }
            i.freebind = on;
        }
        IPV6_MINHOPCOUNT => {
            if short || !(0..=255).contains(&v) {
                return Err(Errno::EINVAL);
            }
            i.minttl = v;
        }
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(())
}

/// `ipv6_getsockopt` -> `do_ipv6_getsockopt`.
fn ipv6_getsockopt(host: &Host, g: &HostState, id: SockId, level: i32, name: i32, len: i32) -> KResult<Vec<u8>> {
    if level == libc::IPPROTO_IP {
        // udp_prot.getsockopt -> ip_getsockopt.
        return ip_getsockopt(host, g, id, level, name, len);
    }
    if level != libc::IPPROTO_IPV6 {
        return Err(Errno::ENOPROTOOPT);
    }
    let c = &g.socks[id.idx()];
    let i = &c.inet;
    let v = match name {
        libc::IPV6_MTU => {
            if !has_dst(host, id, c) {
                return Err(Errno::ENOTCONN);
            }
            dst_mtu(c)
        }
        libc::IPV6_V6ONLY => c.opts.v6only as i32,
        libc::IPV6_RECVPKTINFO => i.rxinfo as i32,
        IPV6_RECVHOPLIMIT => i.rxhlim as i32,
        IPV6_RECVTCLASS => i.rxtclass as i32,
        libc::IPV6_TCLASS => i.tclass,
        IPV6_TRANSPARENT => i.transparent as i32,
        IPV6_FREEBIND => i.freebind as i32,
        libc::IPV6_UNICAST_HOPS => {
            if i.hop_limit >= 0 {
                i.hop_limit
            } else {
                ipv6_hop_limit() as i32 // ip6_dst_hoplimit or devconf_all->hop_limit
            }
        }
        libc::IPV6_MULTICAST_HOPS => i.mcast_hops,
        libc::IPV6_MULTICAST_LOOP => i.mc6_loop as i32,
        libc::IPV6_MTU_DISCOVER => i.pmtudisc6 as i32,
        libc::IPV6_RECVERR => i.recverr6 as i32,
        IPV6_MINHOPCOUNT => i.minttl,
        IPV6_DONTFRAG => i.dontfrag as i32,
        _ => return Err(Errno::ENOPROTOOPT),
    };
    // len = min_t(unsigned int, sizeof(int), len): a negative one is large.
    Ok(int_out(v, (len as u32).min(4) as usize))
}

// ----- IPPROTO_UDP ------------------------------------------------------------------------

/// `udp_setsockopt` / `udpv6_setsockopt` -> `udp_lib_setsockopt`.
fn udp_setsockopt(host: &Host, g: &mut HostState, id: SockId, level: i32, name: i32, val: &[u8]) -> KResult<()> {
    if level != libc::IPPROTO_UDP {
        return af_setsockopt(host, g, id, level, name, val);
    }
    let v = int_in(val)?;
    let c = &mut g.socks[id.idx()];
    match name {
        libc::UDP_CORK => c.inet.udp_cork = v != 0,
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(())
}

/// `udp_getsockopt` / `udpv6_getsockopt` -> `udp_lib_getsockopt`.
fn udp_getsockopt(host: &Host, g: &HostState, id: SockId, level: i32, name: i32, len: i32) -> KResult<Vec<u8>> {
    if level != libc::IPPROTO_UDP {
        return af_getsockopt(host, g, id, level, name, len);
    }
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let c = &g.socks[id.idx()];
    let v = match name {
        libc::UDP_CORK => c.inet.udp_cork as i32,
        // Never set here (setting them is refused): the kernel's defaults.
        UDP_ENCAP | UDP_NO_CHECK6_TX | UDP_NO_CHECK6_RX | UDP_SEGMENT | UDP_GRO => 0,
        _ => return Err(Errno::ENOPROTOOPT),
    };
    Ok(int_out(v, (len as usize).min(4)))
}

// ----- IPPROTO_TCP ------------------------------------------------------------------------

/// `tcp_set_rcvlowat`: SO_RCVLOWAT on TCP, capped at half the largest
/// receive buffer; the buffer grows to hold that much window.
pub fn tcp_set_rcvlowat(s: &SockShared, c: &mut SockCtl, val: i32) {
    let locked = c.userlocks & SOCK_RCVBUF_LOCK != 0;
    let rcvbuf = s.rcvbuf.load(Ordering::Relaxed);
    let cap = if locked { rcvbuf >> 1 } else { tcp_rmem_max() >> 1 } as i32;
    let val = val.min(cap);
    c.opts.rcvlowat = val.max(1);
    if locked {
        return;
    }
    // tcp_space_from_win with the default scaling_ratio.
    let space = (val as u64 * 2).min(i32::MAX as u64) as u32;
    if space > rcvbuf {
        s.rcvbuf.store(space, Ordering::Relaxed);
        c.inet.window_clamp = val as u32;
    }
}

/// `tcp_set_congestion_control`.
fn tcp_set_congestion_control(c: &mut SockCtl, name: &[u8]) -> KResult<()> {
    let n = std::str::from_utf8(name).unwrap_or("");
    let cur = current_ca(c);
    if n == cur {
        return Ok(());
    }
    if n.is_empty() || !tcp_ca_available().iter().any(|a| a == n) {
        return Err(Errno::ENOENT);
    }
    if !tcp_ca_allowed().iter().any(|a| a == n) && !sockopt_capable(CAP_NET_ADMIN) {
        return Err(Errno::EPERM);
    }
    let mut b = [0u8; TCP_CA_NAME_MAX];
    b[..n.len()].copy_from_slice(n.as_bytes());
    c.inet.ca_name = b;
    Ok(())
}

fn current_ca(c: &SockCtl) -> &str {
    let n = c.inet.ca_name.iter().position(|&b| b == 0).unwrap_or(TCP_CA_NAME_MAX);
    if n == 0 {
        tcp_ca_default()
    } else {
        std::str::from_utf8(&c.inet.ca_name[..n]).unwrap_or("")
    }
}

/// `tcp_setsockopt` -> `do_tcp_setsockopt`.
fn tcp_setsockopt(host: &Host, g: &mut HostState, id: SockId, level: i32, name: i32, val: &[u8]) -> KResult<()> {
    if level != libc::IPPROTO_TCP {
        return af_setsockopt(host, g, id, level, name, val);
    }
    let state = host.shared()[id.idx()].state();
    let c = &mut g.socks[id.idx()];
    // The string option first.
    if name == libc::TCP_CONGESTION {
        if val.is_empty() {
            return Err(Errno::EINVAL);
        }
        let n = val.len().min(TCP_CA_NAME_MAX - 1);
        let end = val[..n].iter().position(|&b| b == 0).unwrap_or(n);
        return tcp_set_congestion_control(c, &val[..end]);
    }
    let v = int_in(val)?;
    let o = &mut c.opts;
    let i = &mut c.inet;
    match name {
        libc::TCP_SYNCNT => {
            if !(1..=MAX_TCP_SYNCNT).contains(&v) {
                return Err(Errno::EINVAL);
            }
            i.syn_retries = v as u8;
        }
        libc::TCP_USER_TIMEOUT => {
            if v < 0 {
                return Err(Errno::EINVAL);
            }
            i.user_timeout = v as u32;
        }
        libc::TCP_KEEPINTVL => {
            if !(1..=32767).contains(&v) {
                return Err(Errno::EINVAL);
            }
            o.keepintvl = v;
        }
        libc::TCP_KEEPCNT => {
            if !(1..=127).contains(&v) {
                return Err(Errno::EINVAL);
            }
            o.keepcnt = v;
        }
        libc::TCP_LINGER2 => {
            i.linger2 = if v < 0 {
                -1
            } else {
                v.min(TCP_FIN_TIMEOUT_MAX_SECS)
            };
        }
        libc::TCP_DEFER_ACCEPT => {
            i.defer_accept = secs_to_retrans(v, TCP_TIMEOUT_INIT_SECS, TCP_RTO_MAX_SECS);
        }
        libc::TCP_MAXSEG => {
            if v != 0 && !(TCP_MIN_MSS..=MAX_TCP_WINDOW).contains(&v) {
                return Err(Errno::EINVAL);
            }
            o.maxseg = v;
        }
        libc::TCP_NODELAY => o.nodelay = v != 0,
        libc::TCP_CORK => o.cork = v != 0,
        libc::TCP_KEEPIDLE => {
            if !(1..=32767).contains(&v) {
                return Err(Errno::EINVAL);
            }
            o.keepidle = v;
        }
        libc::TCP_WINDOW_CLAMP => {
            // tcp_set_window_clamp
            if v == 0 {
                if state != TcpState::Close {
                    return Err(Errno::EINVAL);
                }
                i.window_clamp = 0;
            } else {
                i.window_clamp = v.max((SOCK_MIN_RCVBUF / 2) as i32) as u32;
            }
        }
        libc::TCP_QUICKACK => {
            // __tcp_sock_set_quickack: 0 enters pingpong mode, else leaves it.
            i.pingpong = v == 0;
        }
        libc::TCP_FASTOPEN => {
            if v >= 0 && matches!(state, TcpState::Close | TcpState::Listen) {
                i.fastopen_qlen = (v as u32).min(sockopt::somaxconn());
            } else {
                return Err(Errno::EINVAL);
            }
        }
        libc::TCP_NOTSENT_LOWAT => i.notsent_lowat = v as u32,
        TCP_INQ => {
            if !(0..=1).contains(&v) {
                return Err(Errno::EINVAL);
            }
            i.inq = v != 0;
        }
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(())
}

/// `tcp_getsockopt` -> `do_tcp_getsockopt`.
fn tcp_getsockopt(host: &Host, g: &HostState, id: SockId, level: i32, name: i32, len: i32) -> KResult<Vec<u8>> {
    if level != libc::IPPROTO_TCP {
        return af_getsockopt(host, g, id, level, name, len);
    }
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let s = &host.shared()[id.idx()];
    let state = s.state();
    let c = &g.socks[id.idx()];
    let o = &c.opts;
    let i = &c.inet;
    let v = match name {
        libc::TCP_MAXSEG => {
            if o.maxseg != 0 && matches!(state, TcpState::Close | TcpState::Listen) {
                o.maxseg
            } else {
                i.mss_cache
            }
        }
        libc::TCP_NODELAY => o.nodelay as i32,
        libc::TCP_CORK => o.cork as i32,
        libc::TCP_KEEPIDLE => o.keepidle,
        libc::TCP_KEEPINTVL => o.keepintvl,
        libc::TCP_KEEPCNT => o.keepcnt,
        libc::TCP_SYNCNT => {
            if i.syn_retries != 0 {
                i.syn_retries as i32
            } else {
                tcp_syn_retries() as i32
            }
        }
        libc::TCP_LINGER2 => {
            if i.linger2 < 0 {
                -1
            } else if i.linger2 == 0 {
                tcp_fin_timeout() as i32
            } else {
                i.linger2
            }
        }
        libc::TCP_DEFER_ACCEPT => retrans_to_secs(i.defer_accept, TCP_TIMEOUT_INIT_SECS, TCP_RTO_MAX_SECS),
        libc::TCP_WINDOW_CLAMP => i.window_clamp as i32,
        libc::TCP_INFO => {
            let b = tcp_get_info(host, id, c, state);
            return Ok(b[..(len as usize).min(TCP_INFO_LEN)].to_vec());
        }
        libc::TCP_CONGESTION => {
            let mut b = [0u8; TCP_CA_NAME_MAX];
            let n = current_ca(c).as_bytes();
            b[..n.len().min(TCP_CA_NAME_MAX)].copy_from_slice(&n[..n.len().min(TCP_CA_NAME_MAX)]);
            return Ok(b[..(len as usize).min(TCP_CA_NAME_MAX)].to_vec());
        }
        libc::TCP_QUICKACK => (!i.pingpong) as i32,
        libc::TCP_USER_TIMEOUT => i.user_timeout as i32,
        libc::TCP_FASTOPEN => i.fastopen_qlen as i32,
        libc::TCP_NOTSENT_LOWAT => i.notsent_lowat as i32,
        TCP_INQ => i.inq as i32,
        TCP_THIN_LINEAR_TIMEOUTS | TCP_THIN_DUPACK | TCP_SAVE_SYN | TCP_FASTOPEN_CONNECT | TCP_FASTOPEN_NO_COOKIE
        | TCP_TX_DELAY => 0,
        _ => return Err(Errno::ENOPROTOOPT),
    };
    Ok(int_out(v, (len as usize).min(4)))
}

/// `tcp_get_info`: struct tcp_info for this socket.
fn tcp_get_info(host: &Host, id: SockId, c: &SockCtl, state: TcpState) -> [u8; TCP_INFO_LEN] {
    let mut b = [0u8; TCP_INFO_LEN];
    let put = |b: &mut [u8; TCP_INFO_LEN], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    let put64 = |b: &mut [u8; TCP_INFO_LEN], off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    let i = &c.inet;
    b[0] = state as u8; // tcpi_state
    put(&mut b, 88, 3); // tcpi_reordering (net.ipv4.tcp_reordering)
    put(&mut b, 80, 10); // tcpi_snd_cwnd (TCP_INIT_CWND)
    put64(&mut b, 104, u64::MAX); // tcpi_pacing_rate: unlimited on loopback
    put64(&mut b, 112, u64::MAX); // tcpi_max_pacing_rate
    if state == TcpState::Listen {
        // tcpi_unacked: children ready for accept; tcpi_sacked: the backlog.
        put(&mut b, 24, c.acceptq_len);
        put(&mut b, 28, host.shared()[id.idx()].max_ack_backlog.load(Ordering::Relaxed));
        return b;
    }
    let mut options = 0u8;
    if i.tstamp_ok {
        options |= 1; // TCPI_OPT_TIMESTAMPS
    }
    if i.sack_ok {
        options |= 2; // TCPI_OPT_SACK
    }
    if i.wscale_ok {
        options |= 4; // TCPI_OPT_WSCALE
        b[6] = (i.snd_wscale & 0xf) | (i.rcv_wscale << 4);
    }
    b[5] = options;
    let connected = c.raddr.port != 0;
    put(&mut b, 8, if connected { 200_000 + 1_000_000 / crate::sys::kernel_hz() as u32 } else { 1_000_000 }); // tcpi_rto (TCP_TIMEOUT_INIT before)
    put(&mut b, 12, if connected { 40_000 } else { 0 }); // tcpi_ato (TCP_ATO_MIN)
    put(&mut b, 16, i.mss_cache as u32); // tcpi_snd_mss
    put(&mut b, 20, if connected { i.rcv_mss as u32 } else { 0 }); // tcpi_rcv_mss
    if connected {
        put(&mut b, 60, dst_mtu(c) as u32); // tcpi_pmtu
        put(&mut b, 76, 0x7fffffff); // tcpi_snd_ssthresh (TCP_INFINITE_SSTHRESH)
        put(&mut b, 84, i.advmss as u32); // tcpi_advmss
    }
    b
}
