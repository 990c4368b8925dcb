//! Buffered writes done inline on the driver thread.
//!
//! A small write to a regular file that is not opened with `O_DIRECT` is a copy into the page
//! cache: a few microseconds. io_uring cannot do it inline on filesystems without async
//! buffered-write support (ext4 among them: `RWF_NOWAIT` writes fail with `EOPNOTSUPP`), so it
//! hands every such write to a kernel worker thread, which costs a wake-up and a context
//! switch per write. lio does these writes itself, with `pwrite`/`pwritev`, and completes them
//! through the normal completion path on the next `run`. Writes above
//! [`Builder::inline_write_max`](crate::Builder::inline_write_max) bytes, or to anything else
//! (pipes, sockets, `O_DIRECT` files), go to the OS queue as usual.

use super::PrepareContext;
use crate::buf::IoBuf;
use crate::op;
use crate::resource::FileKind;
use crate::Resource;
use std::io::{self, IoSlice};

/// Operations that may be done inline as a buffered write, whatever the backend.
pub(crate) trait InlineWrite {
    /// Does the write now and returns its result, if it qualifies and `may_overtake()`
    /// allows it (asked only then: no earlier operation on the file position is pending).
    fn try_inline(
        &mut self,
        ctx: &PrepareContext,
        may_overtake: &dyn Fn() -> bool,
    ) -> Option<io::Result<u32>>;
}

impl<B: IoBuf> InlineWrite for op::Write<B> {
    fn try_inline(
        &mut self,
        ctx: &PrepareContext,
        may_overtake: &dyn Fn() -> bool,
    ) -> Option<io::Result<u32>> {
        if !wants_inline(&self.fd, self.buf.buf_len(), ctx.inline_write_max) || !may_overtake() {
            return None;
        }
        let bytes = bytes(&self.buf, op::MAX_RW);
        Some(write(&self.fd, &[IoSlice::new(bytes)], self.offset))
    }
}

impl<B: IoBuf> InlineWrite for op::Writev<B> {
    fn try_inline(
        &mut self,
        ctx: &PrepareContext,
        may_overtake: &dyn Fn() -> bool,
    ) -> Option<io::Result<u32>> {
        let total = self
            .bufs
            .iter()
            .map(IoBuf::buf_len)
            .fold(0usize, usize::saturating_add);
        if !wants_inline(&self.fd, total, ctx.inline_write_max) || !may_overtake() {
            return None;
        }
        let slices: Vec<IoSlice<'_>> = self
            .bufs
            .iter()
            .map(|b| IoSlice::new(bytes(b, op::MAX_RW)))
            .collect();
        Some(write(&self.fd, &slices, self.offset))
    }
}

/// Whether a write of `len` bytes to `fd` should be done inline.
fn wants_inline(fd: &Resource, len: usize, max: usize) -> bool {
    len <= max && max > 0 && fd.kind() == FileKind::BufferedFile
}

/// Writes `bufs` to `fd` at `offset` (or the file position), retrying `EINTR`.
fn write(fd: &Resource, bufs: &[IoSlice<'_>], offset: Option<u64>) -> io::Result<u32> {
    crate::pal::retry_eintr(|| {
        let written = match (bufs, offset) {
            ([one], None) => rustix::io::write(fd, one),
            ([one], Some(off)) => rustix::io::pwrite(fd, one, off),
            (many, None) => rustix::io::writev(fd, many),
            (many, Some(off)) => rustix::io::pwritev(fd, many, off),
        };
        written.map(|n| n as u32).map_err(io::Error::from)
    })
}

/// The initialised bytes of `buf`, capped at `max`.
fn bytes<B: IoBuf>(buf: &B, max: usize) -> &[u8] {
    let len = buf.buf_len().min(max);
    if len == 0 {
        return &[];
    }
    // SAFETY: `IoBuf` guarantees `buf_len` initialised bytes at `buf_ptr`, valid while `buf`
    // is borrowed.
    unsafe { std::slice::from_raw_parts(buf.buf_ptr(), len) }
}
