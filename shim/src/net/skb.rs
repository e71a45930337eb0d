//! What an skb costs its sender: `skb->truesize` (include/linux/skbuff.h,
//! net/core/skbuff.c) and the sender's `sk_wmem_alloc` (net/core/sock.c).
//!
//! AF_UNIX charges every skb it queues at a peer to the *sender*
//! (`skb_set_owner_w`) until the receiver frees it (`sock_wfree`). That sum,
//! not the bytes, decides when a writer blocks (`sock_alloc_send_pskb`
//! waits while `sk_wmem_alloc >= sk_sndbuf`), when poll says POLLOUT
//! (`unix_writable`: a quarter of sk_sndbuf) and what SIOCOUTQ reports.
//! The sizes below are x86_64's (4 KiB pages, 64-byte cache lines,
//! `struct sk_buff` 232 bytes, `struct skb_shared_info` 320 bytes), and
//! the heads come from kmalloc because AF_UNIX allocates with
//! GFP_KERNEL_ACCOUNT, which skips the small-head cache (kmalloc_reserve).

use super::sock::{SockId, SockShared, TcpState, SEND_SHUTDOWN};
use crate::errno::{Errno, KResult};
use crate::shm::Host;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub const PAGE_SIZE: usize = 4096;
const SMP_CACHE_BYTES: usize = 64;
/// SKB_DATA_ALIGN(sizeof(struct skb_shared_info)).
const SHINFO_SIZE: usize = 320;
/// SKB_DATA_ALIGN(sizeof(struct sk_buff)).
const SK_BUFF_SIZE: usize = 256;
/// SKB_MAX_HEAD(0): the linear room of an order-0 head.
pub const SKB_MAX_HEAD0: usize = PAGE_SIZE - SHINFO_SIZE;
/// SKB_MAX_ALLOC = SKB_MAX_ORDER(0, 2).
pub const SKB_MAX_ALLOC: usize = (PAGE_SIZE << 2) - SHINFO_SIZE;
/// MAX_SKB_FRAGS (CONFIG_MAX_SKB_FRAGS default).
pub const MAX_SKB_FRAGS: usize = 17;
/// af_unix.c UNIX_SKB_FRAGS_SZ: PAGE_SIZE << get_order(32768).
pub const UNIX_SKB_FRAGS_SZ: usize = 32768;

/// SKB_DATA_ALIGN.
pub const fn skb_data_align(x: usize) -> usize {
    (x + SMP_CACHE_BYTES - 1) & !(SMP_CACHE_BYTES - 1)
}

