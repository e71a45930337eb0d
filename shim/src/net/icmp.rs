//! ICMP errors for UDP and the socket error queue (`sk_error_queue`).
//!
//! A datagram to a loopback port nobody receives on makes the kernel answer
//! with an ICMP port unreachable (`icmp_send` in net/ipv4/icmp.c,
//! `icmp6_send` in net/ipv6/icmp.c), which comes back to the sending
//! socket through `__udp4_lib_err` / `__udp6_lib_err`: a connected socket
//! learns ECONNREFUSED, and one with IP_RECVERR / IPV6_RECVERR also gets
//! the error queued with the offending datagram (`ip_icmp_error`,
//! `ipv6_icmp_error`), read back by `recvmsg(MSG_ERRQUEUE)`
//! (`ip_recv_error`, `ipv6_recv_error`). There are no packets here: the
//! error is made and delivered in the sender's own call, as loopback does
//! it within the same softirq.
//!
//! Each socket's error queue is a small FIFO of entries in the shared
//! mapping (`Host::errq`), under its own lock; `SockShared::errq_len`
//! counts them for poll.

use super::addr::InetAddr;
use super::cmsg;
use super::queue;
use super::sock::{InetOpts, Opts, SockId, SOCK_DEAD};
use super::socket::RecvMsg;
use super::sockopt::put_cmsg;
use crate::errno::{Errno, KResult};
use crate::shm::{Host, HostState};
use std::sync::atomic::Ordering;

/// Bytes of entries one socket's error queue holds (the kernel's bound is
/// the receive buffer, shared with the receive queue; this one is also
/// capped by its area).
pub const ERRQ_BYTES: usize = 64 * 1024 - 16;

/// One socket's error queue in the shared mapping: entries (`ErrSkb`
/// header, then the quoted payload) packed from the start of `buf`,
/// oldest first. Valid when zero.
#[repr(C)]
pub struct ErrQueue {
    used: u32,
    _pad: u32,
    buf: [u8; ERRQ_BYTES],
}

/// include/uapi/linux/errqueue.h
pub const SO_EE_ORIGIN_LOCAL: u8 = 1;
pub const SO_EE_ORIGIN_ICMP: u8 = 2;
pub const SO_EE_ORIGIN_ICMP6: u8 = 3;
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_PORT_UNREACH: u8 = 3;
const ICMPV6_DEST_UNREACH: u8 = 1;
const ICMPV6_PORT_UNREACH: u8 = 4;
/// The ICMP message is at most 576 bytes (`icmp_send`), IPv4 and ICMP
/// headers included; what is left quotes the datagram from its IP header.
const ICMP_QUOTE_V4: usize = 576 - 20 - 8 - 20 - 8;
/// ICMPv6 errors fit the IPv6 minimum MTU (`icmp6_send`).
const ICMP_QUOTE_V6: usize = 1280 - 40 - 8 - 40 - 8;

/// What an error skb carries: `struct sock_exterr_skb` (the extended
/// error, the offending datagram's destination and port) and the parts of
/// the ICMP packet's headers `*_recv_error` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrSkb {
    pub ee_errno: u32,
    pub ee_origin: u8,
    pub ee_type: u8,
    pub ee_code: u8,
    pub ee_info: u32,
    pub ee_data: u32,
    /// `skb->protocol == ETH_P_IP` (an ICMP, not ICMPv6, error).
    pub v4: bool,
    /// `serr->port` and the address at `serr->addr_offset`: where the
    /// offending datagram went (v4-mapped for IPv4).
    pub port: u16,
    pub addr: [u8; 16],
    /// The error packet's source (the offender) and destination.
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// `skb->tstamp` (0: not stamped).
    pub tstamp: u64,
    /// Payload bytes that follow.
    pub len: u32,
}

const ERR_HDR: usize = 88;

fn entry_size(len: usize) -> usize {
    ERR_HDR + ((len + 7) & !7)
}

