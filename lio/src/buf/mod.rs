//! Owned buffers that can be handed to the kernel.
//!
//! An operation takes its buffer by value, keeps it (in the driver's in-flight table) for as
//! long as the OS may touch it, and hands it back with the result as a [`BufResult`], on
//! error too. This is what makes submission safe: no safe API can make the kernel read or
//! write memory that the caller still uses or has freed.
//!
//! Writes send the *initialised* bytes ([`IoBuf::buf_len`]), never the spare capacity.
//! Reads fill up to [`IoBufMut::buf_capacity`] from the start of the buffer and then set the
//! initialised length to the number of bytes read.

pub(crate) mod filled;
mod impls;
mod pool;
mod slice;

pub use pool::{BufPool, PooledBuf, MAX_BUFFERS};
pub use slice::Slice;

use std::io;

/// The result of an operation together with the buffer it used.
///
/// The buffer comes back whether the operation succeeded or failed.
pub type BufResult<T, B> = (io::Result<T>, B);

/// A buffer the kernel may read from.
///
/// # Safety
///
/// Implementors guarantee that:
/// - `buf_ptr()` points to at least `buf_len()` initialised bytes;
/// - the pointer stays valid and the bytes stay unchanged while the value is moved (the
///   memory is on the heap or `'static`), until the value is dropped or mutated through
///   `&mut self`.
pub unsafe trait IoBuf: 'static {
    /// Pointer to the first byte.
    fn buf_ptr(&self) -> *const u8;

    /// Number of initialised bytes: what a write sends.
    fn buf_len(&self) -> usize;

    /// Takes the sub-range `range` of the initialised bytes as an owned [`Slice`], e.g. to
    /// write only part of a buffer.
    ///
    /// # Panics
    ///
    /// Panics if the range is reversed or ends past [`buf_len`](IoBuf::buf_len).
    ///
    /// ```
    /// use lio::buf::IoBuf;
    /// let slice = b"hello world".to_vec().slice(6..);
    /// assert_eq!(slice.as_bytes(), b"world");
    /// ```
    fn slice(self, range: impl std::ops::RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let limit = self.buf_len();
        Slice::checked(self, range, limit, limit)
    }
}

/// A buffer the kernel may write into.
///
/// # Safety
///
/// Implementors guarantee, in addition to [`IoBuf`]'s rules, that:
/// - `buf_mut_ptr()` is valid for writes of `buf_capacity()` bytes and stays valid when the
///   value is moved;
/// - `set_buf_init(n)` with `n <= buf_capacity()` makes the first `n` bytes the initialised
///   contents (`buf_len()` returns `n` afterwards for growable buffers).
pub unsafe trait IoBufMut: IoBuf {
    /// Pointer to the first byte, for writing.
    fn buf_mut_ptr(&mut self) -> *mut u8;

    /// Number of bytes that may be written: what a read fills at most.
    fn buf_capacity(&self) -> usize;

    /// Marks the first `len` bytes as initialised after the kernel wrote them.
    ///
    /// # Safety
    ///
    /// The first `len` bytes, `len <= buf_capacity()`, must have been initialised.
    unsafe fn set_buf_init(&mut self, len: usize);

    /// Takes the sub-range `range` of the capacity as an owned [`Slice`], e.g. to read into
    /// the spare capacity after the bytes already there.
    ///
    /// # Panics
    ///
    /// Panics if the range is reversed, starts past [`buf_len`](IoBuf::buf_len) (the bytes
    /// in between would stay uninitialised), or ends past
    /// [`buf_capacity`](IoBufMut::buf_capacity).
    ///
    /// ```
    /// use lio::buf::{IoBuf, IoBufMut};
    /// let mut buf = Vec::with_capacity(16);
    /// buf.extend_from_slice(b"ab");
    /// let spare = buf.slice_mut(2..);
    /// assert_eq!(spare.buf_capacity(), 14);
    /// ```
    fn slice_mut(self, range: impl std::ops::RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let (len, cap) = (self.buf_len(), self.buf_capacity());
        Slice::checked(self, range, len, cap)
    }
}
