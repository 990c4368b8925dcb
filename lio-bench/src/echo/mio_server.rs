//! The mio echo server: a hand-written edge-triggered readiness loop, the efficient
//! baseline for lio's epoll backend. Each connection is registered once for reads and
//! writes. On an event it reads once; a read shorter than the buffer drained the socket,
//! so it does not read again before the next edge. What came is written back at once; a
//! write that would block waits for the writable edge.

use super::server::BUF;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};

/// The listener's token; connections use their index.
const LISTENER: Token = Token(usize::MAX);

/// One accepted connection.
struct Conn {
    /// The socket.
    stream: TcpStream,
    /// The buffer reads fill and writes drain.
    buf: Box<[u8]>,
    /// Bytes the last read brought.
    len: usize,
    /// Bytes of those already written back.
    sent: usize,
    /// The socket may have unread data: no short read since the last readable edge.
    readable: bool,
}

/// Accepts `connections` connections on `listener` and echoes each until its peer closes
/// it.
pub fn serve(listener: std::net::TcpListener, connections: usize) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(256);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::with_capacity(connections);
    let mut open = connections;
    while open > 0 {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            if event.token() == LISTENER {
                accept(&poll, &listener, &mut conns, connections)?;
                continue;
            }
            let Some(slot) = conns.get_mut(event.token().0) else {
                continue;
            };
            let Some(conn) = slot.as_mut() else {
                continue;
            };
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                conn.readable = true;
            }
            if !conn.echo()? {
                *slot = None;
                open -= 1;
            }
        }
    }
    Ok(())
}

/// Accepts what is waiting, up to `connections` in all, and registers each.
fn accept(
    poll: &Poll,
    listener: &TcpListener,
    conns: &mut Vec<Option<Conn>>,
    connections: usize,
) -> io::Result<()> {
    while conns.len() < connections {
        let mut stream = match listener.accept() {
            Ok((stream, _peer)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stream.set_nodelay(true)?;
        let token = Token(conns.len());
        poll.registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        conns.push(Some(Conn {
            stream,
            buf: vec![0; BUF].into_boxed_slice(),
            len: 0,
            sent: 0,
            readable: true,
        }));
    }
    Ok(())
}

impl Conn {
    /// Writes back what is pending and reads what is readable until the socket would
    /// block or is drained. `Ok(false)` when the peer closed the connection.
    fn echo(&mut self) -> io::Result<bool> {
        loop {
            if self.sent < self.len {
                match self.stream.write(&self.buf[self.sent..self.len]) {
                    Ok(0) => return Err(io::Error::other("mio write: no progress")),
                    Ok(n) => self.sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            if !self.readable {
                return Ok(true);
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.readable = n == self.buf.len();
                    (self.len, self.sent) = (n, 0);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
