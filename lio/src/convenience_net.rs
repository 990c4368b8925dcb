//! Shorthand methods on [`Lio`] for the socket operations, one per operation, each with its
//! defaults; use [`Lio::submit`] with an operation's setters for flags, destinations and
//! descriptors to pass. The typed sockets of [`crate::net`] wrap these.

use crate::buf::{IoBuf, IoBufMut};
use crate::net::SockAddr;
use crate::op::{
    Accept, Connect, Recv, RecvFrom, RecvMsg, Send, SendMsg, SendTo, Shutdown, Socket,
};
use crate::{Io, Lio, Resource};

impl Lio {
    /// Creates a socket with `SOCK_CLOEXEC` ([`Socket`]).
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// let lio = lio::Lio::new()?;
    /// let udp = lio.socket(libc::AF_INET, libc::SOCK_DGRAM, 0).wait()?;
    /// lio::net::bind(&udp, &"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into())?;
    /// # Ok(()) }
    /// ```
    pub fn socket(&self, domain: i32, ty: i32, protocol: i32) -> Io<Socket> {
        self.submit(Socket::new(domain, ty, protocol))
    }

    /// Connects `fd` to `addr` ([`Connect`]).
    pub fn connect(&self, fd: &Resource, addr: impl Into<SockAddr>) -> Io<Connect> {
        self.submit(Connect::new(fd, addr))
    }

    /// Accepts a connection on the listening socket `fd` ([`Accept`]).
    pub fn accept(&self, fd: &Resource) -> Io<Accept> {
        self.submit(Accept::new(fd))
    }

    /// Sends `buf` on the connected socket `fd` ([`Send`]).
    pub fn send<B: IoBuf>(&self, fd: &Resource, buf: B) -> Io<Send<B>> {
        self.submit(Send::new(fd, buf))
    }

    /// Receives into `buf` from the socket `fd` ([`Recv`]).
    pub fn recv<B: IoBufMut>(&self, fd: &Resource, buf: B) -> Io<Recv<B>> {
        self.submit(Recv::new(fd, buf))
    }

    /// Sends `buf` on `fd` to `addr` ([`SendTo`]).
    pub fn send_to<B: IoBuf>(
        &self,
        fd: &Resource,
        buf: B,
        addr: impl Into<SockAddr>,
    ) -> Io<SendTo<B>> {
        self.submit(SendTo::new(fd, buf, addr))
    }

    /// Receives into `buf` from `fd`, with the sender's address ([`RecvFrom`]).
    pub fn recv_from<B: IoBufMut>(&self, fd: &Resource, buf: B) -> Io<RecvFrom<B>> {
        self.submit(RecvFrom::new(fd, buf))
    }

    /// Sends `bufs` as one message on `fd` ([`SendMsg`]; add a destination or descriptors
    /// with its setters and [`Lio::submit`]).
    pub fn sendmsg<B: IoBuf>(&self, fd: &Resource, bufs: Vec<B>) -> Io<SendMsg<B>> {
        self.submit(SendMsg::new(fd, bufs))
    }

    /// Receives one message into `bufs` ([`RecvMsg`]; accept descriptors with
    /// [`RecvMsg::max_fds`] and [`Lio::submit`]).
    pub fn recvmsg<B: IoBufMut>(&self, fd: &Resource, bufs: Vec<B>) -> Io<RecvMsg<B>> {
        self.submit(RecvMsg::new(fd, bufs))
    }

    /// Shuts down `how` on `fd` ([`Shutdown`]).
    pub fn shutdown(&self, fd: &Resource, how: std::net::Shutdown) -> Io<Shutdown> {
        self.submit(Shutdown::new(fd, how))
    }
}
