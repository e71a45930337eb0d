//! Capture of the emulated TCP and UDP traffic (`NETSHIM_PCAP=FILE`).
//!
//! The emulated loopback has no packets: a handshake, a send, a FIN are
//! state changes on both ends (net::inet). With a capture file set, each of
//! those points also writes the segments the kernel would have put on `lo`,
//! synthesized: an Ethernet frame with zero MACs (what `tshark -i lo`
//! records), an IPv4 or IPv6 header, a TCP or UDP header, checksums right.
//!
//! - Each packet is written once, by the process that runs the emulation
//!   step that "sends" it, which is usually the sender (the SYN-ACK and the
//!   ACKs that answer it come from the connect, as loopback delivers them
//!   within the sender's system call).
//! - Sequence numbers are emulated: every TCP socket keeps `snd_nxt` and
//!   `rcv_nxt` in its shared words (`TcpWire` in `SockShared`), so the two
//!   ends agree whichever process writes. The ISN is random.
//! - Data: one segment per MSS (65495 bytes over IPv4, 65476 over IPv6, the
//!   MSS `lo`'s MTU gives) of each chunk the sender delivered into the
//!   peer's receive queue, PSH on the chunk's last segment; the receiver's
//!   ACK follows each chunk (loopback ACKs at once, quick-ack mode). The
//!   advertised window is the sender's free receive space, at most 65535
//!   (no window scaling is negotiated). No TCP options except MSS on SYN
//!   and SYN-ACK.
//! - Several processes append to one file: it is opened O_APPEND, every
//!   record is one write(2), and the global header is written by the
//!   process that finds the file empty while holding flock(LOCK_EX), which
//!   every process takes when it opens the file.
//!
//! Off (NETSHIM_PCAP unset), each hook point costs one relaxed load and a
//! branch that is always taken the same way.
//!
//! Limits: a process of the namespace started without NETSHIM_PCAP sends
//! nothing to the file and does not advance the sequence numbers; two
//! threads sending on one socket at the same instant may get their
//! segments' sequence numbers in the other order; TCP_MAXSEG is not
//! reflected in the segment size.

use crate::net::addr::InetAddr;
use crate::net::sock::{SockId, SockShared};
use crate::shm::Host;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

/// The capture's fd, or -1: the one word the hooks test.
static FD: AtomicI32 = AtomicI32::new(-1);
/// The capture file's (dev, ino), to notice a program that closed or
/// replaced our fd (then the file is opened again).
static DEV: AtomicU64 = AtomicU64::new(0);
static INO: AtomicU64 = AtomicU64::new(0);
static PATH: once_cell::sync::OnceCell<std::ffi::CString> = once_cell::sync::OnceCell::new();

/// pcap (nanosecond timestamps) global header fields.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 262_144;

/// TCP header flags.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;

/// Whether a capture is being written.
#[inline(always)]
pub fn on() -> bool {
    FD.load(Ordering::Relaxed) >= 0
}

/// The wire view of one TCP socket, in its shared words: the 4-tuple (set
/// at connect for the client, at the handshake for the child) and the
/// emulated sequence space. Zero is "not captured".
#[repr(C)]
#[derive(Default)]
pub struct TcpWire {
    pub snd_nxt: AtomicU32,
    pub rcv_nxt: AtomicU32,
    /// local port << 16 | remote port; 0 when this socket has no tuple.
    ports: AtomicU32,
    laddr: [AtomicU32; 4],
    raddr: [AtomicU32; 4],
}

/// An endpoint: address (v4-mapped for IPv4) and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ep {
    ip: [u8; 16],
    port: u16,
}

impl Ep {
    fn of(a: &InetAddr, port: u16) -> Ep {
        Ep { ip: a.ip, port }
    }
    fn is_v4(&self) -> bool {
        InetAddr { ip: self.ip, port: 0, scope: 0, flowinfo: 0 }.is_v4()
    }
}

