//! Shared epoll instances: the emulated part of a `struct eventpoll`.
//!
//! On Linux an epoll instance is one `struct eventpoll` behind one file:
//! fork, dup and SCM_RIGHTS share it, and every holder sees and changes the
//! same interest list (fs/eventpoll.c). Here the kernel epoll file still
//! holds the real fds; the interests in emulated sockets (the `epitem`s)
//! live in this area so every process of the namespace sees one list:
//! - `EpollCtl[MAX_EPOLLS]`: one per instance (its poll waiter, its list);
//! - `EpItem[MAX_EPITEMS]`: a pool of items shared by all instances, each
//!   on its instance's list (insertion order, for the scan) and on a hash
//!   chain keyed by (instance, fd), for `ep_find`;
//! - `refs[]`: how many fd-table entries (over all processes) name each
//!   instance; changed with atomics, so the exit path and the reaper can
//!   drop references under the host lock without taking the epoll lock;
//! - `file_epoch[]`: per socket slot, bumped when the socket's file goes
//!   (its last fput): `eventpoll_release`. An item records the epoch it was
//!   added at, and an item whose socket's epoch moved is gone (dropped
//!   lazily by the next scan or ctl that meets it).
//!
//! - `ready[]`: per instance, a bitmap over the item pool, its ready list
//!   (`rdllist`). A wake of a socket sets the bit of every item watching it
//!   (the item's `ReadyMark` sits beside its watcher in the socket's wait
//!   queue: `ep_poll_callback`), lock-free, from any process; epoll_wait
//!   takes the bits and polls only those items, so an instance of ten
//!   thousand idle connections costs nothing per idle one. A summary word
//!   per 64 bitmap words keeps the look at an empty list to a few loads.
//!   Items go in the order they went on the ready list, as the kernel's
//!   list keeps them: a wake that finds the bit clear stamps the item from
//!   a clock of the namespace (`ready_stamp`); one that finds it set leaves
//!   the item where it is.
//!
//! Lock order: the epoll lock, then the host lock (a scan calls
//! `ops->poll`, which may take it); never the other way round.

use super::mutex::ShmMutex;
use super::MAX_SOCKS;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Epoll instances with emulated interests a namespace holds at once.
pub const MAX_EPOLLS: usize = 1024;
/// Items (one emulated socket in one instance) over all instances.
pub const MAX_EPITEMS: usize = 65536;
const HASH: usize = 16384;
/// Words of one instance's ready bitmap, and of its summary.
const READY_WORDS: usize = MAX_EPITEMS / 64;
const SUM_WORDS: usize = READY_WORDS / 64;

/// One epoll instance (`struct eventpoll`, the emulated half).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EpollCtl {
    pub in_use: bool,
    /// Bumped at every allocation of the slot: (slot, gen) names an instance.
    pub gen: u32,
    /// Its poll waiter (`shm::waiter`), owned by the instance, not a process.
    pub waiter: u32,
    /// First and last item of its list (index + 1, 0: none).
    pub head: u32,
    pub tail: u32,
    /// Looks at the ready list since the instance was made (every
    /// `FULL_LOOK_EVERY`th looks at the whole list).
    pub looks: u32,
}

/// How often a look at an instance takes its whole list instead of its
/// ready list: a process killed inside epoll_wait, after it took marks and
/// before it polled them, leaves those items unmarked, and this finds them
/// (the cost: one walk of the list per this many waits).
pub const FULL_LOOK_EVERY: u32 = 4096;

/// `struct epitem` for an emulated socket.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EpItem {
    /// Instance slot + 1 (0: free).
    pub ep: u32,
    /// The fd number in the process that added it (`epoll_filefd.fd`).
    pub fd: i32,
    /// The socket and its file's epoch (`epoll_filefd.file`).
    pub sock: u32,
    pub epoch: u32,
    pub events: u32,
    pub data: u64,
    /// The socket's wait-queue sequence when last reported (edge-triggered).
    pub last_seq: u32,
    /// EPOLLONESHOT fired: no more events until EPOLL_CTL_MOD.
    pub disabled: bool,
    /// The watcher slot taken on the socket's wait queue (255: overflow).
    pub watch: u8,
    /// The instance's look (`EpollCtl::looks`) that last took it.
    pub seen: u32,
    /// Instance list and hash chain links (index + 1, 0: none).
    pub prev: u32,
    pub next: u32,
    pub hnext: u32,
}

