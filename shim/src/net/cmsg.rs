//! Control messages an inet datagram receive builds: the software receive
//! timestamp (`__sock_recv_timestamp`, net/socket.c), IP_PKTINFO
//! (`ip_cmsg_recv_offset` -> `ip_cmsg_recv_pktinfo`, net/ipv4/ip_sockglue.c)
//! and IPV6_PKTINFO (`ip6_datagram_recv_common_ctl`, net/ipv6/datagram.c).
//!
//! What the kernel reads from the skb (its timestamp, the IP header's
//! destination, the input interface) travels with each queued datagram as
//! a `queue::RecMeta`.

use super::queue::RecMeta;
use super::sock::{InetOpts, Opts};
use super::socket::RecvMsg;
use super::sockopt::put_cmsg;

/// include/uapi/asm-generic/socket.h
const SO_TIMESTAMP_OLD: i32 = 29;
const SO_TIMESTAMPNS_OLD: i32 = 35;
const SO_TIMESTAMP_NEW: i32 = 63;
const SO_TIMESTAMPNS_NEW: i32 = 64;
/// `LOOPBACK_IFINDEX`: what `lo` is in a fresh network namespace.
const LOOPBACK_IFINDEX: i32 = 1;

/// The ifindex of `lo` in this host's network namespace: what
/// `inet_iif(skb)` and `IP6CB(skb)->iif` are for a looped-back packet.
pub fn loopback_ifindex() -> i32 {
    static V: once_cell::sync::OnceCell<i32> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| {
        std::fs::read_to_string("/sys/class/net/lo/ifindex")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(LOOPBACK_IFINDEX)
    })
}

/// `__net_timestamp`: now, as `skb->tstamp` holds it (ns, CLOCK_REALTIME).
pub fn net_timestamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        .max(1)
}

/// Two 64-bit words: `struct timeval` / `struct timespec` on the 64-bit
/// ABIs netshim runs on, and `__kernel_sock_timeval` / `__kernel_timespec`.
fn two_words(a: i64, b: i64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&a.to_ne_bytes());
    v[8..].copy_from_slice(&b.to_ne_bytes());
    v
}

/// `sock_recv_timestamp` -> `__sock_recv_timestamp`, the software receive
/// timestamp part: SO_TIMESTAMP(NS) in its old or new form. An skb that was
/// queued before anybody asked for timestamps has none; the kernel then
/// fills in the current time ("Race occurred between timestamp enabling
/// and packet receiving").
pub fn sock_recv_timestamp(msg: &mut RecvMsg<'_>, opts: &Opts, tstamp: u64) {
    if !opts.rcvtstamp {
        return;
    }
    let ts = if tstamp == 0 { net_timestamp() } else { tstamp };
    let sec = (ts / 1_000_000_000) as i64;
    let nsec = (ts % 1_000_000_000) as i64;
    let (ty, data) = match (opts.tstamp_new, opts.rcvtstampns) {
        (false, true) => (SO_TIMESTAMPNS_OLD, two_words(sec, nsec)),
        (false, false) => (SO_TIMESTAMP_OLD, two_words(sec, nsec / 1000)),
        (true, true) => (SO_TIMESTAMPNS_NEW, two_words(sec, nsec)),
        (true, false) => (SO_TIMESTAMP_NEW, two_words(sec, nsec / 1000)),
    };
    put_cmsg(msg, libc::SOL_SOCKET, ty, &data);
}

/// `ipv4_pktinfo_prepare` at enqueue: the input interface a receiver with
/// IP_PKTINFO (or, on an AF_INET6 socket, IPV6_RECVPKTINFO) gets; 0 when
/// it asked for neither then. IPv6 packets always carry `IP6CB(skb)->iif`.
pub fn pktinfo_prepare(family: u16, inet: &InetOpts, v4_packet: bool) -> i32 {
    let prepare = inet.pktinfo || (family == libc::AF_INET6 as u16 && inet.rxinfo);
    if !v4_packet || prepare {
        loopback_ifindex()
    } else {
        0
    }
}

