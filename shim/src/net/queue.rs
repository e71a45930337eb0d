//! Receive queues (`sk_receive_queue`), kept in each socket's ring.
//!
//! Stream sockets queue bytes; datagram and seqpacket sockets queue records
//! (`RecHdr`, the sender's address, the payload), which keeps message
//! boundaries, the sender's name and credentials (`UNIXCB(skb)`) and passed
//! sockets. The functions take the queue's lock themselves and hold it only
//! for the copy (TCP's large copies run outside it, on a range the lock
//! gave them: see `stream_put_at`): the data path never needs the host lock.

use super::addr::Addr;
use super::scm::ScmFpList;
use super::skb::{self, Owner};
use super::sock::{Cred, RxQueue, SockId};
use crate::shm::mutex::ShmGuard;
use crate::shm::ring::RingMem;
use crate::shm::Host;

/// Byte copies larger than this run outside the receive queue's lock (TCP's
/// `tcp_sendmsg`/`tcp_recvmsg`, AF_UNIX's `queue_tail_unlocked`/
/// `copy_out_unlocked`), so that the reader copies out of the ring while
/// the writer copies in; smaller ones are cheaper under the lock. Only one
/// reader (`SockShared::rx_reader`) and one writer (`rx_writer`) of a queue
/// copy at a time, each in the part of the ring the lock gave it: the
/// reader's bytes stay queued until it moves the head, the writer's are
/// past the tail until it publishes them. A purge meanwhile bumps
/// `RxQueue::gen`, and the copy is dropped.
pub const COPY_UNLOCKED: usize = 16 << 10;
/// The most one TCP copy outside the lock moves before it is published, so
/// reader and writer each start on the other's bytes early.
pub const COPY_STEP: usize = 64 << 10;

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
fn get_iov(ring: &RingMem<'_>, pos: u64, iov: &mut [&mut [u8]], n: usize) {
    skb_copy_datagram_iter(ring, pos, iov, 0, n);
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

/// Byte stream, with the queue lock held by the caller (or `rx_reader`,
/// for bytes that stay queued until the caller moves the head): copies `n`
/// bytes from ring position `pos` of `me` into `iov`, starting `skip`
/// bytes into it.
pub fn stream_copy_at(host: &Host, me: SockId, pos: u64, iov: &mut [&mut [u8]], skip: usize, n: usize) {
    skb_copy_datagram_iter(&host.ring(me.idx()), pos, iov, skip, n);
}

/// Byte stream: copies `n` bytes of `iov` (after `skip`) into `to`'s ring
/// at `pos`, a range the caller reserved past the tail (it holds
/// `rx_writer`; the queue lock need not be held). Publishing them is the
/// caller's.
pub fn stream_put_at(host: &Host, to: SockId, pos: u64, iov: &[&[u8]], skip: usize, n: usize) {
    put_iov(&host.ring(to.idx()), pos, iov, skip, n);
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
    q.gen = q.gen.wrapping_add(1);
    n
}

/// The fixed part of a datagram record.
#[derive(Clone, Copy, Default, Debug)]
#[repr(C)]
pub struct RecHdr {
    pub len: u32,
    pub addr_len: u16,
    /// Passed fds: `ScmFpList::raw_count` (the list follows the address).
    pub nsocks: u16,
    pub cred: Cred,
    /// AF_UNIX: the skb's truesize, charged to `owner` until it is freed.
    pub truesize: u32,
    pub owner: Owner,
    /// What an inet datagram's skb carries for the receiver's control
    /// messages (zero for AF_UNIX records).
    pub meta: RecMeta,
}

/// The parts of an inet datagram's skb that `recvmsg` control messages
/// report: `skb->tstamp`, the IP header's destination, and the
/// `PKTINFO_SKB_CB` / `IP6CB` input interface.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RecMeta {
    /// `skb->tstamp` in ns since the epoch (CLOCK_REALTIME); 0: not stamped.
    pub tstamp: u64,
    /// `ip_hdr(skb)->daddr` / `ipv6_hdr(skb)->daddr`, v4-mapped for IPv4.
    pub daddr: [u8; 16],
    /// The input interface the receive path recorded (0: none prepared).
    pub iif: i32,
    pub _pad: u32,
}

