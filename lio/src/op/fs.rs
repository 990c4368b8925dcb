//! File data operations: read, write, vectored forms, sync, allocation, truncation.

use super::{checked_offset, iovec_count, DriverId, Op, MAX_RW};
use crate::buf::filled::{
    mark_filled, mark_filled_vectored, take_up_to, transferred, transferred_vectored,
};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::resource::FileKind;
use crate::Resource;
use std::io;
use std::os::fd::RawFd;

/// Reads into a buffer, at the file position (default) or at an [`offset`](Read::offset).
///
/// Fills up to the buffer's capacity from its start and sets its initialised length to the
/// number of bytes read. Output: `BufResult<usize, B>`.
pub struct Read<B> {
    pub(crate) fd: Resource,
    pub(crate) buf: B,
    pub(crate) offset: Option<u64>,
}

impl<B: IoBufMut> Read<B> {
    /// The descriptor whose file position this operation uses, if it uses one.
    #[inline]
    pub(crate) fn position_fd(&self) -> Option<RawFd> {
        position_fd(&self.fd, self.offset)
    }

    /// Reads from `fd` at its current position (advancing it).
    pub fn new(fd: &Resource, buf: B) -> Self {
        Read {
            fd: fd.clone(),
            buf,
            offset: None,
        }
    }

    /// Reads at `offset` instead, leaving the file position alone (`pread`).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    pub(crate) fn len(&self) -> u32 {
        self.buf.buf_capacity().min(MAX_RW) as u32
    }
}

impl<B: IoBufMut> Op for Read<B> {
    type Output = BufResult<usize, B>;

    fn validate(&self, _driver: DriverId) -> io::Result<()> {
        checked_offset(self.offset).map(drop)
    }

    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        let offered = self.len() as usize;
        // SAFETY: the kernel was handed the first `len() <= capacity` bytes of the buffer
        // and wrote the count it reported, from the start.
        let result = result.map(|n| unsafe { mark_filled(&mut self.buf, n, offered) });
        (result, self.buf)
    }
}

/// Writes a buffer's initialised bytes, at the file position (default) or at an
/// [`offset`](Write::offset). Output: `BufResult<usize, B>`.
pub struct Write<B> {
    pub(crate) fd: Resource,
    pub(crate) buf: B,
    pub(crate) offset: Option<u64>,
}

impl<B: IoBuf> Write<B> {
    /// The descriptor whose file position this operation uses, if it uses one.
    #[inline]
    pub(crate) fn position_fd(&self) -> Option<RawFd> {
        position_fd(&self.fd, self.offset)
    }

    /// Writes to `fd` at its current position (advancing it; appending on `O_APPEND`).
    pub fn new(fd: &Resource, buf: B) -> Self {
        Write {
            fd: fd.clone(),
            buf,
            offset: None,
        }
    }

    /// Writes at `offset` instead, leaving the file position alone (`pwrite`).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    pub(crate) fn len(&self) -> u32 {
        self.buf.buf_len().min(MAX_RW) as u32
    }
}

impl<B: IoBuf> Op for Write<B> {
    type Output = BufResult<usize, B>;

    fn validate(&self, _driver: DriverId) -> io::Result<()> {
        checked_offset(self.offset).map(drop)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        let offered = self.len() as usize;
        (result.map(|n| transferred(n, offered)), self.buf)
    }
}

/// Reads into several buffers in order (`preadv`). Output: `BufResult<usize, Vec<B>>`.
pub struct Readv<B> {
    pub(crate) fd: Resource,
    pub(crate) bufs: Vec<B>,
    pub(crate) iovecs: Vec<libc::iovec>,
    pub(crate) offset: Option<u64>,
}

impl<B: IoBufMut> Readv<B> {
    /// The descriptor whose file position this operation uses, if it uses one.
    #[inline]
    pub(crate) fn position_fd(&self) -> Option<RawFd> {
        position_fd(&self.fd, self.offset)
    }

    /// Reads from `fd` at its current position into `bufs`, each filled up to its capacity.
    pub fn new(fd: &Resource, bufs: Vec<B>) -> Self {
        Readv {
            fd: fd.clone(),
            bufs,
            iovecs: Vec::new(),
            offset: None,
        }
    }

    /// Reads at `offset` instead of the file position.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}

impl<B: IoBufMut> Op for Readv<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn validate(&self, _driver: DriverId) -> io::Result<()> {
        checked_offset(self.offset)?;
        iovec_count(self.bufs.len()).map(drop)
    }

    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        // SAFETY: every backend hands the kernel `iovecs` of these buffers' capacities,
        // capped at MAX_RW in all, and the kernel fills them in order.
        let result = result.map(|n| unsafe { mark_filled_vectored(&mut self.bufs, n, MAX_RW) });
        (result, self.bufs)
    }
}