/// `ip_cmsg_recv_pktinfo`: `struct in_pktinfo` from `PKTINFO_SKB_CB(skb)`
/// (interface and, for a local route, `ipi_spec_dst` = the destination, as
/// `fib_compute_spec_dst` gives; both 0 if not prepared) and `ipi_addr` =
/// the IP header's destination.
fn ip_cmsg_recv_pktinfo(msg: &mut RecvMsg<'_>, ifindex: i32, spec_dst: [u8; 4], daddr: [u8; 4]) {
    let mut info = [0u8; 12];
    info[..4].copy_from_slice(&ifindex.to_ne_bytes());
    info[4..8].copy_from_slice(&spec_dst);
    info[8..].copy_from_slice(&daddr);
    put_cmsg(msg, libc::SOL_IP, libc::IP_PKTINFO, &info);
}

fn v4_of(a: &[u8; 16]) -> [u8; 4] {
    [a[12], a[13], a[14], a[15]]
}

/// `ip_cmsg_recv_offset` for a received datagram: the SOL_IP control
/// messages of `inet->cmsg_flags`, in the kernel's order. Only IP_PKTINFO
/// is emulated (IP_TTL, IP_TOS, options and the rest are not built).
pub fn ip_cmsg_recv_offset(msg: &mut RecvMsg<'_>, inet: &InetOpts, meta: &RecMeta) {
    if inet.pktinfo {
        let daddr = v4_of(&meta.daddr);
        let spec_dst = if meta.iif != 0 { daddr } else { [0; 4] };
        ip_cmsg_recv_pktinfo(msg, meta.iif, spec_dst, daddr);
    }
}

/// `ip_cmsg_recv` of an ICMP error skb (`ip_recv_error`): its
/// `PKTINFO_SKB_CB` is the IP control block, so the interface is the input
/// one and `ipi_spec_dst` the (empty) options' first word; `ipi_addr` is
/// where the ICMP message went.
pub fn ip_cmsg_recv_icmp(msg: &mut RecvMsg<'_>, inet: &InetOpts, icmp_daddr: &[u8; 16]) {
    if inet.pktinfo {
        ip_cmsg_recv_pktinfo(msg, loopback_ifindex(), [0; 4], v4_of(icmp_daddr));
    }
}

/// `struct in6_pktinfo`.
fn put_in6_pktinfo(msg: &mut RecvMsg<'_>, addr: &[u8; 16], ifindex: i32) {
    let mut info = [0u8; 20];
    info[..16].copy_from_slice(addr);
    info[16..].copy_from_slice(&ifindex.to_ne_bytes());
    put_cmsg(msg, libc::SOL_IPV6, libc::IPV6_PKTINFO, &info);
}

/// `ip6_datagram_recv_common_ctl`: IPV6_PKTINFO (RFC 3542), for an IPv6
/// packet from `IP6CB(skb)->iif` and its destination, for an IPv4 one from
/// `PKTINFO_SKB_CB` and the v4-mapped destination.
pub fn ip6_datagram_recv_common_ctl(msg: &mut RecvMsg<'_>, inet: &InetOpts, meta: &RecMeta) {
    if inet.rxinfo && meta.iif >= 0 {
        put_in6_pktinfo(msg, &meta.daddr, meta.iif);
    }
}

/// `ip6_datagram_recv_common_ctl` of an ICMP or ICMPv6 error skb
/// (`ipv6_recv_error`): IPV6_PKTINFO with the input interface and where the
/// error message went (v4-mapped for ICMP). Of the other IPv6 receive
/// options none is built.
pub fn ip6_datagram_recv_ctl_icmp(msg: &mut RecvMsg<'_>, inet: &InetOpts, icmp_daddr: &[u8; 16]) {
    if inet.rxinfo {
        put_in6_pktinfo(msg, icmp_daddr, loopback_ifindex());
    }
}