const HDR: usize = core::mem::size_of::<RecHdr>();
const MAX_PASSED: usize = super::scm::SCM_MAX_FD;

/// A record's size; `nsocks` is the raw fd count of its header.
fn rec_size(addr_len: usize, nsocks: usize, len: usize) -> usize {
    (HDR + addr_len + ScmFpList::encoded_len(nsocks as u32) + len + 7) & !7
}

fn hdr_bytes(h: &RecHdr) -> [u8; HDR] {
    let mut b = [0u8; HDR];
    b[0..4].copy_from_slice(&h.len.to_ne_bytes());
    b[4..6].copy_from_slice(&h.addr_len.to_ne_bytes());
    b[6..8].copy_from_slice(&h.nsocks.to_ne_bytes());
    b[8..12].copy_from_slice(&h.cred.pid.to_ne_bytes());
    b[12..16].copy_from_slice(&h.cred.uid.to_ne_bytes());
    b[16..20].copy_from_slice(&h.cred.gid.to_ne_bytes());
    b[20..24].copy_from_slice(&h.truesize.to_ne_bytes());
    b[24..28].copy_from_slice(&h.owner.sk.to_ne_bytes());
    b[28..32].copy_from_slice(&h.owner.gen.to_ne_bytes());
    b[32..40].copy_from_slice(&h.meta.tstamp.to_ne_bytes());
    b[40..56].copy_from_slice(&h.meta.daddr);
    b[56..60].copy_from_slice(&h.meta.iif.to_ne_bytes());
    b
}

fn hdr_from(b: &[u8; HDR]) -> RecHdr {
    let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    RecHdr {
        len: u32_at(0),
        addr_len: u16::from_ne_bytes([b[4], b[5]]),
        nsocks: u16::from_ne_bytes([b[6], b[7]]),
        cred: Cred { pid: u32_at(8) as i32, uid: u32_at(12), gid: u32_at(16) },
        truesize: u32_at(20),
        owner: Owner { sk: u32_at(24), gen: u32_at(28) },
        meta: RecMeta {
            tstamp: u64::from_ne_bytes([b[32], b[33], b[34], b[35], b[36], b[37], b[38], b[39]]),
            daddr: {
                let mut d = [0u8; 16];
                d.copy_from_slice(&b[40..56]);
                d
            },
            iif: u32_at(56) as i32,
            _pad: 0,
        },
    }
}

/// Whether a record of this shape could ever fit (else EMSGSIZE).
pub fn record_fits(host: &Host, addr_len: usize, len: usize) -> bool {
    rec_size(addr_len, MAX_PASSED | super::scm::FP_HAS_CARRIER as usize, len) <= host.ring(0).capacity()
}

/// Appends one record to `to`'s queue; false if there is no room now.
pub fn record_put(host: &Host, to: SockId, cred: Cred, from: &Addr, socks: &[SockId], iov: &[&[u8]]) -> bool {
    let fp = (!socks.is_empty()).then(|| ScmFpList { items: socks.iter().map(|s| s.0).collect(), carrier: None });
    record_put_owned(host, to, cred, from, fp.as_ref(), iov, None)
}

/// `record_put` of an skb charged to a sender (`skb_set_owner_w` with
/// `truesize`), as AF_UNIX datagrams are: `skb::sock_wfree` gives it back
/// when the record is taken or purged.
pub fn record_put_owned(
    host: &Host,
    to: SockId,
    cred: Cred,
    from: &Addr,
    fp: Option<&ScmFpList>,
    iov: &[&[u8]],
    charge: Option<(SockId, usize)>,
) -> bool {
    record_put_full(host, to, cred, from, fp, iov, charge, RecMeta::default())
}

/// `record_put` of an inet datagram with what its skb carries for the
/// receiver's control messages (`skb->tstamp`, the destination address, the
/// input interface).
pub fn record_put_meta(host: &Host, to: SockId, cred: Cred, from: &Addr, iov: &[&[u8]], meta: RecMeta) -> bool {
    record_put_full(host, to, cred, from, None, iov, None, meta)
}

