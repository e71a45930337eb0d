//! `SmallVec`: a list that keeps up to `N` items on the stack and moves to
//! the heap only beyond that. The data path uses it where the kernel uses a
//! fixed array with a fallback (`iovstack[UIO_FASTIOV]` in
//! `import_iovec`), so a send or receive with a few buffers allocates
//! nothing.
//!
//! Items need a `Default` to fill the unused slots (an empty slice for the
//! buffer lists), which keeps this free of uninitialised memory.

use core::ops::{Deref, DerefMut};

/// `UIO_FASTIOV`: the buffers an iovec import keeps on the stack.
pub const UIO_FASTIOV: usize = 8;

/// The buffers of a send (`msg_iter` over the caller's memory).
pub type IovVec<'a> = SmallVec<&'a [u8], UIO_FASTIOV>;
/// The buffers of a receive.
pub type IovVecMut<'a> = SmallVec<&'a mut [u8], UIO_FASTIOV>;

pub enum SmallVec<T, const N: usize> {
    Inline { len: usize, items: [T; N] },
    Heap(Vec<T>),
}

impl<T: Default, const N: usize> SmallVec<T, N> {
    pub fn new() -> Self {
        SmallVec::Inline { len: 0, items: core::array::from_fn(|_| T::default()) }
    }

    /// A list of one item (`import_ubuf`).
    pub fn one(v: T) -> Self {
        let mut s = Self::new();
        s.push(v);
        s
    }

    pub fn with_capacity(n: usize) -> Self {
        if n <= N {
            Self::new()
        } else {
            SmallVec::Heap(Vec::with_capacity(n))
        }
    }

    pub fn push(&mut self, v: T) {
        match self {
            SmallVec::Inline { len, items } if *len < N => {
                items[*len] = v;
                *len += 1;
            }
            SmallVec::Inline { len, items } => {
                let mut heap = Vec::with_capacity(N * 2);
                heap.extend(items[..*len].iter_mut().map(core::mem::take));
                heap.push(v);
                *self = SmallVec::Heap(heap);
            }
            SmallVec::Heap(h) => h.push(v),
        }
    }

    /// Empties the list, handing out its items in order.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        let taken = core::mem::replace(self, Self::new());
        let (inline, heap) = match taken {
            SmallVec::Inline { len, items } => (Some(items.into_iter().take(len)), None),
            SmallVec::Heap(h) => (None, Some(h.into_iter())),
        };
        inline.into_iter().flatten().chain(heap.into_iter().flatten())
    }
}

impl<T: Default, const N: usize> Default for SmallVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> Deref for SmallVec<T, N> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        match self {
            SmallVec::Inline { len, items } => &items[..*len],
            SmallVec::Heap(h) => h,
        }
    }
}

impl<T, const N: usize> DerefMut for SmallVec<T, N> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            SmallVec::Inline { len, items } => &mut items[..*len],
            SmallVec::Heap(h) => h,
        }
    }
}

impl<T: Clone + Default, const N: usize> Clone for SmallVec<T, N> {
    fn clone(&self) -> Self {
        self.iter().cloned().collect()
    }
}

impl<T: Default, const N: usize> FromIterator<T> for SmallVec<T, N> {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> Self {
        let it = it.into_iter();
        let mut s = Self::with_capacity(it.size_hint().0);
        for v in it {
            s.push(v);
        }
        s
    }
}

impl<T: Default, const N: usize> From<Vec<T>> for SmallVec<T, N> {
    fn from(v: Vec<T>) -> Self {
        if v.len() <= N {
            v.into_iter().collect()
        } else {
            SmallVec::Heap(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_inline_then_spills_in_order() {
        let mut s: SmallVec<u32, 3> = SmallVec::new();
        for i in 0..3 {
            s.push(i);
        }
        assert!(matches!(s, SmallVec::Inline { len: 3, .. }));
        s.push(3);
        s.push(4);
        assert!(matches!(s, SmallVec::Heap(_)));
        assert_eq!(&s[..], &[0, 1, 2, 3, 4]);
        s[1] = 9;
        assert_eq!(s.drain().collect::<Vec<_>>(), vec![0, 9, 2, 3, 4]);
        assert!(s.is_empty());
    }

    #[test]
    fn collect_clone_and_from_vec() {
        let s: SmallVec<u8, 2> = (1..=2).collect();
        assert!(matches!(s, SmallVec::Inline { len: 2, .. }));
        let t = s.clone();
        assert_eq!(&t[..], &[1, 2]);
        let big: SmallVec<u8, 2> = vec![1, 2, 3].into();
        assert_eq!(&big[..], &[1, 2, 3]);
        let mut small: SmallVec<u8, 2> = vec![7].into();
        assert_eq!(small.drain().collect::<Vec<_>>(), vec![7]);
    }
}
