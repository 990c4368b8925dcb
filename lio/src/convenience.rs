//! Shorthand methods on [`Lio`], one per common operation. Each builds the operation with
//! its defaults and binds it to the driver; use [`Lio::submit`] with an operation's setters
//! for the rest (`O_DIRECT`, `*at` directories, `fallocate` modes, ...).

use crate::buf::{IoBuf, IoBufMut};
use crate::op::{
    Close, Fallocate, Fsync, Ftruncate, LinkAt, MkdirAt, Nop, OpenAt, OpenOptions, Read, Readv,
    RenameAt, Sleep, Statx, SymlinkAt, UnlinkAt, Write, Writev,
};
use crate::{Io, Lio, Resource};
use std::path::Path;
use std::time::Duration;

impl Lio {
    /// A no-op through the whole submission and completion path ([`Nop`]).
    pub fn nop(&self) -> Io<Nop> {
        self.submit(Nop::new())
    }

    /// Reads into `buf` at `fd`'s current position, advancing it ([`Read`]).
    pub fn read<B: IoBufMut>(&self, fd: &Resource, buf: B) -> Io<Read<B>> {
        self.submit(Read::new(fd, buf))
    }

    /// Reads into `buf` at `offset` (`pread`, [`Read::offset`]).
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let lio = lio::Lio::new()?;
    /// let file = lio::Resource::from(std::fs::File::open("/proc/self/stat")?);
    /// let (n, buf) = lio.read_at(&file, Vec::with_capacity(64), 0).wait();
    /// assert_eq!(n?, buf.len());
    /// # Ok(()) }
    /// ```
    pub fn read_at<B: IoBufMut>(&self, fd: &Resource, buf: B, offset: u64) -> Io<Read<B>> {
        self.submit(Read::new(fd, buf).offset(offset))
    }

    /// Writes `buf`'s initialised bytes at `fd`'s current position ([`Write`]).
    pub fn write<B: IoBuf>(&self, fd: &Resource, buf: B) -> Io<Write<B>> {
        self.submit(Write::new(fd, buf))
    }

    /// Writes `buf`'s initialised bytes at `offset` (`pwrite`, [`Write::offset`]).
    pub fn write_at<B: IoBuf>(&self, fd: &Resource, buf: B, offset: u64) -> Io<Write<B>> {
        self.submit(Write::new(fd, buf).offset(offset))
    }

    /// Reads into several buffers at the current position ([`Readv`]).
    pub fn readv<B: IoBufMut>(&self, fd: &Resource, bufs: Vec<B>) -> Io<Readv<B>> {
        self.submit(Readv::new(fd, bufs))
    }

    /// Reads into several buffers at `offset` (`preadv`).
    pub fn readv_at<B: IoBufMut>(&self, fd: &Resource, bufs: Vec<B>, offset: u64) -> Io<Readv<B>> {
        self.submit(Readv::new(fd, bufs).offset(offset))
    }

    /// Writes several buffers at the current position ([`Writev`]).
    pub fn writev<B: IoBuf>(&self, fd: &Resource, bufs: Vec<B>) -> Io<Writev<B>> {
        self.submit(Writev::new(fd, bufs))
    }

    /// Writes several buffers at `offset` (`pwritev`).
    pub fn writev_at<B: IoBuf>(&self, fd: &Resource, bufs: Vec<B>, offset: u64) -> Io<Writev<B>> {
        self.submit(Writev::new(fd, bufs).offset(offset))
    }

    /// Flushes data and metadata (`fsync`, [`Fsync`]).
    pub fn fsync(&self, fd: &Resource) -> Io<Fsync> {
        self.submit(Fsync::new(fd))
    }

    /// Flushes data (`fdatasync`, [`Fsync::data_only`]).
    pub fn fdatasync(&self, fd: &Resource) -> Io<Fsync> {
        self.submit(Fsync::new(fd).data_only())
    }

    /// Allocates `len` bytes at `offset` (`fallocate` mode 0, [`Fallocate`]).
    pub fn fallocate(&self, fd: &Resource, offset: u64, len: u64) -> Io<Fallocate> {
        self.submit(Fallocate::new(fd, offset, len))
    }

    /// Sets the file's length (`ftruncate`, [`Ftruncate`]).
    pub fn ftruncate(&self, fd: &Resource, len: u64) -> Io<Ftruncate> {
        self.submit(Ftruncate::new(fd, len))
    }

    /// Opens `path` with `options` (`openat(AT_FDCWD, ...)`, [`OpenAt`]).
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use lio::op::OpenOptions;
    /// let lio = lio::Lio::new()?;
    /// let file = lio.open("/dev/null", &OpenOptions::new().read(true)).wait()?;
    /// lio.close(file).wait()?;
    /// # Ok(()) }
    /// ```
    pub fn open(&self, path: impl AsRef<Path>, options: &OpenOptions) -> Io<OpenAt> {
        self.submit(OpenAt::new(path, options))
    }

    /// Closes `fd` and reports the kernel's error ([`Close`]).
    pub fn close(&self, fd: Resource) -> Io<Close> {
        self.submit(Close::new(fd))
    }

    /// Metadata of `path`, following symlinks ([`Statx::path`]).
    pub fn statx(&self, path: impl AsRef<Path>) -> Io<Statx> {
        self.submit(Statx::path(path))
    }

    /// Metadata of the open `fd` ([`Statx::fd`]).
    pub fn fstatx(&self, fd: &Resource) -> Io<Statx> {
        self.submit(Statx::fd(fd))
    }

    /// Renames `from` to `to` ([`RenameAt`]).
    pub fn rename(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> Io<RenameAt> {
        self.submit(RenameAt::new(from, to))
    }

    /// Removes the file `path` ([`UnlinkAt`]).
    pub fn unlink(&self, path: impl AsRef<Path>) -> Io<UnlinkAt> {
        self.submit(UnlinkAt::new(path))
    }

    /// Removes the empty directory `path` ([`UnlinkAt::dir_entry`]).
    pub fn rmdir(&self, path: impl AsRef<Path>) -> Io<UnlinkAt> {
        self.submit(UnlinkAt::new(path).dir_entry())
    }

    /// Creates the directory `path` with mode `0o777` before the umask ([`MkdirAt`]).
    pub fn mkdir(&self, path: impl AsRef<Path>) -> Io<MkdirAt> {
        self.submit(MkdirAt::new(path))
    }

    /// Creates a symlink at `link` pointing to `target` ([`SymlinkAt`]).
    pub fn symlink(&self, target: impl AsRef<Path>, link: impl AsRef<Path>) -> Io<SymlinkAt> {
        self.submit(SymlinkAt::new(target, link))
    }

    /// Creates the hard link `to` for `from` ([`LinkAt`]).
    pub fn link(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> Io<LinkAt> {
        self.submit(LinkAt::new(from, to))
    }

    /// Completes after `duration` ([`Sleep`]).
    pub fn sleep(&self, duration: Duration) -> Io<Sleep> {
        self.submit(Sleep::new(duration))
    }
}