fn store_ip(w: &[AtomicU32; 4], ip: &[u8; 16]) {
    for (i, slot) in w.iter().enumerate() {
        slot.store(u32::from_ne_bytes([ip[4 * i], ip[4 * i + 1], ip[4 * i + 2], ip[4 * i + 3]]), Ordering::Relaxed);
    }
}

fn load_ip(w: &[AtomicU32; 4]) -> [u8; 16] {
    let mut ip = [0u8; 16];
    for (i, slot) in w.iter().enumerate() {
        ip[4 * i..4 * i + 4].copy_from_slice(&slot.load(Ordering::Relaxed).to_ne_bytes());
    }
    ip
}

impl TcpWire {
    fn set(&self, local: Ep, remote: Ep, snd_nxt: u32, rcv_nxt: u32) {
        store_ip(&self.laddr, &local.ip);
        store_ip(&self.raddr, &remote.ip);
        self.snd_nxt.store(snd_nxt, Ordering::Relaxed);
        self.rcv_nxt.store(rcv_nxt, Ordering::Relaxed);
        self.ports.store((local.port as u32) << 16 | remote.port as u32, Ordering::Release);
    }
    /// (local, remote), None if this socket's connection was not captured.
    fn tuple(&self) -> Option<(Ep, Ep)> {
        let p = self.ports.load(Ordering::Acquire);
        if p == 0 {
            return None;
        }
        Some((Ep { ip: load_ip(&self.laddr), port: (p >> 16) as u16 }, Ep { ip: load_ip(&self.raddr), port: p as u16 }))
    }
    fn clear(&self) {
        self.ports.store(0, Ordering::Release);
    }
}

/// Holds the capture lock (see `Header::pcap`) while `f` reads the
/// sequence numbers and writes its segments. Windows are read before it is
/// taken: reading one takes a receive queue's lock.
fn serialised<T>(host: &Host, f: impl FnOnce() -> T) -> T {
    let _g = host.header().pcap.lock();
    f()
}

fn wire(host: &Host, id: SockId) -> &TcpWire {
    &host.shared()[id.idx()].wire
}

// ----- the file -------------------------------------------------------------------

/// Opens the capture named by NETSHIM_PCAP, if any (at attach time).
pub fn init() {
    let Some(p) = std::env::var_os("NETSHIM_PCAP").filter(|p| !p.is_empty()) else { return };
    let p = std::path::absolute(&p).unwrap_or_else(|_| p.into());
    let Ok(c) = std::ffi::CString::new(p.into_os_string().into_encoded_bytes()) else { return };
    let _ = PATH.set(c);
    if let Err(e) = open() {
        log::error!(target: "netshim", "NETSHIM_PCAP: cannot open the capture file: {e}; no capture");
    }
}

/// Opens (creating) the file for appending, writes the global header if
/// the file is empty, and publishes the fd.
fn open() -> crate::errno::KResult<i32> {
    let path = PATH.get().ok_or(crate::errno::Errno::ENOENT)?;
    let fd = crate::sys::open_append(path)?;
    let fd = crate::ffi::poll::high_fd(fd);
    // Whoever finds the file empty writes the header; every opener takes
    // the lock first, so no record can come before the header.
    let r = crate::sys::flock(fd, libc::LOCK_EX).and_then(|_| {
        let (dev, ino, size) = crate::sys::fstat_id(fd)?;
        if size == 0 {
            write_record(fd, &global_header())?;
        }
        DEV.store(dev, Ordering::Relaxed);
        INO.store(ino, Ordering::Relaxed);
        Ok(())
    });
    let _ = crate::sys::flock(fd, libc::LOCK_UN);
    if let Err(e) = r {
        crate::sys::close_fd(fd);
        return Err(e);
    }
    FD.store(fd, Ordering::Release);
    Ok(fd)
}

