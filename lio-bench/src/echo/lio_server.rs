//! The lio echo server in callback style: per connection, a receive whose callback submits
//! the send of what came, whose callback submits the next receive. Each connection's one
//! buffer travels through its operations and is reused for every message; the driver
//! thread only runs `Lio::run`.

use super::server::BUF;
use lio::buf::IoBuf;
use lio::net::{TcpListener, TcpStream};
use lio::{Backend, Lio};
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

/// What the callbacks of every connection share.
struct Shared {
    /// Connections not finished yet, counting those still to be accepted.
    open: Cell<usize>,
    /// The first error a connection or the accept loop met.
    error: RefCell<Option<io::Error>>,
}

impl Shared {
    /// Marks `count` connections finished, with the error that ended them, if any.
    fn finish(&self, count: usize, error: Option<io::Error>) {
        self.open.set(self.open.get() - count);
        if let Some(e) = error {
            self.error.borrow_mut().get_or_insert(e);
        }
    }
}

/// One connection's handles, moved from callback to callback.
struct Conn {
    /// The driver.
    lio: Lio,
    /// The accepted socket.
    stream: TcpStream,
    /// The state of the whole server.
    shared: Rc<Shared>,
}

/// Accepts `connections` connections on `listener` with a lio driver on `backend` and
/// echoes each until its peer closes it.
pub fn serve(
    backend: Backend,
    listener: std::net::TcpListener,
    connections: usize,
) -> io::Result<()> {
    let lio = Lio::builder().backend(backend).build()?;
    let shared = Rc::new(Shared {
        open: Cell::new(connections),
        error: RefCell::new(None),
    });
    accept(
        &lio,
        TcpListener::from(listener),
        connections,
        shared.clone(),
    );
    while shared.open.get() > 0 {
        lio.run()?;
    }
    shared.error.take().map_or(Ok(()), Err)
}

/// Accepts one connection, starts echoing on it, and accepts the next while `remaining`
/// are still to come.
fn accept(lio: &Lio, listener: TcpListener, remaining: usize, shared: Rc<Shared>) {
    let lio2 = lio.clone();
    listener
        .clone()
        .accept(lio)
        .when_done(move |result| match result {
            Ok((stream, _peer)) => {
                let conn = Conn {
                    lio: lio2.clone(),
                    stream,
                    shared: shared.clone(),
                };
                match conn.stream.set_nodelay(true) {
                    Ok(()) => read(conn, Vec::with_capacity(BUF)),
                    Err(e) => shared.finish(1, Some(e)),
                }
                if remaining > 1 {
                    accept(&lio2, listener, remaining - 1, shared);
                }
            }
            Err(e) => shared.finish(remaining, Some(e)),
        });
}

/// Receives into `buf`; echoes what came, or finishes the connection at end of stream.
fn read(conn: Conn, buf: Vec<u8>) {
    let op = conn.stream.read(&conn.lio, buf);
    op.when_done(move |(result, buf)| match result {
        Ok(0) => conn.shared.finish(1, None),
        Ok(_) => write(conn, buf, 0),
        Err(e) => conn.shared.finish(1, Some(e)),
    });
}

/// Sends `buf[sent..]`, looping over short writes, then receives again.
fn write(conn: Conn, buf: Vec<u8>, sent: usize) {
    let op = conn.stream.write(&conn.lio, buf.slice(sent..));
    op.when_done(move |(result, slice)| {
        let buf = slice.into_inner();
        match result {
            Ok(n) if n > 0 && sent + n < buf.len() => write(conn, buf, sent + n),
            Ok(n) if n > 0 => read(conn, buf),
            Ok(_) => conn
                .shared
                .finish(1, Some(io::Error::other("send made no progress"))),
            Err(e) => conn.shared.finish(1, Some(e)),
        }
    });
}
