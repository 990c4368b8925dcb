//! The lio echo server with multishot operations: one `accept_multi` for the listener, one
//! `recv_multi` per connection into a shared buffer pool, and a send of each received piece
//! straight from its pool buffer (no copy). A stream that runs out of buffers (`ENOBUFS`) is
//! submitted again; nothing is lost. The driver thread only runs `Lio::run`.

use super::server::BUF;
use lio::buf::{BufPool, IoBuf, PooledBuf};
use lio::net::{TcpListener, TcpStream};
use lio::{Backend, Lio};
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

/// What every connection's callbacks share.
struct Server {
    lio: Lio,
    pool: BufPool,
    /// Connections not finished yet, counting those still to be accepted.
    open: Cell<usize>,
    /// The first error met.
    error: RefCell<Option<io::Error>>,
}

impl Server {
    /// Marks `count` connections finished, with the error that ended them, if any.
    fn finish(&self, count: usize, error: Option<io::Error>) {
        self.open.set(self.open.get().saturating_sub(count));
        if let Some(e) = error {
            self.error.borrow_mut().get_or_insert(e);
        }
    }
}

/// Accepts `connections` connections on `listener` with a lio driver on `backend` and
/// echoes each until its peer closes it.
pub fn serve(
    backend: Backend,
    listener: std::net::TcpListener,
    connections: usize,
) -> io::Result<()> {
    let lio = Lio::builder().backend(backend).build()?;
    // Two buffers per connection: a ping-pong connection holds at most one at a time.
    let count = u16::try_from(connections * 2).unwrap_or(lio::buf::MAX_BUFFERS);
    let server = Rc::new(Server {
        pool: BufPool::new(&lio, count.max(2), BUF as u32)?,
        lio: lio.clone(),
        open: Cell::new(connections),
        error: RefCell::new(None),
    });
    let listener = TcpListener::from(listener);
    let state = server.clone();
    let token = listener
        .accept_multi(&lio)
        .when_each(move |next| match next {
            Some(Ok(stream)) => match stream.set_nodelay(true) {
                Ok(()) => receive(state.clone(), Rc::new(stream)),
                Err(e) => state.finish(1, Some(e)),
            },
            Some(Err(e)) => state.finish(usize::MAX, Some(e)),
            None => {}
        });
    while server.open.get() > 0 {
        lio.run()?;
    }
    let result = server.error.take().map_or(Ok(()), Err);
    // Stop accepting (the stream's `ECANCELED` comes after the result was taken).
    lio.cancel(token).wait().ok();
    result
}

/// Receives on `stream` with one multishot receive, echoing every piece, until end of
/// stream.
fn receive(server: Rc<Server>, stream: Rc<TcpStream>) {
    let lio = server.lio.clone();
    let again = stream.clone();
    stream
        .recv_multi(&lio, &server.pool)
        .when_each(move |next| match next {
            Some(Ok(piece)) => send(server.clone(), again.clone(), piece, 0),
            Some(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                receive(server.clone(), again.clone())
            }
            Some(Err(e)) => server.finish(1, Some(e)),
            None => server.finish(1, None),
        });
}

/// Sends `piece[sent..]`, looping over short sends; the buffer returns to the pool when
/// the piece is dropped.
fn send(server: Rc<Server>, stream: Rc<TcpStream>, piece: PooledBuf, sent: usize) {
    let op = stream.write(&server.lio, piece.slice(sent..));
    op.when_done(move |(result, slice)| {
        let piece = slice.into_inner();
        match result {
            Ok(n) if n > 0 && sent + n < piece.len() => send(server, stream, piece, sent + n),
            Ok(n) if n > 0 => {}
            Ok(_) => server.finish(1, Some(io::Error::other("send made no progress"))),
            Err(e) => server.finish(1, Some(e)),
        }
    });
}
