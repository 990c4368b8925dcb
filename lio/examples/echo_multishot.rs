//! An echo server on multishot operations: one `accept_multi` for the listener, one
//! `recv_multi` per connection into a shared buffer pool, and each received piece sent back
//! straight from its pool buffer (no copy). Callbacks run from `Lio::run`, on this thread.
//!
//! Each connection keeps one send in flight and queues the pieces that arrive meanwhile, so
//! that a short send is finished before the next piece goes out. When the pool runs dry a
//! receive stream ends with `ENOBUFS` (the data waits in the socket): the connection waits
//! in a starved list, and gets a new stream as soon as a finished send gives a buffer back.
//!
//! ```text
//! cargo run -p lio --example echo_multishot -- --backend epoll --addr 127.0.0.1:7878
//! ```

mod echo_args;

use lio::buf::{BufPool, IoBuf, PooledBuf};
use lio::net::{TcpListener, TcpStream};
use lio::Lio;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// Buffers in the pool and the size of each.
const BUFFERS: u16 = 256;
const BUFFER_SIZE: u32 = 16 * 1024;

/// What every connection shares.
struct Server {
    lio: Lio,
    pool: BufPool,
    /// Connections whose receive stream ran out of buffers, waiting for one.
    starved: RefCell<VecDeque<Rc<Conn>>>,
}

/// One connection: its socket, and the pieces waiting to be sent back.
struct Conn {
    server: Rc<Server>,
    stream: TcpStream,
    queue: RefCell<VecDeque<PooledBuf>>,
    /// A send is in flight.
    sending: Cell<bool>,
}

fn main() {
    let (args, _) = echo_args::parse("echo_multishot", false);
    let lio = args.lio;
    let listener = TcpListener::bind(args.addr).unwrap_or_else(|e| {
        eprintln!("echo_multishot: cannot listen on {}: {e}", args.addr);
        std::process::exit(1)
    });
    let pool = BufPool::new(&lio, BUFFERS, BUFFER_SIZE).unwrap_or_else(|e| {
        eprintln!("echo_multishot: cannot make a buffer pool: {e}");
        std::process::exit(1)
    });
    let addr = listener.local_addr().unwrap_or(args.addr);
    println!(
        "echo_multishot: listening on {addr} ({}, {BUFFERS} buffers of {} KiB, incremental: {})",
        lio.backend(),
        BUFFER_SIZE / 1024,
        pool.is_incremental()
    );
    let server = Rc::new(Server {
        lio: lio.clone(),
        pool,
        starved: RefCell::new(VecDeque::new()),
    });
    listener
        .accept_multi(&lio)
        .when_each(move |next| match next {
            Some(Ok(stream)) => receive(Rc::new(Conn {
                server: server.clone(),
                stream,
                queue: RefCell::new(VecDeque::new()),
                sending: Cell::new(false),
            })),
            Some(Err(e)) => eprintln!("echo_multishot: accept: {e}"),
            None => eprintln!("echo_multishot: the accept stream ended"),
        });
    loop {
        if let Err(e) = lio.run() {
            eprintln!("echo_multishot: the driver failed: {e}");
            std::process::exit(1);
        }
    }
}

/// Receives on the connection with one multishot receive until end of stream.
fn receive(conn: Rc<Conn>) {
    let server = &conn.server;
    let stream = conn.stream.recv_multi(&server.lio, &server.pool);
    stream.when_each(move |next| match next {
        Some(Ok(piece)) => {
            conn.queue.borrow_mut().push_back(piece);
            send_next(&conn);
        }
        Some(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
            conn.server.starved.borrow_mut().push_back(conn.clone());
            rearm(&conn.server);
        }
        Some(Err(e)) => eprintln!("echo_multishot: receive: {e}"),
        None => {}
    });
}

/// Gives starved connections a new receive stream while the pool has free buffers.
fn rearm(server: &Server) {
    while server.pool.available() > 0 {
        let Some(conn) = server.starved.borrow_mut().pop_front() else {
            return;
        };
        receive(conn);
    }
}

/// Sends the next queued piece if no send is in flight.
fn send_next(conn: &Rc<Conn>) {
    if conn.sending.get() {
        return;
    }
    let piece = conn.queue.borrow_mut().pop_front();
    if let Some(piece) = piece {
        send(conn.clone(), piece, 0);
    }
}

/// Sends `piece[sent..]`, looping over short sends; then its buffer goes back to the pool
/// (perhaps to a starved connection) and the next queued piece goes out.
fn send(conn: Rc<Conn>, piece: PooledBuf, sent: usize) {
    conn.sending.set(true);
    let op = conn.stream.write(&conn.server.lio, piece.slice(sent..));
    op.when_done(move |(result, slice)| {
        let piece = slice.into_inner();
        match result {
            Ok(n) if n > 0 && sent + n < piece.len() => send(conn, piece, sent + n),
            Ok(n) if n > 0 => {
                drop(piece);
                conn.sending.set(false);
                rearm(&conn.server);
                send_next(&conn);
            }
            Ok(_) => eprintln!("echo_multishot: send: no progress"),
            Err(e) => eprintln!("echo_multishot: send: {e}"),
        }
    });
}