/// Everything under the epoll lock.
#[repr(C)]
pub struct EpollTable {
    pub eps: [EpollCtl; MAX_EPOLLS],
    pub buckets: [u32; HASH],
    /// Free items (chained by `next`), and one past the highest ever used.
    pub free: u32,
    pub hw: u32,
    pub items: [EpItem; MAX_EPITEMS],
}

#[repr(C)]
pub struct EpollArea {
    /// fd-table entries naming each instance, over all processes.
    pub refs: [AtomicU32; MAX_EPOLLS],
    /// Items on each instance's list: epoll_wait's fast path reads it.
    pub nitems: [AtomicU32; MAX_EPOLLS],
    /// Each instance's poll waiter (a copy of `EpollCtl::waiter`, read lock-free).
    pub waiter: [AtomicU32; MAX_EPOLLS],
    /// Per socket slot: bumped at the release of the socket's file.
    pub file_epoch: [AtomicU32; MAX_SOCKS],
    /// Each instance's ready list: bit i for item i; and which of its
    /// words may have a bit set (set after the word, cleared before it is
    /// taken, so a bit is never behind a clear summary bit).
    pub ready: [[AtomicU64; READY_WORDS]; MAX_EPOLLS],
    pub ready_sum: [[AtomicU64; SUM_WORDS]; MAX_EPOLLS],
    /// Each item's instance + 1 (0: free), for the wakers.
    pub item_ep: [AtomicU32; MAX_EPITEMS],
    /// When each item last went on its ready list (`ready_clock`).
    pub ready_stamp: [AtomicU64; MAX_EPITEMS],
    pub ready_clock: AtomicU64,
    pub table: ShmMutex<EpollTable>,
}

/// An item's name in its socket's wait queue, beside the waiter id in the
/// watcher word (0: no item, a poll/select thread): the item + 1. Its
/// instance is `EpollArea::item_ep`, read by the waker without the lock; a
/// mark that outlived its item puts a stranger on some ready list, which
/// costs that list one look.
pub fn ready_mark_of(idx: u32) -> u32 {
    idx + 1
}

/// This process's namespace's area, for the wakers (`WaitQueue::wake`),
/// installed at attach as the poll waiters are.
static AREA: once_cell::sync::OnceCell<&'static EpollArea> = once_cell::sync::OnceCell::new();

pub fn install(area: &'static EpollArea) {
    let _ = AREA.set(area);
}

/// `ep_poll_callback`: puts the item a wait queue's mark names on its
/// instance's ready list (nothing for a mark of 0).
pub fn ready_mark(mark: u32) {
    let Some(area) = AREA.get() else { return };
    let idx = mark.wrapping_sub(1) as usize;
    if let Some(ep) = area.item_ep.get(idx) {
        let ep = ep.load(Ordering::Acquire) as usize;
        if (1..=MAX_EPOLLS).contains(&ep) {
            area.set_ready(ep - 1, idx);
        }
    }
}

fn bucket(ep: u32, fd: i32) -> usize {
    ((ep as usize).wrapping_mul(0x9e37_79b1) ^ (fd as u32 as usize).wrapping_mul(0x85eb_ca6b)) % HASH
}

