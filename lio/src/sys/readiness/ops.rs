//! The readiness half of every operation: "try now, or tell me what to wait for".

use super::super::blocking::BlockingOp;
use super::super::inline::InlineWrite;
use super::super::PrepareContext;
use crate::buf::{IoBuf, IoBufMut};
use crate::op;
use crate::pal;
use crate::resource::FileKind;
use crate::table::Key;
use crate::Resource;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Which readiness an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interest {
    Read,
    Write,
}

/// One non-blocking attempt: its result (`WouldBlock` to wait), and whether it showed the
/// descriptor drained (a short transfer), so that the next operation waits for an edge
/// instead of trying a syscall that would find nothing.
///
/// A multishot operation's attempt also carries io_uring-style completion flags: `MORE`
/// while the stream goes on, and the pool buffer that holds the data.
pub struct Attempt {
    pub(crate) result: io::Result<u32>,
    pub(crate) drained: bool,
    pub(crate) flags: u32,
}

/// Calls `TryNow::try_now` on a type-erased operation.
pub type AttemptFn = unsafe fn(*mut ()) -> Attempt;

/// How the readiness engine runs an operation.
pub enum Plan {
    /// Finished at once (a no-op, an inline write, an argument error).
    Done(io::Result<u32>),
    /// Try the non-blocking syscall now and again whenever `fd` is ready for `interest`.
    Poll {
        fd: Resource,
        interest: Interest,
        attempt: AttemptFn,
        /// Try at once even if the descriptor is not known to be ready (a zero-length
        /// transfer never blocks, and must not wait for an edge).
        now: bool,
        /// A multishot operation: it stays queued, yielding a result per attempt, until an
        /// attempt comes without the `MORE` flag.
        stream: bool,
    },
    /// Run the job on the blocking pool.
    Blocking(super::super::blocking::Job),
    /// Complete after a duration.
    Timer(Duration),
    /// Cancel another operation.
    Cancel(Key),
}

/// Plans an operation for the readiness engine.
pub trait ReadinessOp {
    /// Decides how to run; called once, with the operation at its final table address.
    fn plan(&mut self, ctx: &PrepareContext) -> Plan;

    /// The descriptor whose file position the operation uses, if any: such operations run
    /// on the pool one at a time per descriptor, in submission order (see
    /// [`Job::order`](super::super::blocking::Job::order)).
    fn position_fd(&self) -> Option<RawFd> {
        None
    }
}

/// The non-blocking syscall of a pollable operation.
pub(crate) trait TryNow {
    fn try_now(&mut self) -> Attempt;
}

/// # Safety
///
/// `op` must point to a live `T` that nothing else references during the call.
unsafe fn attempt<T: TryNow>(op: *mut ()) -> Attempt {
    // SAFETY: the caller's contract.
    unsafe { (*op.cast::<T>()).try_now() }
}

pub(super) fn poll<T: TryNow>(fd: &Resource, interest: Interest) -> Plan {
    poll_len::<T>(fd, interest, usize::MAX)
}

/// The bytes an `iovec` array covers.
fn iov_len(iov: &[libc::iovec]) -> usize {
    iov.iter().map(|v| v.iov_len).sum()
}

/// [`poll`] for a transfer of `len` bytes: one of zero bytes is tried at once.
fn poll_len<T: TryNow>(fd: &Resource, interest: Interest, len: usize) -> Plan {
    Plan::Poll {
        fd: fd.clone(),
        interest,
        attempt: attempt::<T>,
        now: len == 0,
        stream: false,
    }
}

/// Polls a multishot operation on `fd` for `interest`.
pub(super) fn poll_stream<T: TryNow>(fd: &Resource, interest: Interest) -> Plan {
    Plan::Poll {
        fd: fd.clone(),
        interest,
        attempt: attempt::<T>,
        now: false,
        stream: true,
    }
}

pub(super) fn blocking<T: BlockingOp>(op: &mut T) -> Plan {
    match op.job() {
        Ok(job) => Plan::Blocking(job),
        Err(e) => Plan::Done(Err(e)),
    }
}