#[allow(clippy::too_many_arguments)]
fn record_put_full(
    host: &Host,
    to: SockId,
    cred: Cred,
    from: &Addr,
    fp: Option<&ScmFpList>,
    iov: &[&[u8]],
    charge: Option<(SockId, usize)>,
    meta: RecMeta,
) -> bool {
    let len = iov_len(iov);
    let raw = fp.map_or(0, |f| f.raw_count());
    let size = rec_size(from.len as usize, raw as usize, len);
    let sh = &host.shared()[to.idx()];
    let mut q = sh.rx.lock();
    if q.used() + size > capacity(host, &q) {
        return false;
    }
    let ring = host.ring(to.idx());
    let (truesize, owner) = match charge {
        Some((sk, ts)) => (ts as u32, skb::skb_set_owner_w(host, sk, ts)),
        None => (0, Owner::default()),
    };
    let h = RecHdr { len: len as u32, addr_len: from.len as u16, nsocks: raw as u16, cred, truesize, owner, meta };
    let mut pos = q.tail;
    ring.write_at(pos, &hdr_bytes(&h));
    pos += HDR as u64;
    ring.write_at(pos, from.as_bytes());
    pos += from.len as u64;
    if let Some(f) = fp {
        let b = f.encode();
        ring.write_at(pos, &b);
        pos += b.len() as u64;
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
    /// `UNIXCB(skb).fp`.
    pub fp: Option<ScmFpList>,
    /// What the skb carries for control messages (inet datagrams).
    pub meta: RecMeta,
}

/// Takes (or peeks) the first record, copying its payload into `iov`.
pub fn record_take(host: &Host, me: SockId, iov: &mut [&mut [u8]], peek: bool) -> Option<Record> {
    record_take_at(host, me, iov, peek, -1).map(|(r, _)| r)
}

/// `record_take` with the socket's peek offset (`sk_peek_off`), as
/// `__skb_try_recv_from_queue` does: MSG_PEEK at an offset >= 0 steps over
/// whole records the offset covers and copies from the offset into the
/// next one. Returns the record and that offset into it.
pub fn record_take_at(host: &Host, me: SockId, iov: &mut [&mut [u8]], peek: bool, off: i32) -> Option<(Record, usize)> {
    let sh = &host.shared()[me.idx()];
    let mut q: ShmGuard<'_, RxQueue> = sh.rx.lock();
    if q.nrec == 0 {
        return None;
    }
    let ring = host.ring(me.idx());
    let read_hdr = |at: u64| {
        let mut hb = [0u8; HDR];
        ring.read_at(at, &mut hb);
        hdr_from(&hb)
    };
    let mut at = q.head;
    let mut h = read_hdr(at);
    let mut skip = 0usize;
    if peek && off >= 0 {
        let mut o = off as usize;
        let mut left = q.nrec;
        while o > 0 && o >= h.len as usize {
            o -= h.len as usize;
            left -= 1;
            if left == 0 {
                return None;
            }
            at += rec_size(h.addr_len as usize, h.nsocks as usize, h.len as usize) as u64;
            h = read_hdr(at);
        }
        skip = o;
    }
    let mut pos = at + HDR as u64;
    let mut from = Addr::default();
    from.len = (h.addr_len as u32).min(128);
    ring.read_at(pos, &mut from.bytes[..from.len as usize]);
    pos += h.addr_len as u64;
    let fp_len = ScmFpList::encoded_len(h.nsocks as u32);
    let fp = (h.nsocks != 0).then(|| {
        let mut b = vec![0u8; fp_len];
        ring.read_at(pos, &mut b);
        ScmFpList::decode(h.nsocks as u32, &b)
    });
    pos += fp_len as u64;
    let copied = (h.len as usize - skip).min(iov_len_mut(iov));
    get_iov(&ring, pos + skip as u64, iov, copied);
    if !peek {
        q.head += rec_size(h.addr_len as usize, h.nsocks as usize, h.len as usize) as u64;
        q.nrec -= 1;
        drop(q);
        // kfree_skb / consume_skb -> sock_wfree
        skb::sock_wfree(host, h.owner, h.truesize);
    }
    Some((Record { len: h.len as usize, copied, from, cred: h.cred, fp, meta: h.meta }, skip))
}

/// Payload bytes of every queued record (unix_inq_len on SOCK_SEQPACKET).
pub fn records_total_len(host: &Host, me: SockId) -> usize {
    let sh = &host.shared()[me.idx()];
    let q = sh.rx.lock();
    let ring = host.ring(me.idx());
    let mut pos = q.head;
    let mut total = 0;
    for _ in 0..q.nrec {
        let mut hb = [0u8; HDR];
        ring.read_at(pos, &mut hb);
        let h = hdr_from(&hb);
        total += h.len as usize;
        pos += rec_size(h.addr_len as usize, h.nsocks as usize, h.len as usize) as u64;
    }
    total
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

/// Drops every record, returning the fds they carried (to be released).
pub fn purge_records(host: &Host, me: SockId) -> Vec<ScmFpList> {
    let mut out = Vec::new();
    let mut none: [&mut [u8]; 0] = [];
    while let Some(r) = record_take(host, me, &mut none, false) {
        out.extend(r.fp);
    }
    out
}

/// The sockets the queued records carry in flight (for `scm::unix_gc`).
pub fn record_passed_socks(host: &Host, me: SockId) -> Vec<SockId> {
    let sh = &host.shared()[me.idx()];
    let q = sh.rx.lock();
    let ring = host.ring(me.idx());
    let mut pos = q.head;
    let mut out = Vec::new();
    for _ in 0..q.nrec {
        let mut hb = [0u8; HDR];
        ring.read_at(pos, &mut hb);
        let h = hdr_from(&hb);
        if h.nsocks != 0 {
            let mut b = vec![0u8; ScmFpList::encoded_len(h.nsocks as u32)];
            ring.read_at(pos + HDR as u64 + h.addr_len as u64, &mut b);
            out.extend(ScmFpList::decode(h.nsocks as u32, &b).socks());
        }
        pos += rec_size(h.addr_len as usize, h.nsocks as usize, h.len as usize) as u64;
    }
    out
}

// ----- AF_UNIX stream: a queue of skbs --------------------------------------
//
// unix_stream_sendmsg queues whole skbs and unix_stream_read_generic walks
// them: each keeps its length, how much of it was read
// (`UNIXCB(skb).consumed`), its truesize and its sender (the skb's owner,
// charged until the skb is freed), and whether it is the socket's
// `oob_skb`. Each is a record in the ring: `SkbHdr`, then the bytes.

/// The header of one AF_UNIX stream skb in the ring.
#[derive(Clone, Copy, Default, Debug)]
pub struct SkbHdr {
    pub len: u32,
    pub consumed: u32,
    pub truesize: u32,
    pub owner: Owner,
    /// SKB_OOB: this skb is `unix_sk(sk)->oob_skb`.
    pub flags: u32,
    /// `UNIXCB(skb).pid/uid/gid` (scm::NO_CREDS: none attached).
    pub cred: Cred,
    /// `UNIXCB(skb).fp`: the raw count of the fd list after the header
    /// (0 once `unix_detach_fds` took it), and the bytes the list takes.
    pub nfp: u32,
    pub fp_len: u32,
}

pub const SKB_OOB: u32 = 1;
const SKB_HDR: usize = 48;

impl SkbHdr {
    /// `unix_skb_len`: what is left to read.
    pub fn unread(&self) -> usize {
        (self.len - self.consumed.min(self.len)) as usize
    }
    fn to_bytes(self) -> [u8; SKB_HDR] {
        let mut b = [0u8; SKB_HDR];
        let words = [
            self.len,
            self.consumed,
            self.truesize,
            self.owner.sk,
            self.owner.gen,
            self.flags,
            self.cred.pid as u32,
            self.cred.uid,
            self.cred.gid,
            self.nfp,
            self.fp_len,
        ];
        for (i, v) in words.iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }
    fn from_bytes(b: &[u8; SKB_HDR]) -> SkbHdr {
        let u = |i: usize| u32::from_ne_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        SkbHdr {
            len: u(0),
            consumed: u(1),
            truesize: u(2),
            owner: Owner { sk: u(3), gen: u(4) },
            flags: u(5),
            cred: Cred { pid: u(6) as i32, uid: u(7), gid: u(8) },
            nfp: u(9),
            fp_len: u(10),
        }
    }
}

fn skb_rec_size(h: &SkbHdr) -> usize {
    SKB_HDR + h.fp_len as usize + ((h.len as usize + 7) & !7)
}

/// `skb_copy_datagram_iter`: `n` bytes from ring position `at` into `iov`,
/// after its first `iov_skip` bytes.
fn skb_copy_datagram_iter(ring: &RingMem<'_>, mut at: u64, iov: &mut [&mut [u8]], mut iov_skip: usize, mut n: usize) {
    for b in iov.iter_mut() {
        if n == 0 {
            break;
        }
        if iov_skip >= b.len() {
            iov_skip -= b.len();
            continue;
        }
        let take = (b.len() - iov_skip).min(n);
        ring.read_at(at, &mut b[iov_skip..iov_skip + take]);
        at += take as u64;
        n -= take;
        iov_skip = 0;
    }
}

/// A socket's stream skb queue, locked (`sk_receive_queue.lock`). Skbs
/// freed while it is held are given back to their senders (`sock_wfree`)
/// once the lock is dropped.
pub struct SkbQueue<'a> {
    host: &'a Host,
    q: Option<ShmGuard<'a, RxQueue>>,
    ring: RingMem<'a>,
    freed: super::smallvec::SmallVec<(Owner, u32), 8>,
}

impl<'a> SkbQueue<'a> {
    pub fn lock(host: &'a Host, me: SockId) -> SkbQueue<'a> {
        let q = host.shared()[me.idx()].rx.lock();
        SkbQueue { host, q: Some(q), ring: host.ring(me.idx()), freed: Default::default() }
    }
    /// Runs `f` with the queue's lock let go; returns what it gave and
    /// whether the queue was left unpurged meanwhile.
    fn unlocked<R>(&mut self, f: impl FnOnce(&RingMem<'a>) -> R) -> (R, bool) {
        let ring = &self.ring;
        let q = self.q.as_mut().expect("held until drop");
        let gen = q.gen;
        let r = q.unlocked(|| f(ring));
        (r, q.gen == gen)
    }
    fn q(&self) -> &RxQueue {
        self.q.as_ref().expect("held until drop")
    }
    fn q_mut(&mut self) -> &mut RxQueue {
        self.q.as_mut().expect("held until drop")
    }
    pub fn is_empty(&self) -> bool {
        self.q().nrec == 0
    }
    /// `skb_peek`: the first skb's position.
    pub fn peek(&self) -> Option<u64> {
        (self.q().nrec > 0).then_some(self.q().head)
    }
    /// `skb_peek_next`.
    pub fn peek_next(&self, pos: u64) -> Option<u64> {
        let next = pos + skb_rec_size(&self.hdr(pos)) as u64;
        (next < self.q().tail).then_some(next)
    }
    pub fn hdr(&self, pos: u64) -> SkbHdr {
        let mut b = [0u8; SKB_HDR];
        self.ring.read_at(pos, &mut b);
        SkbHdr::from_bytes(&b)
    }
    pub fn set_hdr(&self, pos: u64, h: SkbHdr) {
        self.ring.write_at(pos, &h.to_bytes());
    }
    /// Copies `n` bytes from offset `off` of the skb at `pos` into `iov`,
    /// after the first `iov_skip` bytes of it.
    pub fn copy_out(&self, pos: u64, off: usize, iov: &mut [&mut [u8]], iov_skip: usize, n: usize) {
        let at = pos + (SKB_HDR + self.hdr(pos).fp_len as usize + off) as u64;
        skb_copy_datagram_iter(&self.ring, at, iov, iov_skip, n);
    }
    /// `copy_out` of a large chunk, with the lock dropped for the copy (see
    /// `COPY_UNLOCKED`; the caller holds `rx_reader`). False: the queue was
    /// purged meanwhile and the skb is gone; the bytes copied mean nothing.
    /// Headers may have changed meanwhile (an OOB send clears another skb's
    /// flag): read them again.
    pub fn copy_out_unlocked(&mut self, pos: u64, off: usize, iov: &mut [&mut [u8]], iov_skip: usize, n: usize) -> bool {
        let at = pos + (SKB_HDR + self.hdr(pos).fp_len as usize + off) as u64;
        self.unlocked(|ring| skb_copy_datagram_iter(ring, at, iov, iov_skip, n)).1
    }
    /// `skb_unlink` + `consume_skb` of the first skb (the only one a reader
    /// ever unlinks).
    pub fn unlink_head(&mut self) {
        let Some(pos) = self.peek() else { return };
        let h = self.hdr(pos);
        let q = self.q_mut();
        q.head += skb_rec_size(&h) as u64;
        q.nrec -= 1;
        if h.flags & SKB_OOB != 0 {
            q.oob = 0;
        }
        self.freed.push((h.owner, h.truesize));
    }
    /// `unix_sk(sk)->oob_skb`.
    pub fn oob_skb(&self) -> Option<u64> {
        if self.q().oob == 0 {
            return None;
        }
        let mut p = self.peek();
        while let Some(pos) = p {
            if self.hdr(pos).flags & SKB_OOB != 0 {
                return Some(pos);
            }
            p = self.peek_next(pos);
        }
        None
    }
    /// `WRITE_ONCE(u->oob_skb, NULL)`.
    pub fn clear_oob(&mut self) {
        if let Some(pos) = self.oob_skb() {
            let mut h = self.hdr(pos);
            h.flags &= !SKB_OOB;
            self.set_hdr(pos, h);
        }
        self.q_mut().oob = 0;
    }
    /// `unix_inq_len` for a stream: the unread bytes of every skb.
    pub fn inq_len(&self) -> usize {
        let mut total = 0;
        let mut p = self.peek();
        while let Some(pos) = p {
            total += self.hdr(pos).unread();
            p = self.peek_next(pos);
        }
        total
    }
    /// `skb_queue_tail` of a new skb holding up to `size` bytes of `iov`
    /// (after `skip`), charged to `from` (`skb_set_owner_w`) with the
    /// truesize `truesize_of` gives for the bytes it got. A ring too full
    /// for all of them takes fewer; returns how many (0: no room at all).
    /// `oob`: the skb becomes the socket's oob_skb (queue_oob).
    /// `cred` and `fp` are the skb's `UNIXCB` (unix_scm_to_skb).
    #[allow(clippy::too_many_arguments)]
    pub fn queue_tail(
        &mut self,
        from: SockId,
        iov: &[&[u8]],
        skip: usize,
        size: usize,
        truesize_of: impl Fn(usize) -> usize,
        oob: bool,
        cred: Cred,
        fp: Option<&ScmFpList>,
    ) -> usize {
        let room = capacity(self.host, self.q()).saturating_sub(self.q().used());
        let fpb = fp.map(|f| f.encode()).unwrap_or_default();
        let fp_len = (fpb.len() + 7) & !7;
        let mut n = size;
        if SKB_HDR + fp_len + ((n + 7) & !7) > room {
            if oob {
                return 0;
            }
            n = room.saturating_sub(SKB_HDR + fp_len) & !7;
        }
        if n == 0 {
            return 0;
        }
        if oob {
            self.clear_oob();
        }
        let truesize = truesize_of(n);
        let owner = skb::skb_set_owner_w(self.host, from, truesize);
        let h = SkbHdr {
            len: n as u32,
            consumed: 0,
            truesize: truesize as u32,
            owner,
            flags: if oob { SKB_OOB } else { 0 },
            cred,
            nfp: fp.map_or(0, |f| f.raw_count()),
            fp_len: fp_len as u32,
        };
        let tail = self.q().tail;
        self.set_hdr(tail, h);
        if !fpb.is_empty() {
            self.ring.write_at(tail + SKB_HDR as u64, &fpb);
        }
        put_iov(&self.ring, tail + (SKB_HDR + fp_len) as u64, iov, skip, n);
        let q = self.q_mut();
        q.tail += skb_rec_size(&h) as u64;
        q.nrec += 1;
        if oob {
            q.oob = 1;
        }
        n
    }
    /// `queue_tail` of a large skb that carries no fds and is no OOB skb,
    /// with the bytes copied while the lock is dropped (see
    /// `COPY_UNLOCKED`): the header goes in under the lock, past the tail,
    /// and the skb is linked once its bytes are in. The caller holds the
    /// queue's `rx_writer`, so no other skb is queued meanwhile. A queue
    /// purged meanwhile (its socket closed) never sees the skb, and its
    /// charge goes back to the sender as if it had been queued and freed.
    pub fn queue_tail_unlocked(&mut self, from: SockId, iov: &[&[u8]], skip: usize, size: usize, truesize_of: impl Fn(usize) -> usize, cred: Cred) -> usize {
        let room = capacity(self.host, self.q()).saturating_sub(self.q().used());
        let mut n = size;
        if SKB_HDR + ((n + 7) & !7) > room {
            n = room.saturating_sub(SKB_HDR) & !7;
        }
        if n == 0 {
            return 0;
        }
        let truesize = truesize_of(n);
        let owner = skb::skb_set_owner_w(self.host, from, truesize);
        let h = SkbHdr { len: n as u32, consumed: 0, truesize: truesize as u32, owner, flags: 0, cred, nfp: 0, fp_len: 0 };
        let tail = self.q().tail;
        self.set_hdr(tail, h);
        let ((), kept) = self.unlocked(|ring| put_iov(ring, tail + SKB_HDR as u64, iov, skip, n));
        if kept && self.q().tail == tail {
            let q = self.q_mut();
            q.tail += skb_rec_size(&h) as u64;
            q.nrec += 1;
        } else {
            self.freed.push((owner, truesize as u32));
        }
        n
    }
    /// The fd list of the skb at `pos` (`UNIXCB(skb).fp`); unless `peek`,
    /// the skb no longer holds it (`unix_detach_fds`).
    pub fn take_fp(&mut self, pos: u64, peek: bool) -> Option<ScmFpList> {
        let mut h = self.hdr(pos);
        if h.nfp == 0 {
            return None;
        }
        let mut b = vec![0u8; ScmFpList::encoded_len(h.nfp)];
        self.ring.read_at(pos + SKB_HDR as u64, &mut b);
        let fp = ScmFpList::decode(h.nfp, &b);
        if !peek {
            h.nfp = 0;
            self.set_hdr(pos, h);
        }
        Some(fp)
    }
    /// The sockets the queued skbs carry in flight (for `scm::unix_gc`).
    pub fn passed_socks(&mut self) -> Vec<SockId> {
        let mut out = Vec::new();
        let mut p = self.peek();
        while let Some(pos) = p {
            if let Some(fp) = self.take_fp(pos, true) {
                out.extend(fp.socks());
            }
            p = self.peek_next(pos);
        }
        out
    }
    /// `skb_queue_purge`: frees every skb; returns the fd lists they held.
    pub fn purge(&mut self) -> Vec<ScmFpList> {
        let mut fps = Vec::new();
        while let Some(pos) = self.peek() {
            fps.extend(self.take_fp(pos, false));
            self.unlink_head();
        }
        let q = self.q_mut();
        q.oob = 0;
        q.gen = q.gen.wrapping_add(1);
        fps
    }
}

impl Drop for SkbQueue<'_> {
    fn drop(&mut self) {
        drop(self.q.take());
        for &(owner, truesize) in self.freed.iter() {
            skb::sock_wfree(self.host, owner, truesize);
        }
    }
}