/// Writes the initialised bytes of several buffers in order (`pwritev`).
/// Output: `BufResult<usize, Vec<B>>`.
pub struct Writev<B> {
    pub(crate) fd: Resource,
    pub(crate) bufs: Vec<B>,
    pub(crate) iovecs: Vec<libc::iovec>,
    pub(crate) offset: Option<u64>,
}

impl<B: IoBuf> Writev<B> {
    /// The descriptor whose file position this operation uses, if it uses one.
    #[inline]
    pub(crate) fn position_fd(&self) -> Option<RawFd> {
        position_fd(&self.fd, self.offset)
    }

    /// Writes `bufs` to `fd` at its current position.
    pub fn new(fd: &Resource, bufs: Vec<B>) -> Self {
        Writev {
            fd: fd.clone(),
            bufs,
            iovecs: Vec::new(),
            offset: None,
        }
    }

    /// Writes at `offset` instead of the file position.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}

impl<B: IoBuf> Op for Writev<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn validate(&self, _driver: DriverId) -> io::Result<()> {
        checked_offset(self.offset)?;
        iovec_count(self.bufs.len()).map(drop)
    }

    fn complete(self, result: io::Result<u32>) -> Self::Output {
        let transferred = |n| transferred_vectored(&self.bufs, n, MAX_RW);
        (result.map(transferred), self.bufs)
    }
}

/// The descriptor whose file position a read or write without an offset uses: a file or
/// anything else that seeks, not a pipe, socket or terminal, which have no position. Such
/// operations on one descriptor must run in submission order on every backend, since each
/// moves the position the next starts from; on a descriptor without a position, reads and
/// writes stay independent (a read waiting for a terminal must not hold up writes).
#[inline]
pub(crate) fn position_fd(fd: &Resource, offset: Option<u64>) -> Option<RawFd> {
    if offset.is_some() {
        return None;
    }
    let positional = match fd.kind() {
        FileKind::BufferedFile => true,
        FileKind::Stream | FileKind::Datagram => false,
        FileKind::Other => seeks(fd),
    };
    positional.then(|| fd.raw())
}

/// Whether `fd` has a file position (`lseek` works: files, block devices, not terminals).
#[cold]
fn seeks(fd: &Resource) -> bool {
    rustix::fs::seek(fd, rustix::fs::SeekFrom::Current(0)).is_ok()
}

/// Builds the `iovec` array for a vectored operation, capped at [`MAX_RW`] bytes in all.
pub(crate) fn iovecs(parts: impl Iterator<Item = (*mut u8, usize)>) -> Vec<libc::iovec> {
    let mut left = MAX_RW;
    parts
        .map(|(base, len)| libc::iovec {
            iov_base: base.cast(),
            iov_len: take_up_to(&mut left, len),
        })
        .collect()
}

/// Flushes a file's data and metadata (`fsync`), or only its data with
/// [`data_only`](Fsync::data_only) (`fdatasync`). Output: `io::Result<()>`.
pub struct Fsync {
    pub(crate) fd: Resource,
    pub(crate) data_only: bool,
}

impl Fsync {
    /// Flushes `fd` (`fsync`).
    pub fn new(fd: &Resource) -> Self {
        Fsync {
            fd: fd.clone(),
            data_only: false,
        }
    }

    /// Flushes only the data and the metadata needed to read it (`fdatasync`).
    pub fn data_only(mut self) -> Self {
        self.data_only = true;
        self
    }
}

impl Op for Fsync {
    type Output = io::Result<()>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Allocates or manipulates file space (`fallocate`). Output: `io::Result<()>`.
pub struct Fallocate {
    pub(crate) fd: Resource,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) mode: i32,
}

impl Fallocate {
    /// Allocates `len` bytes at `offset`, extending the file if needed (mode 0).
    pub fn new(fd: &Resource, offset: u64, len: u64) -> Self {
        Fallocate {
            fd: fd.clone(),
            offset,
            len,
            mode: 0,
        }
    }

    /// Sets the `fallocate` mode flags (`FALLOC_FL_KEEP_SIZE`, `FALLOC_FL_PUNCH_HOLE`, ...).
    pub fn mode(mut self, mode: i32) -> Self {
        self.mode = mode;
        self
    }
}

impl Op for Fallocate {
    type Output = io::Result<()>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// Truncates or extends a file to a length (`ftruncate`). Output: `io::Result<()>`.
pub struct Ftruncate {
    pub(crate) fd: Resource,
    pub(crate) len: u64,
}

impl Ftruncate {
    /// Sets the length of `fd` to `len`.
    pub fn new(fd: &Resource, len: u64) -> Self {
        Ftruncate {
            fd: fd.clone(),
            len,
        }
    }
}

impl Op for Ftruncate {
    type Output = io::Result<()>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}
