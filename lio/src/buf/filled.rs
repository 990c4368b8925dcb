//! The one place where a buffer's initialised length is set from what the OS reported.
//!
//! A kernel count is not always the number of bytes it stored: with `MSG_TRUNC`, `recv`
//! returns a datagram's full length even when the buffer was shorter. Every operation that
//! fills buffers therefore goes through [`mark_filled`], which clamps the count to what was
//! handed to the kernel before it touches the buffer's length.

use super::{IoBuf, IoBufMut};

/// Marks the first `min(reported, offered)` bytes of `buf` initialised and returns that
/// length. `offered` is how many bytes, from the start of the buffer, the kernel was
/// allowed to write.
///
/// # Safety
///
/// The kernel must have written the first `min(reported, offered)` bytes of `buf`, and
/// `offered` must not exceed `buf.buf_capacity()`.
#[inline]
pub(crate) unsafe fn mark_filled<B: IoBufMut>(buf: &mut B, reported: u32, offered: usize) -> usize {
    debug_assert!(
        offered <= buf.buf_capacity(),
        "lio: {offered} bytes offered to the kernel exceed the buffer's capacity {}",
        buf.buf_capacity()
    );
    let filled = (reported as usize).min(offered);
    // SAFETY: `filled <= offered <= capacity`, and the kernel wrote those bytes (caller's
    // contract).
    unsafe { buf.set_buf_init(filled) };
    filled
}

/// Spreads `reported` bytes over `bufs` in order and marks them initialised. The kernel got
/// one `iovec` per buffer of its capacity, until `budget` bytes in all (as
/// `op::iovecs` builds them); each buffer takes at most its `iovec`'s
/// length. Returns the bytes stored in all.
///
/// # Safety
///
/// The kernel must have been handed exactly those `iovec`s and filled them in order.
pub(crate) unsafe fn mark_filled_vectored<B: IoBufMut>(
    bufs: &mut [B],
    reported: u32,
    mut budget: usize,
) -> usize {
    let mut left = reported;
    let mut stored = 0;
    for buf in bufs {
        let offered = take_up_to(&mut budget, buf.buf_capacity());
        // SAFETY: forwarded: the kernel filled this buffer's iovec before the next one.
        let filled = unsafe { mark_filled(buf, left, offered) };
        left -= filled as u32;
        stored += filled;
    }
    stored
}

/// [`transferred`] for a vectored write or send of `bufs`: the kernel got one `iovec` per
/// buffer of its initialised bytes, until `budget` bytes in all.
#[inline]
pub(crate) fn transferred_vectored<B: IoBuf>(
    bufs: &[B],
    reported: u32,
    mut budget: usize,
) -> usize {
    let offered = bufs
        .iter()
        .map(|b| take_up_to(&mut budget, b.buf_len()))
        .sum();
    transferred(reported, offered)
}

/// A count the OS reported for a transfer of `offered` bytes, never more than that (a send
/// or write cannot take more than it was given).
#[inline]
pub(crate) fn transferred(reported: u32, offered: usize) -> usize {
    debug_assert!(
        reported as usize <= offered,
        "lio: the OS reported {reported} bytes of a {offered}-byte transfer"
    );
    (reported as usize).min(offered)
}

/// Takes `len` bytes, or what is `left` if less, from the budget `left` (the bytes one
/// vectored call may still move).
#[inline]
pub(crate) fn take_up_to(left: &mut usize, len: usize) -> usize {
    let len = len.min(*left);
    *left -= len;
    len
}
