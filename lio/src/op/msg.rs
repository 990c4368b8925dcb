//! Message operations on sockets: `sendto`, `recvfrom`, `sendmsg` and `recvmsg` (with
//! `SCM_RIGHTS` descriptors). Each keeps its `msghdr`, `iovec`s, address storage and control
//! buffer inside the operation, which sits at a fixed table address from submission until
//! completion; every backend goes through `sendmsg`/`recvmsg`.

use super::net::{checked, FromSockAddr};
use super::{iovec_count, iovecs, Op, MAX_RW};
use crate::buf::filled::{mark_filled, mark_filled_vectored, transferred, transferred_vectored};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::pal::SockAddr;
use crate::Resource;
use std::io;
use std::marker::PhantomData;
use std::mem;
use std::os::fd::RawFd;

/// A `msghdr` naming the given parts (all-zero elsewhere).
pub(crate) fn msghdr(
    name: *mut libc::sockaddr,
    namelen: libc::socklen_t,
    iov: *mut libc::iovec,
    iovlen: usize,
    control: *mut u64,
    controllen: usize,
) -> libc::msghdr {
    // SAFETY: `msghdr` is plain old data (pointers and integers); all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = name.cast();
    msg.msg_namelen = namelen;
    msg.msg_iov = iov;
    msg.msg_iovlen = iovlen as _;
    msg.msg_control = control.cast();
    msg.msg_controllen = controllen as _;
    msg
}

/// The most descriptors one `SCM_RIGHTS` message carries (Linux's `SCM_MAX_FD`).
const MAX_FDS: usize = 253;

/// A zeroed control buffer (8-byte aligned, as `cmsghdr` needs) for `fds` descriptors.
fn control_buffer(fds: usize) -> Vec<u64> {
    if fds == 0 {
        return Vec::new();
    }
    // SAFETY: CMSG_SPACE only computes a size; `fds * 4` is at most 1,012.
    let space = unsafe { libc::CMSG_SPACE((fds * mem::size_of::<RawFd>()) as u32) } as usize;
    vec![0u64; space.div_ceil(8)]
}

/// Sends a buffer's initialised bytes to an address (`sendto(2)`, done as `sendmsg`).
/// Output: `BufResult<usize, B>`. `MSG_NOSIGNAL` is always added.
pub struct SendTo<B> {
    pub(crate) fd: Resource,
    pub(crate) buf: B,
    pub(crate) addr: io::Result<SockAddr>,
    pub(crate) flags: i32,
    iov: libc::iovec,
    msg: libc::msghdr,
}

impl<B: IoBuf> SendTo<B> {
    /// Sends `buf` on `fd` to `addr`.
    pub fn new(fd: &Resource, buf: B, addr: impl Into<SockAddr>) -> Self {
        SendTo::with_addr(fd, buf, Ok(addr.into()))
    }

    /// As `new`, with an address that may have failed to convert.
    pub(crate) fn with_addr(fd: &Resource, buf: B, addr: io::Result<SockAddr>) -> Self {
        SendTo {
            fd: fd.clone(),
            buf,
            addr,
            flags: 0,
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            msg: msghdr(
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                0,
            ),
        }
    }

    /// `sendmsg(2)` flags (`MSG_NOSIGNAL` is always added).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    pub(crate) fn send_flags(&self) -> i32 {
        self.flags | libc::MSG_NOSIGNAL
    }

    /// Points the `msghdr` at the buffer and the address; call with the operation at its
    /// final address. Returns it and the byte count offered.
    pub(crate) fn msghdr(&mut self) -> io::Result<(*mut libc::msghdr, usize)> {
        let addr = checked(&mut self.addr)?;
        let len = self.buf.buf_len().min(MAX_RW);
        self.iov = libc::iovec {
            iov_base: self.buf.buf_ptr().cast_mut().cast(),
            iov_len: len,
        };
        let name = addr.storage_ptr().cast_mut();
        self.msg = msghdr(name, addr.len(), &mut self.iov, 1, std::ptr::null_mut(), 0);
        Ok((&mut self.msg, len))
    }
}

impl<B: IoBuf> Op for SendTo<B> {
    type Output = BufResult<usize, B>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        let offered = self.buf.buf_len().min(MAX_RW);
        (result.map(|n| transferred(n, offered)), self.buf)
    }
}

