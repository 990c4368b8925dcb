//! [`Resource`]: a reference-counted, owned file descriptor.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// A reference-counted owned file descriptor, closed when the last clone is dropped.
///
/// Every operation on a descriptor holds a clone for as long as the operation is in flight,
/// so the descriptor cannot be closed (and its number reused) under the kernel's feet.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use lio::Resource;
/// let file = std::fs::File::open("/dev/null")?;
/// let res = Resource::from(file);
/// let again = res.clone();
/// drop(res);
/// let owned = again.try_into_owned().expect("last reference");
/// # drop(owned); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Resource {
    inner: Arc<Inner>,
}

/// A [`Resource`] handle that does not keep the descriptor open; it tells whether a
/// descriptor number still belongs to the same `Resource`.
pub(crate) struct WeakResource(std::sync::Weak<Inner>);

struct Inner {
    fd: OwnedFd,
    /// Lazily computed [`FileKind`], as `FileKind as u8`, `UNKNOWN` until first asked.
    kind: AtomicU8,
}

const UNKNOWN: u8 = u8::MAX;

/// What the driver needs to know about a descriptor to pick a path for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A regular file opened without `O_DIRECT`: writes land in the page cache.
    BufferedFile,
    /// A pipe, FIFO or stream socket: pollable, and `RWF_NOWAIT` reads and writes never
    /// block. A short transfer means the descriptor ran dry.
    Stream,
    /// Anything else: devices, directories, `O_DIRECT` files, anonymous inodes.
    Other,
    /// A socket where a short transfer says nothing about what is left, so it never counts
    /// as drained; pollable like a stream. Message sockets (datagram, sequenced packet,
    /// raw): the next message may be waiting. Unix stream sockets too: a receive stops
    /// before data from another sender or with other credentials, and after data that
    /// carried descriptors, with more queued behind.
    Datagram,
}

impl Resource {
    /// The raw descriptor number.
    pub fn raw(&self) -> RawFd {
        self.inner.fd.as_raw_fd()
    }

    /// Overrides the cached kind (a descriptor that turned out not to support a fast path).
    pub(crate) fn set_kind(&self, kind: FileKind) {
        self.inner.kind.store(kind as u8, Ordering::Relaxed);
    }

    /// Whether `self` and `other` are clones of one `Resource` (not just equal numbers).
    pub(crate) fn same_as(&self, other: &WeakResource) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.inner), other.0.as_ptr())
    }

    /// A handle that does not keep the descriptor open.
    pub(crate) fn downgrade(&self) -> WeakResource {
        WeakResource(Arc::downgrade(&self.inner))
    }

    /// Takes the descriptor out if this is the last reference; otherwise gives `self` back.
    pub fn try_into_owned(self) -> Result<OwnedFd, Resource> {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => Ok(inner.fd),
            Err(inner) => Err(Resource { inner }),
        }
    }

    /// What kind of file this is, computed once (`fstat`, then `fcntl(F_GETFL)` for a
    /// regular file or `getsockopt(SO_TYPE)` for a socket) and cached.
    #[inline]
    pub(crate) fn kind(&self) -> FileKind {
        match self.inner.kind.load(Ordering::Relaxed) {
            0 => FileKind::BufferedFile,
            1 => FileKind::Stream,
            2 => FileKind::Other,
            3 => FileKind::Datagram,
            _ => self.probe_kind(),
        }
    }

    /// Finds out what kind of file this is, the first time it is asked.
    #[cold]
    fn probe_kind(&self) -> FileKind {
        let kind = probe_kind(self.as_fd()).unwrap_or(FileKind::Other);
        self.inner.kind.store(kind as u8, Ordering::Relaxed);
        kind
    }
}

fn probe_kind(fd: BorrowedFd<'_>) -> io::Result<FileKind> {
    use rustix::fs::{fstat, FileType, OFlags};
    let stat = fstat(fd)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => {}
        FileType::Fifo => return Ok(FileKind::Stream),
        FileType::Socket => {
            use rustix::net::sockopt::{socket_domain, socket_type};
            use rustix::net::{AddressFamily, SocketType};
            let stream = socket_type(fd)? == SocketType::STREAM;
            return Ok(if stream && socket_domain(fd)? != AddressFamily::UNIX {
                FileKind::Stream
            } else {
                FileKind::Datagram
            });
        }
        // Character devices (ttys) and anonymous inodes (eventfd, timerfd, signalfd) can
        // usually be polled; where epoll or RWF_NOWAIT refuses one, the readiness engine
        // moves it to the pool.
        FileType::CharacterDevice | FileType::Unknown => return Ok(FileKind::Stream),
        _ => return Ok(FileKind::Other),
    }
    let flags = rustix::fs::fcntl_getfl(fd)?;
    Ok(if flags.contains(OFlags::DIRECT) {
        FileKind::Other
    } else {
        FileKind::BufferedFile
    })
}

impl From<OwnedFd> for Resource {
    fn from(fd: OwnedFd) -> Self {
        Resource {
            inner: Arc::new(Inner {
                fd,
                kind: AtomicU8::new(UNKNOWN),
            }),
        }
    }
}

impl From<std::fs::File> for Resource {
    fn from(file: std::fs::File) -> Self {
        Resource::from(OwnedFd::from(file))
    }
}

impl AsFd for Resource {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}

impl AsRawFd for Resource {
    fn as_raw_fd(&self) -> RawFd {
        self.raw()
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Resource").field(&self.raw()).finish()
    }
}

impl Resource {
    /// Wraps a raw descriptor number that the caller owns.
    ///
    /// # Safety
    ///
    /// `fd` must be an open descriptor owned by the caller and not closed elsewhere.
    pub unsafe fn from_raw_fd(fd: RawFd) -> Self {
        // SAFETY: the caller transfers ownership of an open descriptor.
        Resource::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Releases ownership of the descriptor if this is the last reference.
    pub fn try_into_raw_fd(self) -> Result<RawFd, Resource> {
        self.try_into_owned().map(IntoRawFd::into_raw_fd)
    }
}
