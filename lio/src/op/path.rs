//! Path and descriptor operations: open, close, stat, rename, unlink, mkdir, symlink, link.

use super::Op;
use crate::Resource;
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Converts a path for the kernel; a path with an interior NUL is an `InvalidInput` error,
/// reported through the operation's result.
pub(crate) fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "lio: path contains an interior NUL byte",
        )
    })
}

/// The path's pointer, or the error found when the path was converted.
pub(crate) fn path_ptr(path: &io::Result<CString>) -> io::Result<*const libc::c_char> {
    match path {
        Ok(path) => Ok(path.as_ptr()),
        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
    }
}

/// The directory descriptor for an `*at` call: the given directory or the working directory.
pub(crate) fn dir_fd(dir: &Option<Resource>) -> RawFd {
    dir.as_ref().map_or(libc::AT_FDCWD, Resource::raw)
}

/// How to open a file, as in [`std::fs::OpenOptions`], plus the creation mode.
///
/// ```
/// let opts = lio::op::OpenOptions::new().write(true).create(true).mode(0o640);
/// # let _ = opts;
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// All options off, mode `0o666` (before the umask), like `std`.
    pub fn new() -> Self {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Opens for reading.
    pub fn read(mut self, yes: bool) -> Self {
        self.read = yes;
        self
    }

    /// Opens for writing.
    pub fn write(mut self, yes: bool) -> Self {
        self.write = yes;
        self
    }

    /// Opens for appending: every write goes to the end (implies write).
    pub fn append(mut self, yes: bool) -> Self {
        self.append = yes;
        self
    }

    /// Truncates the file to 0 bytes (needs write).
    pub fn truncate(mut self, yes: bool) -> Self {
        self.truncate = yes;
        self
    }

    /// Creates the file if it does not exist (needs write or append).
    pub fn create(mut self, yes: bool) -> Self {
        self.create = yes;
        self
    }

    /// Creates the file, failing with `AlreadyExists` if it exists (needs write or append).
    pub fn create_new(mut self, yes: bool) -> Self {
        self.create_new = yes;
        self
    }

    /// Permission bits for a created file; the process umask is applied by the kernel.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Extra `open(2)` flags such as `O_DIRECT` or `O_NOFOLLOW`; access-mode bits are
    /// ignored. `O_CLOEXEC` is always set.
    pub fn custom_flags(mut self, flags: i32) -> Self {
        self.custom_flags = flags;
        self
    }

    /// The `open(2)` flags these options stand for, checked like `std` does.
    pub(crate) fn flags(&self) -> io::Result<i32> {
        let invalid = |what: &str| {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("lio: {what}"),
            ))
        };
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => return invalid("open needs read, write or append"),
        };
        let writable = self.write || self.append;
        if (self.truncate || self.create || self.create_new) && !writable {
            return invalid("truncate and create need write or append access");
        }
        if self.truncate && self.append && !self.create_new {
            return invalid("truncate and append are exclusive");
        }
        let mut flags = access | libc::O_CLOEXEC | (self.custom_flags & !libc::O_ACCMODE);
        if self.create_new {
            flags |= libc::O_CREAT | libc::O_EXCL;
        } else if self.create {
            flags |= libc::O_CREAT;
        }
        if self.truncate {
            flags |= libc::O_TRUNC;
        }
        Ok(flags)
    }

    pub(crate) fn mode_bits(&self) -> u32 {
        self.mode
    }
}

/// Opens a file relative to a directory (`openat`). Output: `io::Result<Resource>`.
///
/// If the handle is dropped while the open is in flight, a descriptor that arrives later is
/// closed.
pub struct OpenAt {
    pub(crate) dir: Option<Resource>,
    pub(crate) path: io::Result<CString>,
    pub(crate) flags: io::Result<i32>,
    pub(crate) mode: u32,
}