/// Whether a transfer of `n` of `wanted` bytes shows the descriptor drained. On a byte
/// stream a short transfer means it ran dry; end of file (0) does not: it stays readable,
/// and no further edge would come to say so. On a message socket a short transfer is just a
/// short message, and the next one may already be queued: never drained.
pub(super) fn short_transfer(fd: &Resource, n: usize, wanted: usize) -> bool {
    n > 0 && n < wanted && fd.kind() == FileKind::Stream
}

/// `preadv2`/`pwritev2` at the current position with `RWF_NOWAIT`: never blocks on a pipe
/// or socket even when the descriptor itself is blocking, and changes no descriptor flags.
/// Stream descriptors have no offset, so a requested offset is ignored, as io_uring does.
fn nowait(fd: &Resource, iov: &[libc::iovec], write: bool) -> Attempt {
    let wanted: usize = iov.iter().map(|v| v.iov_len).sum();
    let (raw, count) = (fd.raw(), iov.len() as i32);
    // SAFETY: the iovecs describe buffers owned by the operation, which stays in its table
    // slot, untouched by anything else, during the call.
    let result = pal::syscall(|| unsafe {
        if write {
            libc::pwritev2(raw, iov.as_ptr(), count, -1, libc::RWF_NOWAIT)
        } else {
            libc::preadv2(raw, iov.as_ptr(), count, -1, libc::RWF_NOWAIT)
        }
    });
    // `WouldBlock` is handled by the engine; any other error (a reset, a closed pipe) will
    // repeat at once for the next operation, so readiness stays set.
    let drained = matches!(result, Ok(n) if short_transfer(fd, n as usize, wanted));
    Attempt {
        result,
        drained,
        flags: 0,
    }
}

/// A read at `offset` from the page cache, on the driver thread: `preadv2(RWF_NOWAIT)`
/// copies what is cached and never waits for the disk, as io_uring's own first attempt does.
/// `Some` when it settled the read: all bytes, end of file, or an error the pool would get
/// too. `None` sends the read to the pool: nothing or only part was cached (the pool reads
/// the whole range again, so byte counts match a blocking read), or the file refuses
/// `RWF_NOWAIT` (then it is not asked again).
fn cached_read(fd: &Resource, iov: &[libc::iovec], offset: u64) -> Option<io::Result<u32>> {
    let wanted: usize = iov.iter().map(|v| v.iov_len).sum();
    let (raw, count) = (fd.raw(), iov.len() as i32);
    // SAFETY: the iovecs describe buffers owned by the operation, which stays in its table
    // slot, untouched by anything else, during the call.
    let result = pal::syscall(|| unsafe {
        libc::preadv2(raw, iov.as_ptr(), count, offset as i64, libc::RWF_NOWAIT)
    });
    match result {
        Ok(n) => (n as usize == wanted || n == 0).then_some(Ok(n)),
        Err(e) => match e.raw_os_error() {
            Some(libc::EAGAIN) => None,
            Some(libc::EOPNOTSUPP) => {
                fd.set_kind(FileKind::Other);
                None
            }
            _ => Some(Err(e)),
        },
    }
}

fn one(ptr: *mut u8, len: usize) -> [libc::iovec; 1] {
    [libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    }]
}

impl<B: IoBufMut> TryNow for op::Read<B> {
    fn try_now(&mut self) -> Attempt {
        let len = self.len() as usize;
        nowait(&self.fd, &one(self.buf.buf_mut_ptr(), len), false)
    }
}

impl<B: IoBufMut> ReadinessOp for op::Read<B> {
    fn position_fd(&self) -> Option<RawFd> {
        self.position_fd()
    }

    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        match (self.fd.kind(), self.offset) {
            (FileKind::Stream | FileKind::Datagram, _) => {
                poll_len::<Self>(&self.fd, Interest::Read, self.len() as usize)
            }
            (FileKind::BufferedFile, Some(offset)) => {
                let iov = one(self.buf.buf_mut_ptr(), self.len() as usize);
                match cached_read(&self.fd, &iov, offset) {
                    Some(result) => Plan::Done(result),
                    None => blocking(self),
                }
            }
            _ => blocking(self),
        }
    }
}