/// Receives into a buffer and reports the sender's address (`recvfrom(2)`, done as
/// `recvmsg`). Output: `BufResult<(usize, A), B>`, `A` being [`SockAddr`] (or
/// [`std::net::SocketAddr`] for [`UdpSocket`](crate::net::UdpSocket)). A sender without an
/// address (an unbound Unix socket) gives an empty [`SockAddr`].
///
/// With `MSG_TRUNC` in [`flags`](RecvFrom::flags), the count is the datagram's full
/// length, as `recvfrom(2)` reports it, and may exceed what the buffer holds: the buffer's
/// length is always the bytes actually stored, never more than its capacity.
pub struct RecvFrom<B, A = SockAddr> {
    pub(crate) fd: Resource,
    pub(crate) buf: B,
    pub(crate) addr: SockAddr,
    pub(crate) flags: i32,
    iov: libc::iovec,
    msg: libc::msghdr,
    kind: PhantomData<fn() -> A>,
}

impl<B: IoBufMut> RecvFrom<B> {
    /// Receives from `fd` into `buf`.
    pub fn new(fd: &Resource, buf: B) -> Self {
        RecvFrom::typed(fd, buf)
    }
}

impl<B: IoBufMut, A: FromSockAddr> RecvFrom<B, A> {
    pub(crate) fn typed(fd: &Resource, buf: B) -> Self {
        RecvFrom {
            fd: fd.clone(),
            buf,
            addr: SockAddr::empty(),
            flags: 0,
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            msg: msghdr(
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                0,
            ),
            kind: PhantomData,
        }
    }

    /// `recvmsg(2)` flags such as `MSG_PEEK`.
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    /// Points the `msghdr` at the buffer and the address storage; call with the operation at
    /// its final address. Returns it and the capacity offered.
    pub(crate) fn msghdr(&mut self) -> (*mut libc::msghdr, usize) {
        let len = self.buf.buf_capacity().min(MAX_RW);
        self.iov = libc::iovec {
            iov_base: self.buf.buf_mut_ptr().cast(),
            iov_len: len,
        };
        self.addr = SockAddr::empty();
        let (name, namelen) = (self.addr.storage_mut(), self.addr.len());
        self.msg = msghdr(name, namelen, &mut self.iov, 1, std::ptr::null_mut(), 0);
        (&mut self.msg, len)
    }
}

impl<B: IoBufMut, A: FromSockAddr> Op for RecvFrom<B, A> {
    type Output = BufResult<(usize, A), B>;
    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        let offered = self.buf.buf_capacity().min(MAX_RW);
        let result = result.and_then(|n| {
            // SAFETY: the kernel was handed the first `offered <= capacity` bytes of the
            // buffer and wrote at most that many from the start (with `MSG_TRUNC`, `n` is
            // the datagram's full length, which may be more than it stored).
            unsafe { mark_filled(&mut self.buf, n, offered) };
            self.addr.set_len(self.msg.msg_namelen);
            Ok((n as usize, A::from_sock_addr(self.addr)?))
        });
        (result, self.buf)
    }
}

/// Sends several buffers as one message, optionally to an address and with descriptors
/// attached (`sendmsg(2)`, `SCM_RIGHTS`). Output: `BufResult<usize, Vec<B>>`.
///
/// The attached [`Resource`]s stay open until the operation completes. `MSG_NOSIGNAL` is
/// always added.
pub struct SendMsg<B> {
    pub(crate) fd: Resource,
    pub(crate) bufs: Vec<B>,
    pub(crate) addr: Option<SockAddr>,
    pub(crate) fds: Vec<Resource>,
    pub(crate) flags: i32,
    iovecs: Vec<libc::iovec>,
    control: Vec<u64>,
    msg: libc::msghdr,
}

impl<B: IoBuf> SendMsg<B> {
    /// Sends the initialised bytes of `bufs`, in order, on `fd`.
    pub fn new(fd: &Resource, bufs: Vec<B>) -> Self {
        SendMsg {
            fd: fd.clone(),
            bufs,
            addr: None,
            fds: Vec::new(),
            flags: 0,
            iovecs: Vec::new(),
            control: Vec::new(),
            msg: msghdr(
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                0,
            ),
        }
    }

    /// Sends to `addr` (unconnected datagram sockets).
    pub fn to(mut self, addr: impl Into<SockAddr>) -> Self {
        self.addr = Some(addr.into());
        self
    }

    /// Attaches descriptors (`SCM_RIGHTS`, Unix sockets only; at most 253).
    pub fn fds(mut self, fds: Vec<Resource>) -> Self {
        self.fds = fds;
        self
    }