fn global_header() -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&PCAP_MAGIC_NS.to_ne_bytes());
    h.extend_from_slice(&2u16.to_ne_bytes());
    h.extend_from_slice(&4u16.to_ne_bytes());
    h.extend_from_slice(&0i32.to_ne_bytes()); // thiszone
    h.extend_from_slice(&0u32.to_ne_bytes()); // sigfigs
    h.extend_from_slice(&SNAPLEN.to_ne_bytes());
    h.extend_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
    h
}

fn write_record(fd: i32, rec: &[u8]) -> crate::errno::KResult<()> {
    let n = crate::sys::write(fd, rec)?;
    if n != rec.len() {
        return Err(crate::errno::Errno::EIO);
    }
    Ok(())
}

/// Appends one frame as one pcap record (one write(2)).
fn emit(frame: Vec<u8>) {
    let mut fd = FD.load(Ordering::Acquire);
    // The program may have closed our fd, or put another file at its number.
    let ours = matches!(crate::sys::fstat_id(fd), Ok((d, i, _)) if d == DEV.load(Ordering::Relaxed) && i == INO.load(Ordering::Relaxed));
    if !ours {
        match open() {
            Ok(f) => fd = f,
            Err(_) => return,
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut rec = Vec::with_capacity(16 + frame.len());
    rec.extend_from_slice(&(now.as_secs() as u32).to_ne_bytes());
    rec.extend_from_slice(&now.subsec_nanos().to_ne_bytes());
    let len = frame.len() as u32;
    rec.extend_from_slice(&len.min(SNAPLEN).to_ne_bytes());
    rec.extend_from_slice(&len.to_ne_bytes());
    rec.extend_from_slice(&frame[..frame.len().min(SNAPLEN as usize)]);
    if let Err(e) = write_record(fd, &rec) {
        log::warn!(target: "netshim", "NETSHIM_PCAP: write failed: {e}");
    }
}

// ----- frames ----------------------------------------------------------------------

/// The Internet checksum's running sum (RFC 1071).
fn sum16(mut acc: u32, b: &[u8]) -> u32 {
    let mut it = b.chunks_exact(2);
    for w in &mut it {
        acc += u16::from_be_bytes([w[0], w[1]]) as u32;
    }
    if let [last] = it.remainder() {
        acc += (*last as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The pseudo-header sum for an upper-layer packet of `len` bytes.
fn pseudo(src: &[u8; 16], dst: &[u8; 16], v4: bool, proto: u8, len: usize) -> u32 {
    if v4 {
        let mut acc = sum16(0, &src[12..]);
        acc = sum16(acc, &dst[12..]);
        acc + proto as u32 + len as u32
    } else {
        let mut acc = sum16(0, src);
        acc = sum16(acc, dst);
        acc + (len as u32 >> 16) + (len as u32 & 0xffff) + proto as u32
    }
}

/// Ethernet + IP header around `l4` (whose checksum at `csum_at`, if any,
/// is filled in over the pseudo-header).
fn ip_frame(src: &[u8; 16], dst: &[u8; 16], v4: bool, proto: u8, mut l4: Vec<u8>, csum_at: Option<usize>) -> Vec<u8> {
    if let Some(at) = csum_at {
        l4[at] = 0;
        l4[at + 1] = 0;
        let acc = if proto == IPPROTO_ICMP { 0 } else { pseudo(src, dst, v4, proto, l4.len()) };
        let mut c = fold(sum16(acc, &l4));
        if c == 0 && proto == IPPROTO_UDP {
            c = 0xffff; // 0 means "no checksum" in UDP
        }
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut f = Vec::with_capacity(14 + 40 + l4.len());
    f.extend_from_slice(&[0u8; 12]); // lo's MAC addresses are all zero
    if v4 {
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        let total = (20 + l4.len()).min(0xffff) as u16;
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[6] = 0x40; // DF, as the kernel sets with path MTU discovery
        ip[8] = 64; // ttl
        ip[9] = proto;
        ip[12..16].copy_from_slice(&src[12..]);
        ip[16..20].copy_from_slice(&dst[12..]);
        let c = fold(sum16(0, &ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
    } else {
        f.extend_from_slice(&0x86ddu16.to_be_bytes());
        let mut ip = [0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&(l4.len().min(0xffff) as u16).to_be_bytes());
        ip[6] = proto;
        ip[7] = 64; // hop limit
        ip[8..24].copy_from_slice(src);
        ip[24..40].copy_from_slice(dst);
        f.extend_from_slice(&ip);
    }
    f.extend_from_slice(&l4);
    f
}

/// The bytes [skip, skip+n) of an iovec.
fn gather(iov: &[&[u8]], mut skip: usize, mut n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    for v in iov {
        if n == 0 {
            break;
        }
        if skip >= v.len() {
            skip -= v.len();
            continue;
        }
        let take = (v.len() - skip).min(n);
        out.extend_from_slice(&v[skip..skip + take]);
        n -= take;
        skip = 0;
    }
    out
}

/// A TCP segment from `src` to `dst`.
struct Seg<'a> {
    flags: u8,
    seq: u32,
    ack: u32,
    win: u16,
    urg: u16,
    mss: Option<u16>,
    data: &'a [u8],
}

fn tcp_frame(src: Ep, dst: Ep, s: &Seg<'_>) -> Vec<u8> {
    let opt_len = if s.mss.is_some() { 4 } else { 0 };
    let hl = 20 + opt_len;
    let mut t = Vec::with_capacity(hl + s.data.len());
    t.extend_from_slice(&src.port.to_be_bytes());
    t.extend_from_slice(&dst.port.to_be_bytes());
    t.extend_from_slice(&s.seq.to_be_bytes());
    t.extend_from_slice(&(if s.flags & ACK != 0 { s.ack } else { 0 }).to_be_bytes());
    t.push(((hl / 4) as u8) << 4);
    t.push(s.flags);
    t.extend_from_slice(&s.win.to_be_bytes());
    t.extend_from_slice(&[0, 0]); // checksum
    t.extend_from_slice(&s.urg.to_be_bytes());
    if let Some(mss) = s.mss {
        t.extend_from_slice(&[2, 4]);
        t.extend_from_slice(&mss.to_be_bytes());
    }
    t.extend_from_slice(s.data);
    ip_frame(&src.ip, &dst.ip, src.is_v4(), IPPROTO_TCP, t, Some(16))
}

fn send_seg(src: Ep, dst: Ep, s: Seg<'_>) {
    emit(tcp_frame(src, dst, &s));
}

/// The MSS `lo` (MTU 65536) gives: the largest segment in one IP packet.
fn mss_for(v4: bool) -> usize {
    if v4 {
        65495
    } else {
        65476
    }
}

/// The window a socket advertises: its free receive space (no scaling).
/// Takes the socket's receive-queue lock: never called under the capture
/// lock or another queue's lock.
pub fn window(host: &Host, id: SockId) -> u16 {
    window_of(host, id, crate::net::queue::queued(host, id))
}

/// The same for a socket whose queue holds `queued` bytes.
fn window_of(host: &Host, id: SockId, queued: usize) -> u16 {
    let s: &SockShared = &host.shared()[id.idx()];
    let free = (s.rcvbuf.load(Ordering::Relaxed) as usize).saturating_sub(queued);
    free.min(0xffff) as u16
}

fn isn() -> u32 {
    let mut b = [0u8; 4];
    crate::sys::getrandom(&mut b);
    u32::from_ne_bytes(b)
}

// ----- the hook points (called from net::inet) -----------------------------------

/// A fresh socket in a reused slot starts with no tuple (`sk_alloc`).
#[inline]
pub fn sk_alloc(sh: &SockShared) {
    sh.wire.clear();
}

/// `tcp_connect` -> `tcp_transmit_skb`: the client's SYN. `local` is its
/// address with `lport` its port, `remote` where the SYN goes.
#[inline]
pub fn tcp_connect(host: &Host, id: SockId, local: &InetAddr, lport: u16, remote: &InetAddr) {
    if on() {
        tcp_connect_slow(host, id, Ep::of(local, lport), Ep::of(remote, remote.port));
    }
}

#[cold]
fn tcp_connect_slow(host: &Host, id: SockId, l: Ep, r: Ep) {
    let seq = isn();
    let win = window(host, id);
    serialised(host, || {
        let w = wire(host, id);
        w.set(l, r, seq.wrapping_add(1), 0);
        send_seg(l, r, Seg { flags: SYN, seq, ack: 0, win, urg: 0, mss: Some(mss_for(l.is_v4()) as u16), data: &[] });
    });
}

/// The SYN again, when a full accept queue had dropped it and the listener
/// made room (the kernel's retransmission timer).
#[inline]
pub fn tcp_retransmit_syn(host: &Host, id: SockId) {
    if on() {
        let win = window(host, id);
        serialised(host, || {
            if let Some((l, r)) = wire(host, id).tuple() {
                let seq = wire(host, id).snd_nxt.load(Ordering::Relaxed).wrapping_sub(1);
                send_seg(l, r, Seg { flags: SYN, seq, ack: 0, win, urg: 0, mss: Some(mss_for(l.is_v4()) as u16), data: &[] });
            }
        });
    }
}

/// `tcp_v4_send_synack` from the new child, and the client's ACK that
/// completes the handshake (`tcp_rcv_synsent_state_process` -> `tcp_send_ack`).
#[inline]
pub fn tcp_v4_send_synack(host: &Host, client: SockId, child: SockId) {
    if on() {
        tcp_synack_slow(host, client, child);
    }
}

#[cold]
fn tcp_synack_slow(host: &Host, client: SockId, child: SockId) {
    let seq = isn();
    let (child_win, client_win) = (window(host, child), window(host, client));
    serialised(host, || {
        let cw = wire(host, client);
        let Some((cl, cr)) = cw.tuple() else { return };
        let client_nxt = cw.snd_nxt.load(Ordering::Relaxed);
        let chw = wire(host, child);
        chw.set(cr, cl, seq.wrapping_add(1), client_nxt);
        cw.rcv_nxt.store(seq.wrapping_add(1), Ordering::Relaxed);
        send_seg(cr, cl, Seg { flags: SYN | ACK, seq, ack: client_nxt, win: child_win, urg: 0, mss: Some(mss_for(cr.is_v4()) as u16), data: &[] });
        send_seg(cl, cr, Seg { flags: ACK, seq: client_nxt, ack: seq.wrapping_add(1), win: client_win, urg: 0, mss: None, data: &[] });
    });
}

/// `tcp_sendmsg` -> `tcp_push`: `n` bytes of `iov` from `skip` were
/// delivered to `peer`: the data segments (at most one MSS each, PSH on
/// the last; URG on an urgent byte) and the receiver's `tcp_send_ack`.
/// Called with the peer's receive queue still locked, so the segments are
/// in the file before the peer can read their bytes (and answer them);
/// `win` is the sender's window (read before that lock, see `window`),
/// `peer_queued` what the peer's queue now holds.
#[inline]
pub fn tcp_sendmsg(host: &Host, id: SockId, peer: SockId, data: Data<'_>, win: u16, peer_queued: usize, urgent: bool) {
    if on() {
        let peer_win = window_of(host, peer, peer_queued);
        tcp_data_slow(host, id, Some((peer, peer_win)), data, win, urgent);
    }
}

/// Data sent to a peer that is closed: the segments go out, unacknowledged
/// (the RST that answers them is `tcp_reset_reply`).
#[inline]
pub fn tcp_sendmsg_unacked(host: &Host, id: SockId, data: Data<'_>) {
    if on() {
        let win = window(host, id);
        tcp_data_slow(host, id, None, data, win, false);
    }
}

/// The bytes of a send: `n` bytes of `iov` from byte `skip`.
#[derive(Clone, Copy)]
pub struct Data<'a> {
    pub iov: &'a [&'a [u8]],
    pub skip: usize,
    pub n: usize,
}

#[cold]
fn tcp_data_slow(host: &Host, id: SockId, peer: Option<(SockId, u16)>, d: Data<'_>, win: u16, urgent: bool) {
    let data = gather(d.iov, d.skip, d.n);
    serialised(host, || {
        let w = wire(host, id);
        let Some((l, r)) = w.tuple() else { return };
        let mss = mss_for(l.is_v4());
        let rcv = w.rcv_nxt.load(Ordering::Relaxed);
        let mut seq = w.snd_nxt.load(Ordering::Relaxed);
        let nseg = data.len().div_ceil(mss).max(1);
        for (i, chunk) in data.chunks(mss).enumerate() {
            let last = i + 1 == nseg;
            let mut flags = ACK;
            if last {
                flags |= PSH;
            }
            let mut urg = 0;
            if urgent && last {
                flags |= URG;
                urg = chunk.len() as u16;
            }
            send_seg(l, r, Seg { flags, seq, ack: rcv, win, urg, mss: None, data: chunk });
            seq = seq.wrapping_add(chunk.len() as u32);
        }
        w.snd_nxt.store(seq, Ordering::Relaxed);
        if let Some((p, pwin)) = peer {
            let pw = wire(host, p);
            pw.rcv_nxt.store(seq, Ordering::Relaxed);
            send_seg(r, l, Seg { flags: ACK, seq: rcv, ack: seq, win: pwin, urg: 0, mss: None, data: &[] });
        }
    });
}

/// `tcp_send_fin`: the FIN (with ACK) and the peer's ACK of it (`tcp_fin`
/// -> `tcp_send_ack`), as loopback acknowledges at once.
#[inline]
pub fn tcp_send_fin(host: &Host, id: SockId, peer: Option<SockId>) {
    if on() {
        tcp_fin_slow(host, id, peer);
    }
}

#[cold]
fn tcp_fin_slow(host: &Host, id: SockId, peer: Option<SockId>) {
    let win = window(host, id);
    // The other end answers even when it is an orphan (FIN_WAIT2, TIME_WAIT).
    let pwin = peer.map_or(0xffff, |p| window(host, p));
    serialised(host, || {
        let w = wire(host, id);
        let Some((l, r)) = w.tuple() else { return };
        let seq = w.snd_nxt.load(Ordering::Relaxed);
        let rcv = w.rcv_nxt.load(Ordering::Relaxed);
        send_seg(l, r, Seg { flags: FIN | ACK, seq, ack: rcv, win, urg: 0, mss: None, data: &[] });
        w.snd_nxt.store(seq.wrapping_add(1), Ordering::Relaxed);
        if let Some(p) = peer {
            wire(host, p).rcv_nxt.store(seq.wrapping_add(1), Ordering::Relaxed);
        }
        send_seg(r, l, Seg { flags: ACK, seq: rcv, ack: seq.wrapping_add(1), win: pwin, urg: 0, mss: None, data: &[] });
    });
}

/// `tcp_send_active_reset`: RST|ACK from `id` at its current sequence.
#[inline]
pub fn tcp_send_active_reset(host: &Host, id: SockId) {
    if on() {
        serialised(host, || {
            let w = wire(host, id);
            if let Some((l, r)) = w.tuple() {
                let seq = w.snd_nxt.load(Ordering::Relaxed);
                let ack = w.rcv_nxt.load(Ordering::Relaxed);
                send_seg(l, r, Seg { flags: RST | ACK, seq, ack, win: 0, urg: 0, mss: None, data: &[] });
                w.clear();
            }
        });
    }
}

/// `tcp_v4_send_reset`: the RST that answers a segment of `id` nobody
/// takes. For a SYN (connection refused): RST|ACK acknowledging it; for a
/// segment with ACK: a bare RST at the sequence that segment acknowledged.
#[inline]
pub fn tcp_reset_reply(host: &Host, id: SockId, to_syn: bool) {
    if on() {
        serialised(host, || {
            let w = wire(host, id);
            if let Some((l, r)) = w.tuple() {
                let snd = w.snd_nxt.load(Ordering::Relaxed);
                let seg = if to_syn {
                    Seg { flags: RST | ACK, seq: 0, ack: snd, win: 0, urg: 0, mss: None, data: &[] }
                } else {
                    Seg { flags: RST, seq: w.rcv_nxt.load(Ordering::Relaxed), ack: 0, win: 0, urg: 0, mss: None, data: &[] }
                };
                send_seg(r, l, seg);
                w.clear();
            }
        });
    }
}

/// `udp_sendmsg` -> `udp_send_skb`: one datagram from `src` to `dst`; when
/// no socket takes it, the `icmp_send(ICMP_PORT_UNREACH)` that answers.
#[inline]
pub fn udp_sendmsg(src: &InetAddr, dst: &InetAddr, iov: &[&[u8]], delivered: bool) {
    if on() {
        udp_slow(Ep::of(src, src.port), Ep::of(dst, dst.port), iov, delivered);
    }
}

#[cold]
fn udp_slow(src: Ep, dst: Ep, iov: &[&[u8]], delivered: bool) {
    let len: usize = iov.iter().map(|v| v.len()).sum();
    let data = gather(iov, 0, len);
    let mut u = Vec::with_capacity(8 + data.len());
    u.extend_from_slice(&src.port.to_be_bytes());
    u.extend_from_slice(&dst.port.to_be_bytes());
    u.extend_from_slice(&((8 + data.len()).min(0xffff) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(&data);
    let v4 = src.is_v4();
    let frame = ip_frame(&src.ip, &dst.ip, v4, IPPROTO_UDP, u, Some(6));
    let ip_packet = frame[14..].to_vec();
    emit(frame);
    if delivered {
        return;
    }
    // The error quotes as much of the datagram as fits in the minimum MTU
    // (576 bytes for ICMP, 1280 for ICMPv6), as icmp_send / icmp6_send do.
    let (proto, ty, code, room) = if v4 { (IPPROTO_ICMP, 3u8, 3u8, 576 - 20 - 8) } else { (IPPROTO_ICMPV6, 1, 4, 1280 - 40 - 8) };
    let mut m = vec![ty, code, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&ip_packet[..ip_packet.len().min(room)]);
    emit(ip_frame(&dst.ip, &src.ip, v4, proto, m, Some(2)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_known_ipv4_header() {
        // The example header of RFC 1071 style tests: checksum field zero.
        let h = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
        assert_eq!(fold(sum16(0, &h)), 0xb861);
    }

    #[test]
    fn tcp_frame_checksums_verify() {
        let a = Ep { ip: InetAddr::v4([127, 0, 0, 1], 0).ip, port: 40000 };
        let b = Ep { ip: InetAddr::v4([127, 0, 0, 1], 0).ip, port: 7777 };
        let f = tcp_frame(a, b, &Seg { flags: PSH | ACK, seq: 1, ack: 2, win: 100, urg: 0, mss: None, data: b"hello" });
        // IP header sums to 0xffff with its checksum in place.
        assert_eq!(fold(sum16(0, &f[14..34])), 0);
        let l4 = &f[34..];
        assert_eq!(fold(sum16(pseudo(&a.ip, &b.ip, true, IPPROTO_TCP, l4.len()), l4)), 0);
        assert_eq!(&l4[20..], b"hello");
    }

    #[test]
    fn gather_spans_buffers() {
        let v: Vec<&[u8]> = vec![b"abc", b"", b"defg"];
        assert_eq!(gather(&v, 2, 3), b"cde");
    }
}