impl<B: IoBuf> TryNow for op::Write<B> {
    fn try_now(&mut self) -> Attempt {
        let len = self.len() as usize;
        nowait(&self.fd, &one(self.buf.buf_ptr().cast_mut(), len), true)
    }
}

impl<B: IoBuf> ReadinessOp for op::Write<B> {
    fn position_fd(&self) -> Option<RawFd> {
        self.position_fd()
    }

    fn plan(&mut self, ctx: &PrepareContext) -> Plan {
        // Ordering on the file position was settled before the plan (`Pool::orders`).
        if let Some(result) = self.try_inline(ctx, &|| true) {
            return Plan::Done(result);
        }
        match self.fd.kind() {
            FileKind::Stream | FileKind::Datagram => {
                poll_len::<Self>(&self.fd, Interest::Write, self.len() as usize)
            }
            _ => blocking(self),
        }
    }
}

impl<B: IoBufMut> TryNow for op::Readv<B> {
    fn try_now(&mut self) -> Attempt {
        nowait(&self.fd, &self.iovecs, false)
    }
}

impl<B: IoBufMut> ReadinessOp for op::Readv<B> {
    fn position_fd(&self) -> Option<RawFd> {
        self.position_fd()
    }

    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        let kind = self.fd.kind();
        if kind == FileKind::Other {
            return blocking(self);
        }
        self.iovecs = op::iovecs(
            self.bufs
                .iter_mut()
                .map(|b| (b.buf_mut_ptr(), b.buf_capacity())),
        );
        match (kind, self.offset) {
            (FileKind::Stream | FileKind::Datagram, _) => {
                poll_len::<Self>(&self.fd, Interest::Read, iov_len(&self.iovecs))
            }
            (_, Some(offset)) => match cached_read(&self.fd, &self.iovecs, offset) {
                Some(result) => Plan::Done(result),
                None => blocking(self),
            },
            _ => blocking(self),
        }
    }
}

impl<B: IoBuf> TryNow for op::Writev<B> {
    fn try_now(&mut self) -> Attempt {
        nowait(&self.fd, &self.iovecs, true)
    }
}

impl<B: IoBuf> ReadinessOp for op::Writev<B> {
    fn position_fd(&self) -> Option<RawFd> {
        self.position_fd()
    }

    fn plan(&mut self, ctx: &PrepareContext) -> Plan {
        // Ordering on the file position was settled before the plan (`Pool::orders`).
        if let Some(result) = self.try_inline(ctx, &|| true) {
            return Plan::Done(result);
        }
        match self.fd.kind() {
            FileKind::Stream | FileKind::Datagram => {
                self.iovecs = op::iovecs(
                    self.bufs
                        .iter()
                        .map(|b| (b.buf_ptr().cast_mut(), b.buf_len())),
                );
                poll_len::<Self>(&self.fd, Interest::Write, iov_len(&self.iovecs))
            }
            _ => blocking(self),
        }
    }
}

/// Operations with no readiness path at all: they run on the blocking pool.
macro_rules! on_pool {
    ($($op:ty),+) => {$(
        impl ReadinessOp for $op {
            fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
                blocking(self)
            }
        }
    )+};
}

on_pool!(
    op::Fsync,
    op::Fallocate,
    op::Ftruncate,
    op::OpenAt,
    op::Close,
    op::Statx,
    op::RenameAt,
    op::UnlinkAt,
    op::MkdirAt,
    op::SymlinkAt,
    op::LinkAt
);

impl ReadinessOp for op::Nop {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        Plan::Done(Ok(0))
    }
}

impl ReadinessOp for op::Sleep {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        Plan::Timer(self.duration)
    }
}

impl ReadinessOp for op::Cancel {
    fn plan(&mut self, _ctx: &PrepareContext) -> Plan {
        Plan::Cancel(self.target.key)
    }
}