    /// `sendmsg(2)` flags (`MSG_NOSIGNAL` is always added).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    pub(crate) fn send_flags(&self) -> i32 {
        self.flags | libc::MSG_NOSIGNAL
    }

    /// Builds the `iovec`s, the `SCM_RIGHTS` control message and the `msghdr`; call with
    /// the operation at its final address. Returns the `msghdr` and the byte count offered.
    pub(crate) fn msghdr(&mut self) -> io::Result<(*mut libc::msghdr, usize)> {
        let count = iovec_count(self.bufs.len())?;
        if self.fds.len() > MAX_FDS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "lio: {} descriptors exceed SCM_RIGHTS' limit of {MAX_FDS}",
                    self.fds.len()
                ),
            ));
        }
        self.iovecs = iovecs(
            self.bufs
                .iter()
                .map(|b| (b.buf_ptr().cast_mut(), b.buf_len())),
        );
        let total = self.iovecs.iter().map(|v| v.iov_len).sum();
        let (name, namelen) = match &self.addr {
            Some(addr) => (addr.storage_ptr().cast_mut(), addr.len()),
            None => (std::ptr::null_mut(), 0),
        };
        self.control = control_buffer(self.fds.len());
        let controllen = self.control.len() * 8;
        let control = if controllen == 0 {
            std::ptr::null_mut()
        } else {
            self.control.as_mut_ptr()
        };
        let iov = self.iovecs.as_mut_ptr();
        self.msg = msghdr(name, namelen, iov, count as usize, control, controllen);
        if !self.fds.is_empty() {
            let data_len = (self.fds.len() * mem::size_of::<RawFd>()) as u32;
            // SAFETY: the control buffer is CMSG_SPACE(data_len) bytes, 8-byte aligned and
            // zeroed, so CMSG_FIRSTHDR returns its start and the header and `data_len` bytes
            // of data fit; the data may be unaligned for `RawFd`, hence the unaligned writes.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&self.msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as _;
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for (i, fd) in self.fds.iter().enumerate() {
                    data.add(i).write_unaligned(fd.raw());
                }
            }
        }
        Ok((&mut self.msg, total))
    }
}

impl<B: IoBuf> Op for SendMsg<B> {
    type Output = BufResult<usize, Vec<B>>;
    fn complete(self, result: io::Result<u32>) -> Self::Output {
        let transferred = |n| transferred_vectored(&self.bufs, n, MAX_RW);
        (result.map(transferred), self.bufs)
    }
}

/// What a [`RecvMsg`] received besides the bytes.
#[derive(Debug)]
pub struct RecvMsgOutput {
    /// Bytes received and stored, spread over the buffers in order (never more than their
    /// capacities).
    pub len: usize,
    /// The count the kernel reported: with `MSG_TRUNC` in [`flags`](RecvMsg::flags), the
    /// datagram's full length, which exceeds [`len`](Self::len) when it was
    /// [`truncated`](Self::truncated); otherwise equal to `len`.
    pub datagram_len: usize,
    /// The sender's address, if the kernel reported one (datagram sockets).
    pub addr: Option<SockAddr>,
    /// Descriptors received with `SCM_RIGHTS`, close-on-exec; closed when dropped.
    pub fds: Vec<Resource>,
    /// The datagram was longer than the buffers; the rest was discarded (`MSG_TRUNC`).
    pub truncated: bool,
    /// Ancillary data did not fit (`MSG_CTRUNC`): descriptors beyond
    /// [`max_fds`](RecvMsg::max_fds) were closed by the kernel.
    pub control_truncated: bool,
}

/// Receives a message into several buffers, with its sender's address and any descriptors
/// sent along (`recvmsg(2)` with `MSG_CMSG_CLOEXEC`). Output:
/// `BufResult<RecvMsgOutput, Vec<B>>`.
///
/// If the handle is dropped while the operation is in flight, descriptors it receives
/// later are closed.
pub struct RecvMsg<B> {
    pub(crate) fd: Resource,
    pub(crate) bufs: Vec<B>,
    pub(crate) addr: SockAddr,
    pub(crate) max_fds: usize,
    pub(crate) flags: i32,
    iovecs: Vec<libc::iovec>,
    control: Vec<u64>,
    msg: libc::msghdr,
}