impl EpollArea {
    /// `eventpoll_release`: the last reference to a socket's file went.
    pub fn eventpoll_release(&self, sock: usize) {
        if let Some(e) = self.file_epoch.get(sock) {
            e.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Puts item `idx` on instance `ep`'s ready list. An item that goes on
    /// the list (its bit was clear) is stamped, so it comes after those
    /// already there.
    pub fn set_ready(&self, ep: usize, idx: usize) {
        self.mark_ready(ep, idx, true);
    }

    /// Puts back an item taken but not handled (beyond `maxevents`): it
    /// keeps its stamp, and its place before the newer ones.
    pub fn put_back(&self, ep: usize, idx: usize) {
        self.mark_ready(ep, idx, false);
    }

    /// The word's bit is always a read-modify-write, also when already
    /// set: the reader's swap then synchronises with it and sees the change
    /// that woke the socket. The summary is only read first (in the one
    /// order of SeqCst operations the reader clears it after this read,
    /// and takes the word after that).
    fn mark_ready(&self, ep: usize, idx: usize, stamp: bool) {
        let (w, b) = (idx / 64, 1u64 << (idx % 64));
        if self.ready[ep][w].fetch_or(b, Ordering::SeqCst) & b == 0 && stamp {
            // A reader that takes the bit before this store sees the item
            // with its previous stamp: a little early in the order, no more.
            self.ready_stamp[idx].store(self.ready_clock.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Release);
        }
        let (sw, sb) = (w / 64, 1u64 << (w % 64));
        let sum = &self.ready_sum[ep][sw];
        if sum.load(Ordering::SeqCst) & sb == 0 {
            sum.fetch_or(sb, Ordering::SeqCst);
        }
    }

    /// Takes instance `ep`'s ready list (every item that was woken, or put
    /// back, since the last take), handing each item to `out`.
    pub fn take_ready(&self, ep: usize, mut out: impl FnMut(u32)) {
        for (sw, sum) in self.ready_sum[ep].iter().enumerate() {
            let mut s = sum.load(Ordering::SeqCst);
            while s != 0 {
                let b = s.trailing_zeros() as usize;
                s &= s - 1;
                sum.fetch_and(!(1u64 << b), Ordering::SeqCst);
                let w = sw * 64 + b;
                let mut v = self.ready[ep][w].swap(0, Ordering::SeqCst);
                while v != 0 {
                    let i = v.trailing_zeros() as usize;
                    v &= v - 1;
                    out((w * 64 + i) as u32);
                }
            }
        }
    }

    pub fn epoch(&self, sock: usize) -> u32 {
        self.file_epoch[sock].load(Ordering::Acquire)
    }

    /// Takes one more reference to instance `ep` (a dup, a fork child).
    pub fn get(&self, ep: u32) {
        if let Some(r) = self.refs.get(ep as usize) {
            r.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Drops a reference; true when it was the last (the caller frees the
    /// instance with `EpollTable::free_ep`, or leaves it to `gc`).
    pub fn put(&self, ep: u32) -> bool {
        let Some(r) = self.refs.get(ep as usize) else { return false };
        let mut cur = r.load(Ordering::Acquire);
        loop {
            if cur == 0 {
                return false;
            }
            match r.compare_exchange_weak(cur, cur - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return cur == 1,
                Err(v) => cur = v,
            }
        }
    }
}

impl EpollTable {
    pub fn valid(&self, ep: u32, gen: u32) -> bool {
        self.eps.get(ep as usize).is_some_and(|e| e.in_use && e.gen == gen)
    }

    /// A free instance slot, with poll waiter `waiter`.
    pub fn alloc_ep(&mut self, area: &EpollArea, waiter: u32) -> Option<(u32, u32)> {
        let i = (0..MAX_EPOLLS).find(|&i| !self.eps[i].in_use)?;
        let e = &mut self.eps[i];
        e.in_use = true;
        e.waiter = waiter;
        area.waiter[i].store(waiter, Ordering::Release);
        e.gen = e.gen.wrapping_add(1) & 0xffff;
        e.head = 0;
        e.tail = 0;
        e.looks = 0;
        // What the slot's last instance left on its ready list.
        area.take_ready(i, |_| {});
        area.refs[i].store(1, Ordering::Release);
        area.nitems[i].store(0, Ordering::Release);
        Some((i as u32, e.gen))
    }

    /// `ep_find`: the item of (instance, fd, file), if any.
    pub fn find(&self, ep: u32, fd: i32, sock: u32, epoch: u32) -> Option<u32> {
        let mut i = self.buckets[bucket(ep, fd)];
        while i != 0 {
            let it = &self.items[i as usize - 1];
            if it.ep == ep + 1 && it.fd == fd && it.sock == sock && it.epoch == epoch {
                return Some(i - 1);
            }
            i = it.hnext;
        }
        None
    }

    /// Puts a new item at the tail of instance `ep`'s list.
    pub fn insert(&mut self, area: &EpollArea, ep: u32, item: EpItem) -> Option<u32> {
        let idx = if self.free != 0 {
            let i = self.free - 1;
            self.free = self.items[i as usize].next;
            i
        } else if (self.hw as usize) < MAX_EPITEMS {
            self.hw += 1;
            self.hw - 1
        } else {
            return None;
        };
        let b = bucket(ep, item.fd);
        let tail = self.eps[ep as usize].tail;
        area.item_ep[idx as usize].store(ep + 1, Ordering::Release);
        self.items[idx as usize] = EpItem { ep: ep + 1, prev: tail, next: 0, hnext: self.buckets[b], ..item };
        self.buckets[b] = idx + 1;
        if tail != 0 {
            self.items[tail as usize - 1].next = idx + 1;
        } else {
            self.eps[ep as usize].head = idx + 1;
        }
        self.eps[ep as usize].tail = idx + 1;
        area.nitems[ep as usize].fetch_add(1, Ordering::AcqRel);
        Some(idx)
    }

    /// Unlinks and frees item `idx`; returns it (the caller unwatches).
    pub fn remove(&mut self, area: &EpollArea, idx: u32) -> EpItem {
        let it = self.items[idx as usize];
        let ep = it.ep - 1;
        // The hash chain.
        let b = bucket(ep, it.fd);
        if self.buckets[b] == idx + 1 {
            self.buckets[b] = it.hnext;
        } else {
            let mut i = self.buckets[b];
            while i != 0 {
                let n = self.items[i as usize - 1].hnext;
                if n == idx + 1 {
                    self.items[i as usize - 1].hnext = it.hnext;
                    break;
                }
                i = n;
            }
        }
        // The instance list.
        if it.prev != 0 {
            self.items[it.prev as usize - 1].next = it.next;
        } else {
            self.eps[ep as usize].head = it.next;
        }
        if it.next != 0 {
            self.items[it.next as usize - 1].prev = it.prev;
        } else {
            self.eps[ep as usize].tail = it.prev;
        }
        self.items[idx as usize] = EpItem { ep: 0, next: self.free, ..it };
        area.item_ep[idx as usize].store(0, Ordering::Release);
        self.free = idx + 1;
        area.nitems[ep as usize].fetch_sub(1, Ordering::AcqRel);
        it
    }

    /// Moves item `idx` to the tail of its instance's list.
    pub fn to_tail(&mut self, idx: u32) {
        let it = self.items[idx as usize];
        let ep = it.ep as usize - 1;
        if self.eps[ep].tail == idx + 1 {
            return;
        }
        // Unlink (it has a successor, since it is not the tail).
        if it.prev != 0 {
            self.items[it.prev as usize - 1].next = it.next;
        } else {
            self.eps[ep].head = it.next;
        }
        self.items[it.next as usize - 1].prev = it.prev;
        // Append.
        let tail = self.eps[ep].tail;
        self.items[tail as usize - 1].next = idx + 1;
        let m = &mut self.items[idx as usize];
        m.prev = tail;
        m.next = 0;
        self.eps[ep].tail = idx + 1;
    }

    /// The items of instance `ep`, in list order.
    pub fn list(&self, ep: u32) -> Vec<u32> {
        let mut v = Vec::new();
        let mut i = self.eps[ep as usize].head;
        while i != 0 {
            v.push(i - 1);
            i = self.items[i as usize - 1].next;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zeroed area on the heap, as a fresh mapping has it.
    fn area() -> Box<EpollArea> {
        let layout = std::alloc::Layout::new::<EpollArea>();
        // SAFETY: EpollArea is valid when zeroed (atomics, a lock word, integers).
        unsafe { Box::from_raw(std::alloc::alloc_zeroed(layout) as *mut EpollArea) }
    }

    fn item(fd: i32, sock: u32) -> EpItem {
        EpItem { ep: 0, fd, sock, epoch: 0, events: 1, data: fd as u64, last_seq: 0, disabled: false, watch: 0, seen: 0, prev: 0, next: 0, hnext: 0 }
    }

    #[test]
    fn list_hash_and_free_list() {
        let a = area();
        let mut t = a.table.lock();
        let (e1, _) = t.alloc_ep(&a, 5).unwrap();
        let (e2, _) = t.alloc_ep(&a, 6).unwrap();
        assert_eq!(a.refs[e1 as usize].load(Ordering::Relaxed), 1);
        let i1 = t.insert(&a, e1, item(3, 10)).unwrap();
        let i2 = t.insert(&a, e1, item(4, 11)).unwrap();
        let i3 = t.insert(&a, e1, item(5, 12)).unwrap();
        let j1 = t.insert(&a, e2, item(3, 10)).unwrap();
        assert_eq!(t.list(e1), vec![i1, i2, i3]);
        assert_eq!(t.list(e2), vec![j1]);
        assert_eq!(t.find(e1, 3, 10, 0), Some(i1));
        assert_eq!(t.find(e2, 3, 10, 0), Some(j1));
        assert_eq!(t.find(e1, 3, 10, 1), None);
        assert_eq!(t.find(e1, 3, 11, 0), None);
        t.to_tail(i1);
        assert_eq!(t.list(e1), vec![i2, i3, i1]);
        t.to_tail(i1);
        assert_eq!(t.list(e1), vec![i2, i3, i1]);
        t.remove(&a, i3);
        assert_eq!(t.list(e1), vec![i2, i1]);
        assert_eq!(t.find(e1, 5, 12, 0), None);
        assert_eq!(a.nitems[e1 as usize].load(Ordering::Relaxed), 2);
        // The freed item is used again first.
        let i4 = t.insert(&a, e1, item(9, 13)).unwrap();
        assert_eq!(i4, i3);
        assert_eq!(t.list(e1), vec![i2, i1, i4]);
        t.remove(&a, i2);
        t.remove(&a, i4);
        t.remove(&a, i1);
        assert!(t.list(e1).is_empty());
        assert_eq!(t.eps[e1 as usize].tail, 0);
        assert_eq!(t.find(e2, 3, 10, 0), Some(j1));
    }

    #[test]
    fn ready_list_takes_what_was_marked_once() {
        let a = area();
        let (ep, _) = a.table.lock().alloc_ep(&a, 1).unwrap();
        let e = ep as usize;
        let mut got = Vec::new();
        a.take_ready(e, |i| got.push(i));
        assert!(got.is_empty());
        for i in [3, 64, 4095, 4096, 65535, 3] {
            a.set_ready(e, i);
        }
        // Another instance's marks are its own.
        a.set_ready(e + 1, 7);
        a.take_ready(e, |i| got.push(i));
        assert_eq!(got, vec![3, 64, 4095, 4096, 65535]);
        got.clear();
        a.take_ready(e, |i| got.push(i));
        assert!(got.is_empty(), "taken once");
        a.take_ready(e + 1, |i| got.push(i));
        assert_eq!(got, vec![7]);
        // A wait queue's mark finds the item's instance (none when freed).
        install(Box::leak(area()));
        let g = AREA.get().unwrap();
        let i = g.table.lock().insert(g, 2, item(3, 10)).unwrap();
        ready_mark(ready_mark_of(i));
        ready_mark(0);
        got.clear();
        g.take_ready(2, |i| got.push(i));
        assert_eq!(got, vec![i]);
        let mut t = g.table.lock();
        t.remove(g, i);
        drop(t);
        ready_mark(ready_mark_of(i));
        got.clear();
        g.take_ready(2, |i| got.push(i));
        assert!(got.is_empty());
        // A slot used again starts with an empty list.
        a.set_ready(e, 9);
        {
            let mut t = a.table.lock();
            t.eps[e].in_use = false;
            t.alloc_ep(&a, 1).unwrap();
        }
        got.clear();
        a.take_ready(e, |i| got.push(i));
        assert!(got.is_empty());
    }

    #[test]
    fn stamps_follow_the_ready_order() {
        let a = area();
        a.set_ready(0, 9);
        a.set_ready(0, 2);
        // Already on the list: stays where it is.
        a.set_ready(0, 9);
        let (s9, s2) = (a.ready_stamp[9].load(Ordering::Relaxed), a.ready_stamp[2].load(Ordering::Relaxed));
        assert!(s9 < s2);
        let mut got = Vec::new();
        a.take_ready(0, |i| got.push(i));
        a.put_back(0, 9);
        assert_eq!(a.ready_stamp[9].load(Ordering::Relaxed), s9);
        a.set_ready(0, 2);
        assert!(a.ready_stamp[2].load(Ordering::Relaxed) > s2);
    }

    #[test]
    fn references() {
        let a = area();
        let (ep, _) = a.table.lock().alloc_ep(&a, 1).unwrap();
        a.get(ep);
        assert!(!a.put(ep));
        assert!(a.put(ep));
        assert!(!a.put(ep), "no underflow");
        a.eventpoll_release(7);
        assert_eq!(a.epoch(7), 1);
    }
}
