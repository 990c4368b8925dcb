//! Completion flags: what a backend reports beside an operation's result, in lio's own
//! terms. A multishot operation's results carry `MORE` while the stream goes on and `BUFFER`
//! with the id of the pool buffer that holds the data; a zero-copy send's notification comes
//! as `NOTIF`.
//!
//! The values are chosen equal to io_uring's `IORING_CQE_F_*` (a unit test of the io_uring
//! engine checks it), so that its completion flags pass through untranslated; the other
//! engines build them.

/// A provided buffer holds the data; its id is in the upper 16 bits.
pub(crate) const BUFFER: u32 = 1 << 0;
/// More results follow from the same submission.
pub(crate) const MORE: u32 = 1 << 1;
/// The kernel's zero-copy "buffer released" notification.
pub(crate) const NOTIF: u32 = 1 << 3;
/// The kernel keeps consuming the same provided buffer (incremental buffer rings).
pub(crate) const BUF_MORE: u32 = 1 << 4;
/// Where the buffer id starts.
pub(crate) const BUFFER_SHIFT: u32 = 16;

/// The provided buffer named by `flags`, if any.
pub(crate) fn buffer(flags: u32) -> Option<u16> {
    (flags & BUFFER != 0).then_some((flags >> BUFFER_SHIFT) as u16)
}
