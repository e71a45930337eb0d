//! `RingMem`: a socket's receive ring, bytes in the shared mapping.
//!
//! Positions are free-running u64 counters; a position maps to
//! `pos % len`. Callers hold the owning socket's receive-queue lock, or
//! copy into a range that queue gave them alone (TCP's reader and writer,
//! see `net::inet`), which is what makes the plain copies here race-free.

/// A view of one ring's bytes.
pub struct RingMem<'a> {
    base: *mut u8,
    len: usize,
    _life: core::marker::PhantomData<&'a ()>,
}

impl RingMem<'_> {
    /// # Safety
    /// `base` must be valid for `len` bytes for the returned lifetime, and
    /// the caller must serialise access (the receive-queue lock).
    pub unsafe fn new(base: *mut u8, len: usize) -> Self {
        RingMem { base, len, _life: core::marker::PhantomData }
    }

    pub fn capacity(&self) -> usize {
        self.len
    }

    /// Copies `src` in at position `pos` (wrapping).
    #[inline]
    pub fn write_at(&self, pos: u64, src: &[u8]) {
        debug_assert!(src.len() <= self.len);
        let off = (pos % self.len as u64) as usize;
        if src.len() <= self.len - off {
            // SAFETY: off + src.len() <= len: inside the ring, which never
            // overlaps caller memory. (One copy: a fixed-size header becomes
            // plain moves instead of two memcpy calls.)
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), self.base.add(off), src.len()) };
            return;
        }
        let first = self.len - off;
        // SAFETY: both ranges lie inside the ring (off + first <= len, the
        // rest starts at 0 and is shorter than len); the ring never overlaps
        // caller memory.
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), self.base.add(off), first);
            core::ptr::copy_nonoverlapping(src.as_ptr().add(first), self.base, src.len() - first);
        }
    }

    /// Copies out `dst.len()` bytes from position `pos` (wrapping).
    #[inline]
    pub fn read_at(&self, pos: u64, dst: &mut [u8]) {
        debug_assert!(dst.len() <= self.len);
        let off = (pos % self.len as u64) as usize;
        if dst.len() <= self.len - off {
            // SAFETY: as in `write_at`.
            unsafe { core::ptr::copy_nonoverlapping(self.base.add(off), dst.as_mut_ptr(), dst.len()) };
            return;
        }
        let first = self.len - off;
        // SAFETY: as in `write_at`.
        unsafe {
            core::ptr::copy_nonoverlapping(self.base.add(off), dst.as_mut_ptr(), first);
            core::ptr::copy_nonoverlapping(self.base, dst.as_mut_ptr().add(first), dst.len() - first);
        }
    }
}
