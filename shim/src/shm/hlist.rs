//! Hash chains and free lists over slot numbers, for tables in the shared
//! host (the kernel's `hlist_head`/`hlist_node` with slot numbers for
//! pointers). Everything is valid when zero-filled: no slot is on a chain,
//! every chain and free list is empty.
//!
//! Links are stored as `slot + 1` (0: none). A walk stops after as many
//! steps as there are slots, so links left half-updated by a process that
//! died holding the host lock cannot make it loop for ever.

/// `B` chains over `N` slots; a slot is on at most one chain.
#[repr(C)]
pub struct Hlist<const B: usize, const N: usize> {
    head: [u32; B],
    next: [u32; N],
    prev: [u32; N],
    /// The chain a slot is on, + 1 (0: on none).
    on: [u32; N],
}

impl<const B: usize, const N: usize> Hlist<B, N> {
    /// The chain slot `i` is on.
    pub fn chain_of(&self, i: usize) -> Option<usize> {
        (self.on[i] as usize).checked_sub(1)
    }

    /// `hlist_add_head`: puts slot `i` at the head of chain `b` (off
    /// whatever chain it was on).
    pub fn add(&mut self, b: usize, i: usize) {
        debug_assert!(b < B && i < N);
        self.del(i);
        let first = self.head[b];
        self.next[i] = first;
        self.prev[i] = 0;
        if first != 0 {
            self.prev[first as usize - 1] = i as u32 + 1;
        }
        self.head[b] = i as u32 + 1;
        self.on[i] = b as u32 + 1;
    }

    /// `hlist_del_init`: takes slot `i` off its chain, if it is on one.
    pub fn del(&mut self, i: usize) {
        let Some(b) = self.chain_of(i) else { return };
        let (p, n) = (self.prev[i], self.next[i]);
        if p == 0 {
            self.head[b] = n;
        } else {
            self.next[p as usize - 1] = n;
        }
        if n != 0 {
            self.prev[n as usize - 1] = p;
        }
        self.next[i] = 0;
        self.prev[i] = 0;
        self.on[i] = 0;
    }

    /// The slots on chain `b`, most recently added first
    /// (`hlist_for_each_entry`).
    pub fn iter(&self, b: usize) -> impl Iterator<Item = usize> + '_ {
        let mut cur = self.head[b];
        let mut steps = 0;
        std::iter::from_fn(move || {
            if cur == 0 || steps >= N {
                return None;
            }
            steps += 1;
            let i = cur as usize - 1;
            cur = self.next[i];
            Some(i)
        })
    }
}

/// Which of `64 * W` slots are taken, with a summary of the full words
/// (`S * 64 >= W`): `alloc` finds the lowest free slot in a few word
/// reads, so slots are reused lowest first as a scan of the table would.
#[repr(C)]
pub struct SlotMap<const W: usize, const S: usize> {
    used: [u64; W],
    full: [u64; S],
}

impl<const W: usize, const S: usize> SlotMap<W, S> {
    /// The lowest slot not marked taken, not yet marked.
    pub fn first_free(&self) -> Option<usize> {
        for (k, &f) in self.full.iter().enumerate() {
            if f == u64::MAX {
                continue;
            }
            let w = k * 64 + (!f).trailing_zeros() as usize;
            if w >= W {
                return None;
            }
            return Some(w * 64 + (!self.used[w]).trailing_zeros() as usize);
        }
        None
    }

    /// Marks slot `i` taken.
    pub fn set(&mut self, i: usize) {
        let w = i / 64;
        self.used[w] |= 1 << (i % 64);
        if self.used[w] == u64::MAX {
            self.full[w / 64] |= 1 << (w % 64);
        }
    }

    /// Marks slot `i` free.
    pub fn clear(&mut self, i: usize) {
        let w = i / 64;
        self.used[w] &= !(1 << (i % 64));
        self.full[w / 64] &= !(1 << (w % 64));
    }

    /// The lowest free slot that `free` agrees is free, marked taken
    /// (slots it refuses are marked taken too: whoever holds them clears
    /// them when they go).
    pub fn alloc(&mut self, free: impl Fn(usize) -> bool) -> Option<usize> {
        while let Some(i) = self.first_free() {
            self.set(i);
            if free(i) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroed<T>() -> Box<T> {
        // SAFETY: Hlist and FreeList are integers only; zero is valid.
        unsafe { Box::new(core::mem::zeroed()) }
    }

    #[test]
    fn chains_add_del_walk() {
        let mut h: Box<Hlist<4, 8>> = zeroed();
        h.add(1, 3);
        h.add(1, 5);
        h.add(2, 0);
        assert_eq!(h.iter(1).collect::<Vec<_>>(), vec![5, 3]);
        assert_eq!(h.chain_of(0), Some(2));
        h.add(1, 0); // moves from chain 2
        assert_eq!(h.iter(2).count(), 0);
        assert_eq!(h.iter(1).collect::<Vec<_>>(), vec![0, 5, 3]);
        h.del(5);
        assert_eq!(h.iter(1).collect::<Vec<_>>(), vec![0, 3]);
        h.del(5);
        h.del(0);
        h.del(3);
        assert_eq!(h.iter(1).count(), 0);
        assert_eq!(h.chain_of(3), None);
    }

    #[test]
    fn slot_map_lowest_first() {
        let mut m: Box<SlotMap<2, 1>> = zeroed();
        let mut used = [false; 128];
        for want in 0..128 {
            let i = m.alloc(|i| !used[i]).unwrap();
            assert_eq!(i, want);
            used[i] = true;
        }
        assert_eq!(m.alloc(|i| !used[i]), None);
        for i in [100, 5, 70] {
            used[i] = false;
            m.clear(i);
        }
        assert_eq!(m.alloc(|i| !used[i]), Some(5));
        // A slot the owner says is not free is skipped (and kept marked).
        used[70] = true;
        assert_eq!(m.alloc(|i| !used[i]), Some(100));
        assert_eq!(m.alloc(|i| !used[i]), None);
    }
}
