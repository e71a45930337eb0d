//! Receive queues (`sk_receive_queue`), kept in each socket's ring.
//!
//! Stream sockets queue bytes; datagram and seqpacket sockets queue records
//! (`RecHdr`, the sender's address, the payload), which keeps message
//! boundaries, the sender's name and credentials (`UNIXCB(skb)`) and passed
//! sockets. All functions take the queue's lock themselves and hold it only
//! for the copy: the data path never needs the host lock.

use super::addr::Addr;
use super::sock::{Cred, RxQueue, SockId};
use crate::shm::mutex::ShmGuard;
use crate::shm::ring::RingMem;
use crate::shm::Host;

/// Copies bytes from a list of buffers into the ring at `pos`.
fn put_iov(ring: &RingMem<'_>, mut pos: u64, iov: &[&[u8]], mut skip: usize, mut n: usize) {
    for b in iov {
        if n == 0 {
            break;
        }
        if skip >= b.len() {
            skip -= b.len();
            continue;
        }
        let take = (b.len() - skip).min(n);
        ring.write_at(pos, &b[skip..skip + take]);
        pos += take as u64;
        n -= take;
        skip = 0;
    }
}

/// Copies `n` bytes out of the ring at `pos` into a list of buffers.
fn get_iov(ring: &RingMem<'_>, mut pos: u64, iov: &mut [&mut [u8]], mut n: usize) {
    for b in iov.iter_mut() {
        if n == 0 {
            break;
        }
        let take = b.len().min(n);
        ring.read_at(pos, &mut b[..take]);
        pos += take as u64;
        n -= take;
    }
}

pub fn iov_len(iov: &[&[u8]]) -> usize {
    iov.iter().map(|b| b.len()).sum()
}

pub fn iov_len_mut(iov: &[&mut [u8]]) -> usize {
    iov.iter().map(|b| b.len()).sum()
}

/// The bytes a queue may hold: the sender's buffer, capped by the ring.
pub fn capacity(host: &Host, rx: &RxQueue) -> usize {
    let cap = host.ring(0).capacity();
    if rx.limit == 0 {
        cap
    } else {
        (rx.limit as usize).min(cap)
    }
}

/// Byte stream: appends up to `n` bytes of `iov` (after `skip`) to `to`'s
/// queue; returns how many fit (0: the queue is full).
pub fn stream_put(host: &Host, to: SockId, iov: &[&[u8]], skip: usize, n: usize) -> usize {
    let sh = &host.shared()[to.idx()];
    let mut q = sh.rx.lock();
    let room = capacity(host, &q).saturating_sub(q.used());
    let take = room.min(n);
    if take > 0 {
        put_iov(&host.ring(to.idx()), q.tail, iov, skip, take);
        q.tail += take as u64;
    }
    take
}

/// Byte stream: takes (or with `peek` copies) up to the buffers' size.
pub fn stream_take(host: &Host, me: SockId, iov: &mut [&mut [u8]], peek: bool) -> usize {
    let sh = &host.shared()[me.idx()];
    let mut q = sh.rx.lock();
    let n = q.used().min(iov_len_mut(iov));
    if n > 0 {
        get_iov(&host.ring(me.idx()), q.head, iov, n);
        if !peek {
            q.head += n as u64;
        }
    }
    n
}

/// Byte stream, with the queue lock held by the caller: copies `n` bytes
/// from ring position `pos` of `me` into `iov`, starting `skip` bytes into it.
pub fn stream_copy_at(host: &Host, me: SockId, pos: u64, iov: &mut [&mut [u8]], mut skip: usize, n: usize) {
    let ring = host.ring(me.idx());
    let mut rest: Vec<&mut [u8]> = Vec::with_capacity(iov.len());
    for b in iov.iter_mut() {
        if skip >= b.len() {
            skip -= b.len();
            continue;
        }
        rest.push(&mut b[skip..]);
        skip = 0;
    }
    get_iov(&ring, pos, &mut rest, n);
}

/// Byte stream, with the queue lock held by the caller: appends up to `n`
/// bytes of `iov` (after `skip`); returns how many fit.
pub fn stream_put_locked(host: &Host, to: SockId, q: &mut RxQueue, iov: &[&[u8]], skip: usize, n: usize) -> usize {
    let room = capacity(host, q).saturating_sub(q.used());
    let take = room.min(n);
    if take > 0 {
        put_iov(&host.ring(to.idx()), q.tail, iov, skip, take);
        q.tail += take as u64;
    }
    take
}

/// Bytes queued (FIONREAD on a stream).
pub fn queued(host: &Host, me: SockId) -> usize {
    host.shared()[me.idx()].rx.lock().used()
}

/// Drops everything queued; returns how many bytes there were.
pub fn purge(host: &Host, me: SockId) -> usize {
    let mut q = host.shared()[me.idx()].rx.lock();
    let n = q.used();
    q.head = q.tail;
    q.nrec = 0;
    q.oob = 0;
    q.urg_data = 0;
    n
}

/// The fixed part of a datagram record.
#[derive(Clone, Copy, Default, Debug)]
#[repr(C)]
pub struct RecHdr {
    pub len: u32,
    pub addr_len: u16,
    pub nsocks: u16,
    pub cred: Cred,
}

