//! [`IoBuf`] and [`IoBufMut`] for standard (and, behind the `bytes` feature, `bytes`) types.

use super::{IoBuf, IoBufMut};

// SAFETY: a Vec's heap pointer does not change when the Vec is moved; `len` bytes are
// initialised.
unsafe impl IoBuf for Vec<u8> {
    fn buf_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn buf_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: the whole capacity is writable through the heap pointer; `set_len(n)` with
// `n <= capacity` after the kernel initialised `n` bytes is sound.
unsafe impl IoBufMut for Vec<u8> {
    fn buf_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn buf_capacity(&self) -> usize {
        self.capacity()
    }
    unsafe fn set_buf_init(&mut self, len: usize) {
        // SAFETY: the caller guarantees the first `len <= capacity` bytes are initialised.
        unsafe { self.set_len(len) }
    }
}

// SAFETY: a boxed slice's heap pointer is stable across moves and all of it is initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn buf_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn buf_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: every byte of a boxed slice is writable and stays initialised.
unsafe impl IoBufMut for Box<[u8]> {
    fn buf_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn buf_capacity(&self) -> usize {
        self.len()
    }
    unsafe fn set_buf_init(&mut self, _len: usize) {}
}

// SAFETY: `'static` data never moves and is never freed.
unsafe impl IoBuf for &'static [u8] {
    fn buf_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn buf_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: `'static` data never moves and is never freed.
unsafe impl IoBuf for &'static str {
    fn buf_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn buf_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: a String's heap pointer is stable across moves; `len` bytes are initialised. No
// `IoBufMut`: the kernel could write bytes that are not UTF-8.
unsafe impl IoBuf for String {
    fn buf_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn buf_len(&self) -> usize {
        self.len()
    }
}

#[cfg(feature = "bytes")]
// SAFETY: `Bytes` is an immutable, reference-counted view; its pointer is stable across moves.
unsafe impl IoBuf for bytes::Bytes {
    fn buf_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn buf_len(&self) -> usize {
        self.len()
    }
}

#[cfg(feature = "bytes")]
// SAFETY: `BytesMut` owns its storage uniquely; its pointer is stable across moves.
unsafe impl IoBuf for bytes::BytesMut {
    fn buf_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn buf_len(&self) -> usize {
        self.len()
    }
}

#[cfg(feature = "bytes")]
// SAFETY: the whole capacity of a `BytesMut` is writable; `set_len` after the kernel
// initialised the bytes is sound.
unsafe impl IoBufMut for bytes::BytesMut {
    fn buf_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn buf_capacity(&self) -> usize {
        self.capacity()
    }
    unsafe fn set_buf_init(&mut self, len: usize) {
        // SAFETY: the caller guarantees the first `len <= capacity` bytes are initialised.
        unsafe { self.set_len(len) }
    }
}