impl<B: IoBufMut> RecvMsg<B> {
    /// Receives from `fd` into `bufs`, each filled up to its capacity; no descriptors.
    pub fn new(fd: &Resource, bufs: Vec<B>) -> Self {
        RecvMsg {
            fd: fd.clone(),
            bufs,
            addr: SockAddr::empty(),
            max_fds: 0,
            flags: 0,
            iovecs: Vec::new(),
            control: Vec::new(),
            msg: msghdr(
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                0,
            ),
        }
    }

    /// Accepts up to `n` descriptors (`SCM_RIGHTS`; at most 253).
    pub fn max_fds(mut self, n: usize) -> Self {
        self.max_fds = n.min(MAX_FDS);
        self
    }

    /// `recvmsg(2)` flags such as `MSG_PEEK` (`MSG_CMSG_CLOEXEC` is always added).
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    pub(crate) fn recv_flags(&self) -> i32 {
        self.flags | libc::MSG_CMSG_CLOEXEC
    }

    /// Builds the `iovec`s, the control buffer and the `msghdr`; call with the operation at
    /// its final address. Returns the `msghdr` and the capacity offered.
    pub(crate) fn msghdr(&mut self) -> io::Result<(*mut libc::msghdr, usize)> {
        let count = iovec_count(self.bufs.len())?;
        self.iovecs = iovecs(
            self.bufs
                .iter_mut()
                .map(|b| (b.buf_mut_ptr(), b.buf_capacity())),
        );
        let total = self.iovecs.iter().map(|v| v.iov_len).sum();
        self.addr = SockAddr::empty();
        self.control = control_buffer(self.max_fds);
        let controllen = self.control.len() * 8;
        let control = if controllen == 0 {
            std::ptr::null_mut()
        } else {
            self.control.as_mut_ptr()
        };
        let (name, namelen) = (self.addr.storage_mut(), self.addr.len());
        let iov = self.iovecs.as_mut_ptr();
        self.msg = msghdr(name, namelen, iov, count as usize, control, controllen);
        Ok((&mut self.msg, total))
    }

    /// The descriptors in the control data the kernel wrote.
    fn received_fds(&mut self) -> Vec<Resource> {
        let mut fds = Vec::new();
        if self.control.is_empty() {
            return fds;
        }
        // The operation was moved out of its slot: point the header at the (heap) control
        // buffer again, and trust no more of it than its size.
        self.msg.msg_control = self.control.as_mut_ptr().cast();
        self.msg.msg_controllen = self.msg.msg_controllen.min((self.control.len() * 8) as _);
        // `msg_controllen` is a `usize` on glibc, a `u32` on musl and the BSDs.
        #[allow(clippy::unnecessary_cast)]
        let control_end = self.control.as_ptr() as usize + self.msg.msg_controllen as usize;
        // SAFETY: the header describes the control buffer, which the kernel filled with
        // well-formed control messages up to `msg_controllen`; CMSG_NXTHDR stays within it.
        // SCM_RIGHTS data is an array of descriptors the kernel installed for us.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&self.msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                    // Trust the header's length only within the control buffer.
                    let end = control_end.saturating_sub(data as usize);
                    let bytes = ((*cmsg).cmsg_len as usize)
                        .saturating_sub(libc::CMSG_LEN(0) as usize)
                        .min(end);
                    for i in 0..bytes / mem::size_of::<RawFd>() {
                        fds.push(Resource::from_raw_fd(data.add(i).read_unaligned()));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&self.msg, cmsg);
            }
        }
        fds
    }
}

impl<B: IoBufMut> Op for RecvMsg<B> {
    type Output = BufResult<RecvMsgOutput, Vec<B>>;
    fn complete(mut self, result: io::Result<u32>) -> Self::Output {
        let n = match result {
            Ok(n) => n,
            Err(e) => return (Err(e), self.bufs),
        };
        // SAFETY: `msghdr` handed the kernel `iovecs` of these buffers' capacities, capped
        // at MAX_RW in all, and the kernel fills them in order.
        let len = unsafe { mark_filled_vectored(&mut self.bufs, n, MAX_RW) };
        let fds = self.received_fds();
        self.addr.set_len(self.msg.msg_namelen);
        let output = RecvMsgOutput {
            len,
            datagram_len: n as usize,
            addr: (!self.addr.is_empty()).then_some(self.addr),
            fds,
            truncated: self.msg.msg_flags & libc::MSG_TRUNC != 0,
            control_truncated: self.msg.msg_flags & libc::MSG_CTRUNC != 0,
        };
        (Ok(output), self.bufs)
    }
}
