//! [`UdpSocket`].

use super::{bind, connect_datagram, local_addr, peer_addr, socket, typed_socket};
use crate::buf::{IoBuf, IoBufMut};
use crate::op::{FromSockAddr, Recv, RecvFrom, Send, SendTo};
use crate::{Io, Lio};
use std::io;
use std::net::SocketAddr;

typed_socket! {
    /// A UDP socket.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use lio::net::UdpSocket;
    /// let lio = lio::Lio::new()?;
    /// let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let (sent, _) = a.send_to(&lio, b"hi".to_vec(), b.local_addr()?).wait();
    /// assert_eq!(sent?, 2);
    /// let (got, buf) = b.recv_from(&lio, Vec::with_capacity(64)).wait();
    /// assert_eq!((got?, &buf[..]), ((2, a.local_addr()?), &b"hi"[..]));
    /// # Ok(()) }
    /// ```
    UdpSocket, std::net::UdpSocket
}

impl UdpSocket {
    /// Creates a socket and binds it to `addr` (port 0 picks a free port). No socket option
    /// is set.
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let domain = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let fd = socket(domain, libc::SOCK_DGRAM)?;
        bind(&fd, &addr.into())?;
        Ok(UdpSocket { fd })
    }

    /// Sets the default destination for [`send`](UdpSocket::send) and the only source
    /// [`recv`](UdpSocket::recv) accepts (`connect`, which does not block for UDP).
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        connect_datagram(&self.fd, &addr.into())
    }

    /// Sends one datagram to the connected peer ([`Send`]).
    pub fn send<B: IoBuf>(&self, lio: &Lio, buf: B) -> Io<Send<B>> {
        lio.submit(Send::new(&self.fd, buf))
    }

    /// Receives one datagram, up to `buf`'s capacity (the rest is discarded) ([`Recv`]).
    pub fn recv<B: IoBufMut>(&self, lio: &Lio, buf: B) -> Io<Recv<B>> {
        lio.submit(Recv::new(&self.fd, buf))
    }

    /// Sends one datagram to `addr` ([`SendTo`]).
    pub fn send_to<B: IoBuf>(&self, lio: &Lio, buf: B, addr: SocketAddr) -> Io<SendTo<B>> {
        lio.submit(SendTo::new(&self.fd, buf, addr))
    }

    /// Receives one datagram and its sender's address ([`RecvFrom`]).
    pub fn recv_from<B: IoBufMut>(&self, lio: &Lio, buf: B) -> Io<RecvFrom<B, SocketAddr>> {
        lio.submit(RecvFrom::typed(&self.fd, buf))
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_sock_addr(local_addr(&self.fd)?)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        SocketAddr::from_sock_addr(peer_addr(&self.fd)?)
    }
}