const HDR: usize = core::mem::size_of::<RecHdr>();
const MAX_PASSED: usize = 253; // SCM_MAX_FD

fn rec_size(addr_len: usize, nsocks: usize, len: usize) -> usize {
    (HDR + addr_len + nsocks * 4 + len + 7) & !7
}

fn hdr_bytes(h: &RecHdr) -> [u8; HDR] {
    let mut b = [0u8; HDR];
    b[0..4].copy_from_slice(&h.len.to_ne_bytes());
    b[4..6].copy_from_slice(&h.addr_len.to_ne_bytes());
    b[6..8].copy_from_slice(&h.nsocks.to_ne_bytes());
    b[8..12].copy_from_slice(&h.cred.pid.to_ne_bytes());
    b[12..16].copy_from_slice(&h.cred.uid.to_ne_bytes());
    b[16..20].copy_from_slice(&h.cred.gid.to_ne_bytes());
    b
}

fn hdr_from(b: &[u8; HDR]) -> RecHdr {
    let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    RecHdr {
        len: u32_at(0),
        addr_len: u16::from_ne_bytes([b[4], b[5]]),
        nsocks: u16::from_ne_bytes([b[6], b[7]]),
        cred: Cred { pid: u32_at(8) as i32, uid: u32_at(12), gid: u32_at(16) },
    }
}

/// Whether a record of this shape could ever fit (else EMSGSIZE).
pub fn record_fits(host: &Host, addr_len: usize, len: usize) -> bool {
    rec_size(addr_len, MAX_PASSED, len) <= host.ring(0).capacity()
}

/// Appends one record to `to`'s queue; false if there is no room now.
pub fn record_put(host: &Host, to: SockId, cred: Cred, from: &Addr, socks: &[SockId], iov: &[&[u8]]) -> bool {
    let len = iov_len(iov);
    let size = rec_size(from.len as usize, socks.len(), len);
    let sh = &host.shared()[to.idx()];
    let mut q = sh.rx.lock();
    if q.used() + size > capacity(host, &q) {
        return false;
    }
    let ring = host.ring(to.idx());
    let h = RecHdr { len: len as u32, addr_len: from.len as u16, nsocks: socks.len() as u16, cred };
    let mut pos = q.tail;
    ring.write_at(pos, &hdr_bytes(&h));
    pos += HDR as u64;
    ring.write_at(pos, from.as_bytes());
    pos += from.len as u64;
    for s in socks {
        ring.write_at(pos, &s.0.to_ne_bytes());
        pos += 4;
    }
    put_iov(&ring, pos, iov, 0, len);
    q.tail += size as u64;
    q.nrec += 1;
    true
}

/// A record taken off a queue.
pub struct Record {
    /// The payload's full length (MSG_TRUNC reports it).
    pub len: usize,
    /// Bytes copied into the caller's buffers.
    pub copied: usize,
    pub from: Addr,
    pub cred: Cred,
    pub socks: Vec<SockId>,
}

/// Takes (or peeks) the first record, copying its payload into `iov`.
pub fn record_take(host: &Host, me: SockId, iov: &mut [&mut [u8]], peek: bool) -> Option<Record> {
    let sh = &host.shared()[me.idx()];
    let mut q: ShmGuard<'_, RxQueue> = sh.rx.lock();
    if q.nrec == 0 {
        return None;
    }
    let ring = host.ring(me.idx());
    let mut hb = [0u8; HDR];
    ring.read_at(q.head, &mut hb);
    let h = hdr_from(&hb);
    let mut pos = q.head + HDR as u64;
    let mut from = Addr::default();
    from.len = (h.addr_len as u32).min(128);
    ring.read_at(pos, &mut from.bytes[..from.len as usize]);
    pos += h.addr_len as u64;
    let mut socks = Vec::with_capacity(h.nsocks as usize);
    for _ in 0..h.nsocks {
        let mut b = [0u8; 4];
        ring.read_at(pos, &mut b);
        socks.push(SockId(u32::from_ne_bytes(b)));
        pos += 4;
    }
    let copied = (h.len as usize).min(iov_len_mut(iov));
    get_iov(&ring, pos, iov, copied);
    if !peek {
        q.head += rec_size(h.addr_len as usize, h.nsocks as usize, h.len as usize) as u64;
        q.nrec -= 1;
    }
    Some(Record { len: h.len as usize, copied, from, cred: h.cred, socks })
}

/// (records queued, payload length of the first) for FIONREAD / SIOCINQ.
pub fn first_record_len(host: &Host, me: SockId) -> (u32, usize) {
    let sh = &host.shared()[me.idx()];
    let q = sh.rx.lock();
    if q.nrec == 0 {
        return (0, 0);
    }
    let mut hb = [0u8; HDR];
    host.ring(me.idx()).read_at(q.head, &mut hb);
    (q.nrec, hdr_from(&hb).len as usize)
}

/// Drops every record, returning the sockets they carried (to be released).
pub fn purge_records(host: &Host, me: SockId) -> Vec<SockId> {
    let mut out = Vec::new();
    let mut none: [&mut [u8]; 0] = [];
    while let Some(r) = record_take(host, me, &mut none, false) {
        out.extend(r.socks);
    }
    out
}
