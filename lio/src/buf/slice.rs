//! [`Slice`]: an owned sub-range of a buffer.

use super::{IoBuf, IoBufMut};
use std::ops::{Bound, RangeBounds};

/// An owned sub-range `[begin, end)` of a buffer, made by [`IoBuf::slice`] or
/// [`IoBufMut::slice_mut`].
///
/// As an [`IoBuf`] it exposes the initialised bytes of the range; as an [`IoBufMut`] a read
/// fills the range from `begin` and extends (never shrinks) the inner buffer's initialised
/// length. Get the buffer back with [`Slice::into_inner`].
///
/// ```
/// use lio::buf::IoBuf;
/// let s = vec![1u8, 2, 3, 4].slice(1..3);
/// assert_eq!(s.as_bytes(), &[2, 3]);
/// assert_eq!(s.into_inner(), vec![1, 2, 3, 4]);
/// ```
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B: IoBuf> Slice<B> {
    /// Resolves `range` and checks `begin <= max_begin` and `end <= max_end`.
    pub(super) fn checked(
        buf: B,
        range: impl RangeBounds<usize>,
        max_begin: usize,
        max_end: usize,
    ) -> Self {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.saturating_add(1),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => max_end,
        };
        assert!(
            begin <= end,
            "slice range starts at {begin} but ends at {end}"
        );
        assert!(
            begin <= max_begin,
            "slice start {begin} is past the initialised length {max_begin}"
        );
        assert!(
            end <= max_end,
            "slice end {end} is past the buffer's limit {max_end}"
        );
        Slice { buf, begin, end }
    }

    /// Start of the range in the inner buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// End (exclusive) of the range in the inner buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The initialised bytes of the range.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `buf_ptr()` of the slice points `begin` bytes into the inner buffer and
        // `buf_len()` counts only initialised bytes of the range.
        unsafe { std::slice::from_raw_parts(IoBuf::buf_ptr(self), IoBuf::buf_len(self)) }
    }

    /// Gives the whole inner buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

// SAFETY: the range lies within the inner buffer, whose pointer is stable; the exposed length
// is clamped to the inner buffer's initialised bytes.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn buf_ptr(&self) -> *const u8 {
        // `wrapping_add`: `begin` is within the allocation (checked at construction), and a
        // zero-capacity buffer may have a dangling pointer that must not be offset with `add`.
        self.buf.buf_ptr().wrapping_add(self.begin)
    }
    fn buf_len(&self) -> usize {
        self.buf.buf_len().clamp(self.begin, self.end) - self.begin
    }
}

// SAFETY: the writable region `[begin, end)` lies inside the inner buffer's capacity (checked
// at construction against `buf_capacity`), and `begin <= buf_len` so initialising the region
// from `begin` leaves no gap.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn buf_mut_ptr(&mut self) -> *mut u8 {
        self.buf.buf_mut_ptr().wrapping_add(self.begin)
    }
    fn buf_capacity(&self) -> usize {
        self.end - self.begin
    }
    unsafe fn set_buf_init(&mut self, len: usize) {
        let init = self.begin + len;
        if init > self.buf.buf_len() {
            // SAFETY: [0, begin) was initialised (begin <= buf_len at construction) and the
            // caller guarantees [begin, begin + len) was initialised by the kernel.
            unsafe { self.buf.set_buf_init(init) }
        }
    }
}