impl ErrSkb {
    fn to_bytes(self) -> [u8; ERR_HDR] {
        let mut b = [0u8; ERR_HDR];
        b[0..16].copy_from_slice(&self.ee_bytes());
        b[16] = self.v4 as u8;
        b[18..20].copy_from_slice(&self.port.to_ne_bytes());
        b[20..36].copy_from_slice(&self.addr);
        b[36..52].copy_from_slice(&self.saddr);
        b[52..68].copy_from_slice(&self.daddr);
        b[72..80].copy_from_slice(&self.tstamp.to_ne_bytes());
        b[80..84].copy_from_slice(&self.len.to_ne_bytes());
        b
    }
    fn from_bytes(b: &[u8]) -> ErrSkb {
        let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let a16 = |i: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[i..i + 16]);
            a
        };
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[72..80]);
        ErrSkb {
            ee_errno: u32_at(0),
            ee_origin: b[4],
            ee_type: b[5],
            ee_code: b[6],
            ee_info: u32_at(8),
            ee_data: u32_at(12),
            v4: b[16] != 0,
            port: u16::from_ne_bytes([b[18], b[19]]),
            addr: a16(20),
            saddr: a16(36),
            daddr: a16(52),
            tstamp: u64::from_ne_bytes(t),
            len: u32_at(80),
        }
    }
    /// `is_icmp_err_skb`.
    fn is_icmp(&self) -> bool {
        self.ee_origin == SO_EE_ORIGIN_ICMP || self.ee_origin == SO_EE_ORIGIN_ICMP6
    }
    /// `struct sock_extended_err`.
    fn ee_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.ee_errno.to_ne_bytes());
        b[4] = self.ee_origin;
        b[5] = self.ee_type;
        b[6] = self.ee_code;
        b[8..12].copy_from_slice(&self.ee_info.to_ne_bytes());
        b[12..16].copy_from_slice(&self.ee_data.to_ne_bytes());
        b
    }
}

/// Bytes the error queue holds (part of `sk_rmem_alloc`).
pub fn errq_bytes(host: &Host, sk: SockId) -> usize {
    if host.shared()[sk.idx()].errq_len.load(Ordering::Acquire) == 0 {
        return 0;
    }
    host.errq(sk.idx()).lock().used as usize
}

/// Whether anything is queued (`!skb_queue_empty_lockless(&sk->sk_error_queue)`).
pub fn errq_pending(host: &Host, sk: SockId) -> bool {
    host.shared()[sk.idx()].errq_len.load(Ordering::Acquire) != 0
}

/// `sock_queue_err_skb`: appends an error with `payload`, unless the
/// receive buffer is full (`sk_rmem_alloc + truesize >= sk_rcvbuf`).
pub fn sock_queue_err_skb(host: &Host, sk: SockId, e: &ErrSkb, payload: &[u8]) -> bool {
    let sh = &host.shared()[sk.idx()];
    let size = entry_size(payload.len());
    let rx_used = sh.rx.lock().used();
    let rcvbuf = sh.rcvbuf.load(Ordering::Relaxed) as usize;
    let mut q = host.errq(sk.idx()).lock();
    if sh.errq_len.load(Ordering::Acquire) == 0 {
        // Whatever an earlier socket of this slot left is gone.
        q.used = 0;
    }
    let used = q.used as usize;
    if rx_used + used + size >= rcvbuf || used + size > ERRQ_BYTES {
        return false;
    }
    let mut h = *e;
    h.len = payload.len() as u32;
    q.buf[used..used + ERR_HDR].copy_from_slice(&h.to_bytes());
    q.buf[used + ERR_HDR..used + ERR_HDR + payload.len()].copy_from_slice(payload);
    q.used = (used + size) as u32;
    sh.errq_len.fetch_add(1, Ordering::AcqRel);
    drop(q);
    if !sh.flag(SOCK_DEAD) {
        // sk_error_report
        sh.wq.wake();
    }
    true
}

/// `sock_dequeue_err_skb`: takes the oldest error. `sk_err` becomes the
/// next ICMP error's, or 0 once the last ICMP error is read.
pub fn sock_dequeue_err_skb(host: &Host, sk: SockId) -> Option<(ErrSkb, Vec<u8>)> {
    let sh = &host.shared()[sk.idx()];
    if sh.errq_len.load(Ordering::Acquire) == 0 {
        return None;
    }
    let mut q = host.errq(sk.idx()).lock();
    let n = sh.errq_len.load(Ordering::Acquire);
    if n == 0 {
        return None;
    }
    let e = ErrSkb::from_bytes(&q.buf[..ERR_HDR]);
    let len = (e.len as usize).min(ERRQ_BYTES - ERR_HDR);
    let payload = q.buf[ERR_HDR..ERR_HDR + len].to_vec();
    let size = entry_size(len);
    let used = q.used as usize;
    q.buf.copy_within(size..used.max(size), 0);
    q.used = used.saturating_sub(size) as u32;
    sh.errq_len.store(n - 1, Ordering::Release);
    let next = (n > 1).then(|| ErrSkb::from_bytes(&q.buf[..ERR_HDR]));
    let icmp_next = next.is_some_and(|x| x.is_icmp());
    if let Some(x) = next.filter(|x| x.is_icmp()) {
        sh.err.store(x.ee_errno as i32, Ordering::Release);
    }
    drop(q);
    if e.is_icmp() && !icmp_next {
        sh.err.store(0, Ordering::Release);
    }
    if next.is_some() {
        sh.wq.wake();
    }
    Some((e, payload))
}

