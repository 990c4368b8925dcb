//! [`SockAddr`]: a socket address as the kernel takes it, for every address family.

use std::ffi::OsStr;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::mem::{self, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A socket address of any family, stored the way the kernel reads and writes it: a
/// `sockaddr_storage` and the length in use.
///
/// Build one from a [`std::net::SocketAddr`] (IPv4, IPv6) or with [`SockAddr::unix`] (a Unix
/// socket path) or [`SockAddr::unix_abstract`] (a name in Linux's abstract namespace); read
/// one back with [`as_socket`](SockAddr::as_socket) or
/// [`as_unix_path`](SockAddr::as_unix_path).
///
/// ```
/// use lio::net::SockAddr;
/// let addr = SockAddr::from("127.0.0.1:7878".parse::<std::net::SocketAddr>().unwrap());
/// assert_eq!(addr.as_socket().unwrap().port(), 7878);
/// let path = SockAddr::unix("/tmp/echo.sock").unwrap();
/// assert_eq!(path.as_unix_path().unwrap(), std::path::Path::new("/tmp/echo.sock"));
/// ```
#[derive(Clone, Copy)]
pub struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

/// Where `sun_path` starts in a `sockaddr_un`: after the family.
const SUN_PATH_OFFSET: usize = size_of::<libc::sa_family_t>();
/// The size of `sun_path`.
const SUN_PATH_LEN: usize = size_of::<libc::sockaddr_un>() - SUN_PATH_OFFSET;

const _: () = assert!(size_of::<libc::sockaddr_in>() <= size_of::<libc::sockaddr_storage>());
const _: () = assert!(size_of::<libc::sockaddr_in6>() <= size_of::<libc::sockaddr_storage>());
const _: () = assert!(size_of::<libc::sockaddr_un>() <= size_of::<libc::sockaddr_storage>());

impl SockAddr {
    /// An all-zero address with the whole storage as its length: what the kernel fills in
    /// for accept and recvfrom.
    pub(crate) fn empty() -> SockAddr {
        SockAddr {
            // SAFETY: `sockaddr_storage` is plain old data; all zeroes is a valid value.
            storage: unsafe { mem::zeroed() },
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// A Unix socket address for the filesystem path `path`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the path contains a NUL byte or does not fit in `sun_path` (107
    /// bytes plus the terminating NUL).
    pub fn unix(path: impl AsRef<Path>) -> io::Result<SockAddr> {
        let bytes = path.as_ref().as_os_str().as_bytes();
        if bytes.contains(&0) {
            return Err(invalid("a Unix socket path must not contain a NUL byte"));
        }
        if bytes.is_empty() {
            return Err(invalid("a Unix socket path must not be empty"));
        }
        SockAddr::unix_bytes(bytes, 1)
    }

    /// A Unix socket address in Linux's abstract namespace (no file; `name` is not
    /// NUL-terminated and may contain any bytes).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `name` is longer than 107 bytes.
    pub fn unix_abstract(name: &[u8]) -> io::Result<SockAddr> {
        let mut with_nul = Vec::with_capacity(name.len() + 1);
        with_nul.push(0);
        with_nul.extend_from_slice(name);
        SockAddr::unix_bytes(&with_nul, 0)
    }

    /// `sun_path` = `bytes`, followed by `nul` terminating NULs (counted in the length).
    fn unix_bytes(bytes: &[u8], nul: usize) -> io::Result<SockAddr> {
        if bytes.len() + nul > SUN_PATH_LEN {
            return Err(invalid("the Unix socket address is longer than sun_path"));
        }
        let mut addr = SockAddr::empty();
        // SAFETY: the storage is large enough and aligned for a `sockaddr_un` (asserted
        // above), and all-zero is a valid `sockaddr_un`.
        let un = unsafe { &mut *addr.storage_mut().cast::<libc::sockaddr_un>() };
        un.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, &src) in un.sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        addr.len = (SUN_PATH_OFFSET + bytes.len() + nul) as libc::socklen_t;
        Ok(addr)
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`, ...).
    pub fn family(&self) -> i32 {
        i32::from(self.storage.ss_family)
    }

    /// The length of the address in bytes, as the kernel reports it (`socklen_t`).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the address is empty (length 0): the kernel reported no address, as for a
    /// datagram from an unbound Unix socket.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The IPv4 or IPv6 address, or `None` for other families.
    pub fn as_socket(&self) -> Option<SocketAddr> {
        let len = self.len as usize;
        match self.family() {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family and length say the storage holds a `sockaddr_in`.
                let sin = unsafe { &*self.storage_ptr().cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family and length say the storage holds a `sockaddr_in6`.
                let sin6 = unsafe { &*self.storage_ptr().cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                let port = u16::from_be(sin6.sin6_port);
                Some(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id).into())
            }
            _ => None,
        }
    }

    /// The bytes of `sun_path` in use, for a Unix address.
    fn sun_path(&self) -> Option<&[u8]> {
        if self.family() != libc::AF_UNIX {
            return None;
        }
        let len = (self.len as usize).saturating_sub(SUN_PATH_OFFSET);
        // SAFETY: the family says the storage holds a `sockaddr_un`.
        let un = unsafe { &*self.storage_ptr().cast::<libc::sockaddr_un>() };
        let path = &un.sun_path[..len.min(SUN_PATH_LEN)];
        // SAFETY: `c_char` and `u8` have the same size and alignment.
        Some(unsafe { std::slice::from_raw_parts(path.as_ptr().cast::<u8>(), path.len()) })
    }

    /// The filesystem path of a Unix address, or `None` for other families, unnamed
    /// sockets and abstract names.
    pub fn as_unix_path(&self) -> Option<&Path> {
        let bytes = self.sun_path()?;
        if bytes.first().is_none_or(|&b| b == 0) {
            return None;
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Some(Path::new(OsStr::from_bytes(&bytes[..end])))
    }

    /// The name of a Unix address in the abstract namespace (without its leading NUL), or
    /// `None` for anything else.
    pub fn as_unix_abstract(&self) -> Option<&[u8]> {
        match self.sun_path()? {
            [0, name @ ..] => Some(name),
            _ => None,
        }
    }

    /// Whether this is the address of an unnamed Unix socket (one never bound, or made by
    /// `socketpair`).
    pub fn is_unnamed_unix(&self) -> bool {
        self.sun_path().is_some_and(<[u8]>::is_empty)
    }

    pub(crate) fn storage_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }

    pub(crate) fn storage_mut(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.storage).cast()
    }

    /// The length field, for the kernel to write the actual length into.
    pub(crate) fn len_mut(&mut self) -> *mut libc::socklen_t {
        &mut self.len
    }

    /// Sets the length the kernel reported, at most the storage size.
    pub(crate) fn set_len(&mut self, len: libc::socklen_t) {
        self.len = len.min(size_of::<libc::sockaddr_storage>() as libc::socklen_t);
    }

    /// The bytes in use, for comparisons.
    fn bytes(&self) -> &[u8] {
        let len = (self.len as usize).min(size_of::<libc::sockaddr_storage>());
        // SAFETY: the storage is `len` initialised bytes long at least (plain old data).
        unsafe { std::slice::from_raw_parts(self.storage_ptr().cast::<u8>(), len) }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("lio: {what}"))
}

impl From<SocketAddr> for SockAddr {
    fn from(addr: SocketAddr) -> SockAddr {
        match addr {
            SocketAddr::V4(v4) => v4.into(),
            SocketAddr::V6(v6) => v6.into(),
        }
    }
}

impl From<SocketAddrV4> for SockAddr {
    fn from(addr: SocketAddrV4) -> SockAddr {
        let mut out = SockAddr::empty();
        // SAFETY: the storage is large enough and aligned for a `sockaddr_in` (asserted
        // above), and all-zero is a valid `sockaddr_in`.
        let sin = unsafe { &mut *out.storage_mut().cast::<libc::sockaddr_in>() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = addr.port().to_be();
        sin.sin_addr.s_addr = u32::from_ne_bytes(addr.ip().octets());
        out.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        out
    }
}

impl From<SocketAddrV6> for SockAddr {
    fn from(addr: SocketAddrV6) -> SockAddr {
        let mut out = SockAddr::empty();
        // SAFETY: the storage is large enough and aligned for a `sockaddr_in6` (asserted
        // above), and all-zero is a valid `sockaddr_in6`.
        let sin6 = unsafe { &mut *out.storage_mut().cast::<libc::sockaddr_in6>() };
        sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sin6.sin6_port = addr.port().to_be();
        sin6.sin6_addr.s6_addr = addr.ip().octets();
        sin6.sin6_flowinfo = addr.flowinfo();
        sin6.sin6_scope_id = addr.scope_id();
        out.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        out
    }
}

impl PartialEq for SockAddr {
    fn eq(&self, other: &SockAddr) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for SockAddr {}

impl Hash for SockAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl fmt::Debug for SockAddr {
    /// `127.0.0.1:80`, `[::1]:80`, `unix:/path`, `unix:@name` (abstract), `unix:(unnamed)`,
    /// `(no address)`, or the family number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(no address)");
        }
        if let Some(addr) = self.as_socket() {
            return write!(f, "{addr}");
        }
        if let Some(path) = self.as_unix_path() {
            return write!(f, "unix:{}", path.display());
        }
        if let Some(name) = self.as_unix_abstract() {
            return write!(f, "unix:@{}", String::from_utf8_lossy(name));
        }
        if self.is_unnamed_unix() {
            return f.write_str("unix:(unnamed)");
        }
        write!(f, "SockAddr(family {}, {} bytes)", self.family(), self.len)
    }
}