impl OpenAt {
    /// Opens `path` (relative to the working directory) with `options`.
    pub fn new(path: impl AsRef<Path>, options: &OpenOptions) -> Self {
        OpenAt {
            dir: None,
            path: c_path(path.as_ref()),
            flags: options.flags(),
            mode: options.mode_bits(),
        }
    }

    /// Resolves a relative path against the directory `dir` instead.
    pub fn dir(mut self, dir: &Resource) -> Self {
        self.dir = Some(dir.clone());
        self
    }
}

impl Op for OpenAt {
    type Output = io::Result<Resource>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(|fd| {
            // SAFETY: the kernel returned a new descriptor that nobody else owns.
            Resource::from(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
        })
    }
}

/// Closes a descriptor (`close`), reporting the kernel's error. Output: `io::Result<()>`.
pub struct Close {
    pub(crate) fd: io::Result<RawFd>,
}

impl Close {
    /// Closes `fd`; fails with `ResourceBusy` (and drops this reference) if other clones of
    /// the [`Resource`] are alive.
    pub fn new(fd: Resource) -> Self {
        let fd = fd
            .try_into_owned()
            .map(IntoRawFd::into_raw_fd)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    "lio: close of a resource that is still shared",
                )
            });
        Close { fd }
    }
}

impl Drop for Close {
    fn drop(&mut self) {
        if let Ok(fd) = self.fd {
            // SAFETY: we own `fd`: it was never handed to the kernel's close (`hand_over`
            // replaces it with an error when it is).
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

impl Close {
    /// The descriptor to close, or the error found when the op was made.
    pub(crate) fn raw_fd(&self) -> io::Result<RawFd> {
        match &self.fd {
            Ok(fd) => Ok(*fd),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// Records that the kernel now owns the descriptor, so that dropping the op no longer
    /// closes it.
    pub(crate) fn hand_over(&mut self) {
        self.fd = Err(io::Error::other("lio: close already submitted"));
    }
}

impl Op for Close {
    type Output = io::Result<()>;
    // Closing releases resources: a full driver must still be able to do it.
    const USES_RESERVE: bool = true;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(drop)
    }
}

/// File metadata returned by [`Statx`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// File type and permission bits (`st_mode`).
    pub mode: u32,
    /// Number of hard links.
    pub nlink: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Inode number.
    pub ino: u64,
    /// Number of 512-byte blocks allocated.
    pub blocks: u64,
    /// Preferred I/O block size.
    pub blksize: u32,
    /// Last access time.
    pub accessed: SystemTime,
    /// Last modification time.
    pub modified: SystemTime,
    /// Last status change time.
    pub changed: SystemTime,
}

impl FileStat {
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    /// Whether this is a symbolic link (only when not following links).
    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }

    /// Permission bits (`mode & 0o7777`).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }

    fn from_statx(st: &libc::statx) -> FileStat {
        // The kernel's nanoseconds are always non-negative and added to (possibly negative)
        // seconds: -1.5 s is stored as (-2 s, +0.5e9 ns).
        let time = |t: libc::statx_timestamp| {
            let secs = Duration::from_secs(t.tv_sec.unsigned_abs());
            let base = if t.tv_sec >= 0 {
                SystemTime::UNIX_EPOCH + secs
            } else {
                SystemTime::UNIX_EPOCH - secs
            };
            base + Duration::from_nanos(u64::from(t.tv_nsec))
        };
        FileStat {
            size: st.stx_size,
            mode: u32::from(st.stx_mode),
            nlink: st.stx_nlink,
            uid: st.stx_uid,
            gid: st.stx_gid,
            ino: st.stx_ino,
            blocks: st.stx_blocks,
            blksize: st.stx_blksize,
            accessed: time(st.stx_atime),
            modified: time(st.stx_mtime),
            changed: time(st.stx_ctime),
        }
    }
}

/// Reads metadata of a path or an open descriptor (`statx`). Output: `io::Result<FileStat>`.
pub struct Statx {
    pub(crate) dir: Option<Resource>,
    pub(crate) path: io::Result<CString>,
    pub(crate) flags: i32,
    pub(crate) buf: Box<std::mem::MaybeUninit<libc::statx>>,
}

impl Statx {
    /// Metadata of `path` (relative to the working directory), following symlinks.
    pub fn path(path: impl AsRef<Path>) -> Self {
        Statx {
            dir: None,
            path: c_path(path.as_ref()),
            flags: 0,
            buf: Box::new_uninit(),
        }
    }

    /// Metadata of the open descriptor `fd` (`AT_EMPTY_PATH`).
    pub fn fd(fd: &Resource) -> Self {
        Statx {
            dir: Some(fd.clone()),
            path: Ok(CString::default()),
            flags: libc::AT_EMPTY_PATH,
            buf: Box::new_uninit(),
        }
    }

    /// Resolves a relative path against the directory `dir`.
    pub fn dir(mut self, dir: &Resource) -> Self {
        self.dir = Some(dir.clone());
        self
    }

    /// Reports on a symlink itself rather than its target (`AT_SYMLINK_NOFOLLOW`).
    pub fn no_follow(mut self) -> Self {
        self.flags |= libc::AT_SYMLINK_NOFOLLOW;
        self
    }
}

impl Op for Statx {
    type Output = io::Result<FileStat>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        result.map(|_| {
            // SAFETY: a successful statx filled the buffer.
            let st = unsafe { self.buf.assume_init_ref() };
            FileStat::from_statx(st)
        })
    }
}

/// Declares an operation on one or two paths whose output is `io::Result<()>`.
macro_rules! path_op {
    ($(#[$doc:meta])* $name:ident { $($field:ident),+ } $($extra:ident: $ty:ty = $default:expr),*) => {
        $(#[$doc])*
        pub struct $name {
            $(pub(crate) $field: io::Result<CString>,)+
            pub(crate) dir: Option<Resource>,
            $(pub(crate) $extra: $ty,)*
        }

        impl $name {
            /// Builds the operation on paths relative to the working directory.
            pub fn new($($field: impl AsRef<Path>),+) -> Self {
                $name { $($field: c_path($field.as_ref()),)+ dir: None, $($extra: $default,)* }
            }

            /// Resolves relative paths against the directory `dir` instead.
            pub fn dir(mut self, dir: &Resource) -> Self {
                self.dir = Some(dir.clone());
                self
            }
        }

        impl Op for $name {
            type Output = io::Result<()>;
            fn complete(self, result: io::Result<u32>) -> Self::Output {
                result.map(drop)
            }
        }
    };
}

path_op! {
    /// Renames `from` to `to` (`renameat`). Output: `io::Result<()>`.
    RenameAt { from, to }
}

path_op! {
    /// Removes a file, or an empty directory with [`UnlinkAt::dir_entry`] (`unlinkat`).
    /// Output: `io::Result<()>`.
    UnlinkAt { path } remove_dir: bool = false
}

impl UnlinkAt {
    /// Removes a directory (`AT_REMOVEDIR`) instead of a file.
    pub fn dir_entry(mut self) -> Self {
        self.remove_dir = true;
        self
    }
}

path_op! {
    /// Creates a directory (`mkdirat`), mode `0o777` before the umask by default.
    /// Output: `io::Result<()>`.
    MkdirAt { path } mode: u32 = 0o777
}

impl MkdirAt {
    /// Permission bits for the new directory (the umask is applied).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
}

path_op! {
    /// Creates a symbolic link at `link` pointing to `target` (`symlinkat`).
    /// Output: `io::Result<()>`.
    SymlinkAt { target, link }
}

path_op! {
    /// Creates a hard link `to` for the existing file `from` (`linkat`).
    /// Output: `io::Result<()>`.
    LinkAt { from, to }
}