/// `skb_queue_purge(&sk->sk_error_queue)`: on close, and when IP_RECVERR /
/// IPV6_RECVERR is turned off.
pub fn errq_purge(host: &Host, sk: SockId) {
    let sh = &host.shared()[sk.idx()];
    if sh.errq_len.load(Ordering::Acquire) == 0 {
        return;
    }
    let mut q = host.errq(sk.idx()).lock();
    q.used = 0;
    sh.errq_len.store(0, Ordering::Release);
}

/// The ICMP port unreachable a datagram from `src` to `dst` (routed; both
/// with ports) draws when no socket takes it, delivered to `sk`, the
/// socket the error lookup finds for the datagram's source: `icmp_send` ->
/// `icmp_rcv` -> `icmp_unreach` -> `__udp4_lib_err`, or `icmp6_send` ->
/// `icmpv6_rcv` -> `icmpv6_notify` -> `__udp6_lib_err`. The ICMP message
/// comes from the datagram's destination (a local address) to its source.
pub fn udp_port_unreach(host: &Host, g: &HostState, sk: SockId, src: &InetAddr, dst: &InetAddr, iov: &[&[u8]]) {
    let c = &g.socks[sk.idx()];
    let s = &host.shared()[sk.idx()];
    let v4 = dst.is_v4();
    // icmp_err_convert[ICMP_PORT_UNREACH] / icmpv6_err_convert: ECONNREFUSED, fatal.
    let (err, harderr) = (libc::ECONNREFUSED, true);
    let recverr = if v4 { c.inet.recverr } else { c.inet.recverr6 };
    if !recverr {
        if !harderr || s.state() != super::sock::TcpState::Established {
            return;
        }
    } else {
        crate::ktrace!("{}", if v4 { "ip_icmp_error" } else { "ipv6_icmp_error" });
        let (origin, ty, code, quote) = if v4 {
            (SO_EE_ORIGIN_ICMP, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, ICMP_QUOTE_V4)
        } else {
            (SO_EE_ORIGIN_ICMP6, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, ICMP_QUOTE_V6)
        };
        let mut payload = Vec::with_capacity(queue::iov_len(iov).min(quote));
        for b in iov {
            let take = b.len().min(quote - payload.len());
            payload.extend_from_slice(&b[..take]);
            if payload.len() == quote {
                break;
            }
        }
        let e = ErrSkb {
            ee_errno: err as u32,
            ee_origin: origin,
            ee_type: ty,
            ee_code: code,
            ee_info: 0,
            ee_data: 0,
            v4,
            port: dst.port,
            addr: dst.ip,
            saddr: dst.ip,
            daddr: src.ip,
            tstamp: if c.opts.rcvtstamp { cmsg::net_timestamp() } else { 0 },
            len: 0,
        };
        sock_queue_err_skb(host, sk, &e, &payload);
    }
    s.err.store(err, Ordering::Release);
    // sk_error_report
    s.wq.wake();
}

/// `sockaddr_in` bytes.
fn sockaddr_in(port: u16, a: &[u8; 16]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&port.to_be_bytes());
    b[4..8].copy_from_slice(&a[12..16]);
    b
}

/// `sockaddr_in6` bytes (flowinfo 0, scope id 0: loopback and v4-mapped
/// addresses need none, `ipv6_iface_scope_id`).
fn sockaddr_in6(port: u16, a: &[u8; 16]) -> [u8; 28] {
    let mut b = [0u8; 28];
    b[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&port.to_be_bytes());
    b[8..24].copy_from_slice(a);
    b
}