/// PAGE_ALIGN.
pub const fn page_align(x: usize) -> usize {
    (x + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// kmalloc_size_roundup for an skb head (always >= 320 bytes): the
/// kmalloc-512 .. kmalloc-8k caches, then whole page orders; all powers of two.
fn kmalloc_size_roundup(x: usize) -> usize {
    x.next_power_of_two()
}

/// `truesize` of `alloc_skb_with_frags(header_len, data_len)`: the kmalloc'd
/// head (data + skb_shared_info, SKB_TRUESIZE) and `PAGE_SIZE << order` per
/// page chunk, which adds up to PAGE_ALIGN(data_len).
pub fn skb_truesize(header_len: usize, data_len: usize) -> usize {
    kmalloc_size_roundup(skb_data_align(header_len) + SHINFO_SIZE) + SK_BUFF_SIZE + page_align(data_len)
}

/// unix_stream_sendmsg: how many of `left` bytes the next skb takes, given
/// the sender's sk_sndbuf ("keep two messages in the pipe", at most an
/// order-0 head plus UNIX_SKB_FRAGS_SZ of pages).
pub fn unix_stream_skb_size(left: usize, sndbuf: u32) -> usize {
    let half = ((sndbuf as i64 >> 1) - 64).max(1) as usize;
    left.min(half).min(SKB_MAX_HEAD0 + UNIX_SKB_FRAGS_SZ)
}

/// The truesize of a unix stream skb of `size` bytes (its head/page split).
pub fn unix_stream_truesize(size: usize) -> usize {
    let data_len = size.saturating_sub(SKB_MAX_HEAD0);
    let data_len = size.min(page_align(data_len));
    skb_truesize(size - data_len, data_len)
}

/// The truesize of a unix datagram (or seqpacket record) of `len` bytes
/// (unix_dgram_sendmsg puts what exceeds SKB_MAX_ALLOC in pages).
pub fn unix_dgram_truesize(len: usize) -> usize {
    let data_len = if len > SKB_MAX_ALLOC { page_align((len - SKB_MAX_ALLOC).min(MAX_SKB_FRAGS * PAGE_SIZE)) } else { 0 };
    skb_truesize(len - data_len.min(len), data_len)
}

/// Who an skb is charged to, as an skb header stores it (`skb->sk`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    /// SockId packed (0: nobody).
    pub sk: u32,
    /// The slot's generation when the skb was charged.
    pub gen: u32,
}

/// `sk_wmem_alloc_get`.
pub fn sk_wmem_alloc_get(s: &SockShared) -> u32 {
    s.sk_wmem_alloc.load(Ordering::Acquire) as u32
}

/// `skb_set_owner_w`: charges `truesize` to `sk`.
pub fn skb_set_owner_w(host: &Host, sk: SockId, truesize: usize) -> Owner {
    let s = &host.shared()[sk.idx()];
    let v = s.sk_wmem_alloc.fetch_add(truesize as u64, Ordering::AcqRel);
    Owner { sk: SockId::pack(Some(sk)), gen: (v >> 32) as u32 }
}

/// `unix_writable`: the kernel's test is `sk_wmem_alloc << 2 <= sk_sndbuf`
/// on the refcount, which starts at 1.
pub fn unix_writable(s: &SockShared, state: TcpState) -> bool {
    state != TcpState::Listen && ((sk_wmem_alloc_get(s) as u64 + 1) << 2) <= s.sndbuf.load(Ordering::Relaxed) as u64
}

/// `sock_wfree` (the skb destructor): gives the truesize back to its
/// sender, if that socket still lives in the slot, then `sk_write_space`
/// (`unix_write_space`: wake writers once the socket is writable).
pub fn sock_wfree(host: &Host, owner: Owner, truesize: u32) {
    let Some(id) = SockId::unpack(owner.sk) else { return };
    let Some(s) = host.shared().get(id.idx()) else { return };
    let mut cur = s.sk_wmem_alloc.load(Ordering::Acquire);
    loop {
        if (cur >> 32) as u32 != owner.gen {
            return;
        }
        let bytes = (cur as u32).saturating_sub(truesize);
        let new = (cur & !0xffff_ffff) | bytes as u64;
        match s.sk_wmem_alloc.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(v) => cur = v,
        }
    }
    if unix_writable(s, s.state()) {
        s.wq.wake();
    }
}

/// The wait at the top of `sock_alloc_send_pskb`: a pending error, then
/// SEND_SHUTDOWN (EPIPE), then room in sk_sndbuf (`sock_wait_for_wmem`).
/// Returns once an skb may be allocated.
pub fn sock_alloc_send_pskb_wait(host: &Host, sk: SockId, nonblock: bool, deadline: Option<Instant>) -> KResult<()> {
    let s = &host.shared()[sk.idx()];
    loop {
        let seq = s.wq.prepare();
        if let Some(e) = s.take_err() {
            return Err(e);
        }
        if s.shutdown() & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        if sk_wmem_alloc_get(s) < s.sndbuf.load(Ordering::Relaxed) {
            return Ok(());
        }
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        s.wq.wait(seq, deadline, &|| {
            crate::task::reap_dead(host);
        })?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SIOCOUTQ after one send on a socketpair with a 8 MiB sk_sndbuf, as
    /// Linux 6.x on x86_64 reports it.
    #[test]
    fn unix_stream_truesize_matches_kernel() {
        let cases = [
            (1, 768),
            (192, 768),
            (193, 1280),
            (1000, 2304),
            (1729, 4352),
            (3776, 4352),
            (3777, 4864),
            (4096, 4864),
            (5000, 6400),
            (8192, 8960),
            (10000, 12544),
            (16065, 17152),
            (36544, 37120),
            (36545, 37888),
            (70000, 71168),
            (200000, 204288),
        ];
        for (len, want) in cases {
            let mut left = len;
            let mut total = 0;
            while left > 0 {
                let n = unix_stream_skb_size(left, 8 << 20);
                total += unix_stream_truesize(n);
                left -= n;
            }
            assert_eq!(total, want, "len {len}");
        }
    }

    #[test]
    fn unix_dgram_truesize_matches_kernel() {
        let cases = [
            (1, 768),
            (193, 1280),
            (3777, 8448),
            (8000, 16640),
            (16064, 16640),
            (16065, 20736),
            (30000, 33024),
            (36545, 41216),
            (70000, 73984),
            (85696, 86272),
            (85697, 102656),
            (150000, 200960),
        ];
        for (len, want) in cases {
            assert_eq!(unix_dgram_truesize(len), want, "len {len}");
        }
    }
}