/// `ip_recv_error` (AF_INET) / `ipv6_recv_error` (AF_INET6):
/// recvmsg(MSG_ERRQUEUE) returns the oldest error's payload, its
/// destination as the name, and an IP_RECVERR / IPV6_RECVERR message with
/// `struct sock_extended_err` and the offender.
pub fn inet_recv_error(host: &Host, sk: SockId, msg: &mut RecvMsg<'_>, family: u16, opts: &Opts, inet: &InetOpts) -> KResult<usize> {
    let Some((e, payload)) = sock_dequeue_err_skb(host, sk) else {
        return Err(Errno::EAGAIN);
    };
    let room = queue::iov_len_mut(&msg.iov);
    let copied = payload.len().min(room);
    if copied < payload.len() {
        msg.msg_flags |= libc::MSG_TRUNC;
    }
    let mut at = 0;
    for b in msg.iov.iter_mut() {
        if at == copied {
            break;
        }
        let take = b.len().min(copied - at);
        b[..take].copy_from_slice(&payload[at..at + take]);
        at += take;
    }
    cmsg::sock_recv_timestamp(msg, opts, e.tstamp);
    let mut errhdr = e.ee_bytes().to_vec();
    if family == libc::AF_INET as u16 {
        // ipv4_datagram_support_addr: ICMP and local errors, or a port.
        if e.ee_origin == SO_EE_ORIGIN_ICMP || e.ee_origin == SO_EE_ORIGIN_LOCAL || e.port != 0 {
            msg.name = Some(super::addr::Addr::from_bytes(&sockaddr_in(e.port, &e.addr)));
        }
        // ipv4_datagram_support_cmsg: ICMP errors name their offender.
        if e.ee_origin == SO_EE_ORIGIN_ICMP {
            errhdr.extend_from_slice(&sockaddr_in(0, &e.saddr));
            cmsg::ip_cmsg_recv_icmp(msg, inet, &e.daddr);
        } else {
            errhdr.extend_from_slice(&[0u8; 16]);
        }
        put_cmsg(msg, libc::SOL_IP, libc::IP_RECVERR, &errhdr);
    } else {
        msg.name = Some(super::addr::Addr::from_bytes(&sockaddr_in6(e.port, &e.addr)));
        if e.ee_origin != SO_EE_ORIGIN_LOCAL {
            errhdr.extend_from_slice(&sockaddr_in6(0, &e.saddr));
            // ip6_datagram_recv_common_ctl for either protocol, then the
            // IPv4 control messages (ip_cmsg_recv) of an ICMP error; of
            // ip6_datagram_recv_specific_ctl nothing is built.
            cmsg::ip6_datagram_recv_ctl_icmp(msg, inet, &e.daddr);
            if e.v4 {
                cmsg::ip_cmsg_recv_icmp(msg, inet, &e.daddr);
            }
        } else {
            // AF_UNSPEC offender.
            errhdr.extend_from_slice(&[0u8; 28]);
        }
        put_cmsg(msg, libc::SOL_IPV6, libc::IPV6_RECVERR, &errhdr);
    }
    msg.msg_flags |= libc::MSG_ERRQUEUE;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errskb_roundtrip() {
        let e = ErrSkb {
            ee_errno: libc::ECONNREFUSED as u32,
            ee_origin: SO_EE_ORIGIN_ICMP6,
            ee_type: ICMPV6_DEST_UNREACH,
            ee_code: ICMPV6_PORT_UNREACH,
            ee_info: 7,
            ee_data: 9,
            v4: false,
            port: 4242,
            addr: [1; 16],
            saddr: [2; 16],
            daddr: [3; 16],
            tstamp: 0x1122_3344_5566_7788,
            len: 1184,
        };
        assert_eq!(ErrSkb::from_bytes(&e.to_bytes()), e);
        let ee = e.ee_bytes();
        assert_eq!(&ee[0..4], &(libc::ECONNREFUSED as u32).to_ne_bytes());
        assert_eq!((ee[4], ee[5], ee[6], ee[7]), (3, 1, 4, 0));
    }

    #[test]
    fn quote_fits_minimum_mtus() {
        assert_eq!(ICMP_QUOTE_V4, 520);
        assert_eq!(ICMP_QUOTE_V6, 1184);
        assert!(entry_size(ICMP_QUOTE_V6) < ERRQ_BYTES);
    }
}
