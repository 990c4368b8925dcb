//! Load on each backend, loopback only: an echo server on one driver (one thread) and
//! 1,000 concurrent connections × 100 ping-pong rounds of 64 bytes through another driver
//! (another thread), both in callback style. Every byte must come back, with no error,
//! within 60 s, and afterwards the process has exactly the descriptors it had before.
//!
//! The server runs twice: with one receive and one send per message, and with multishot
//! operations (one `accept_multi`, one `recv_multi` per connection) into a pool of 128
//! buffers for the 1,000 connections, so that receive streams run out of buffers (`ENOBUFS`)
//! and are submitted again as buffers come back, without losing a byte.
//!
//! The soft `RLIMIT_NOFILE` is raised towards the hard limit if it is too low for 2,000
//! sockets; where the hard limit forbids that, the test is skipped and says why.

mod common;
mod net_common;

use common::backend_tests;
use lio::buf::{BufPool, IoBuf, PooledBuf};
use lio::net::{TcpListener, TcpStream};
use lio::op::CancelToken;
use lio::{Backend, Lio, LioWaker};
use net_common::{fd_listing, localhost_v4, open_fds};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

backend_tests!(serial = lock;
    thousand_connections_of_a_hundred_round_trips,
    thousand_connections_against_a_multishot_server,
);

const CONNECTIONS: usize = 1000;
const ROUNDS: usize = 100;
const MESSAGE: usize = 64;
/// The whole exchange must finish within this.
const LIMIT: Duration = Duration::from_secs(60);

/// One backend at a time: each counts the process's descriptors, and two at once would
/// share 2 cores.
fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes room for `needed` descriptors; `false` (with the reason printed) if the hard limit
/// does not allow it.
fn raise_fd_limit(needed: u64) -> bool {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit to fill in.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur >= needed {
        return true;
    }
    if limit.rlim_max < needed {
        eprintln!(
            "skipped: RLIMIT_NOFILE's hard limit {} is below the {needed} descriptors needed",
            limit.rlim_max
        );
        return false;
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: raising the soft limit up to the hard one is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    true
}

/// What one side counts, on its own thread.
#[derive(Default)]
struct State {
    /// Connections that ended: done (client) or closed by the peer (server), or failed.
    ended: Cell<usize>,
    errors: Cell<usize>,
    first_error: RefCell<Option<String>>,
    /// Bytes echoed and checked (client).
    bytes: Cell<usize>,
    /// The server's accept in flight.
    accept: Cell<Option<CancelToken>>,
    /// Receive streams that ended with `ENOBUFS` (multishot server).
    enobufs: Cell<usize>,
    stopping: Cell<bool>,
}

impl State {
    fn fail(&self, what: &str, error: impl std::fmt::Display) {
        self.errors.set(self.errors.get() + 1);
        self.ended.set(self.ended.get() + 1);
        self.first_error
            .borrow_mut()
            .get_or_insert_with(|| format!("{what}: {error}"));
    }

    fn report(&self, side: &str) -> Result<usize, String> {
        match self.first_error.borrow().as_ref() {
            None => Ok(self.bytes.get()),
            Some(first) => Err(format!(
                "{side}: {} errors, the first: {first}",
                self.errors.get()
            )),
        }
    }
}

type Shared = Rc<State>;

// The server: accept, then per connection read, echo everything, read again, until the
// peer closes.

fn accept_next(lio: &Lio, listener: &TcpListener, state: &Shared) {
    let (lio2, listener2, state2) = (lio.clone(), listener.clone(), state.clone());
    let token = listener.accept(lio).when_done(move |result| match result {
        Ok((stream, _)) => {
            serve(&lio2, stream, Vec::with_capacity(4096), &state2);
            accept_next(&lio2, &listener2, &state2);
        }
        Err(_) if state2.stopping.get() => {}
        Err(e) => state2.fail("accept", e),
    });
    state.accept.set(Some(token));
}

fn serve(lio: &Lio, stream: TcpStream, buf: Vec<u8>, state: &Shared) {
    let (lio2, state2) = (lio.clone(), state.clone());
    let read = stream.read(lio, buf);
    read.when_done(move |(result, buf)| match result {
        Ok(0) => state2.ended.set(state2.ended.get() + 1),
        Ok(_) => echo(&lio2, stream, buf, &state2),
        Err(e) => state2.fail("server read", e),
    });
}

fn echo(lio: &Lio, stream: TcpStream, buf: Vec<u8>, state: &Shared) {
    let (lio2, state2) = (lio.clone(), state.clone());
    let write = stream.write(lio, buf);
    write.when_done(move |(result, mut buf)| match result {
        Ok(n) if n == buf.len() => {
            buf.clear();
            serve(&lio2, stream, buf, &state2);
        }
        Ok(n) => {
            buf.drain(..n);
            echo(&lio2, stream, buf, &state2);
        }
        Err(e) => state2.fail("server write", e),
    });
}

// The multishot server: one accept stream, one receive stream per connection into a small
// shared pool, one send in flight per connection with the pieces that come meanwhile
// queued. A receive stream that runs out of buffers waits in `starved` and is submitted
// again when a send gives a buffer back.

struct Multi {
    lio: Lio,
    pool: BufPool,
    state: Shared,
    starved: RefCell<VecDeque<Rc<Conn>>>,
}

struct Conn {
    stream: TcpStream,
    queue: RefCell<VecDeque<PooledBuf>>,
    sending: Cell<bool>,
}

fn multi_receive(server: &Rc<Multi>, conn: Rc<Conn>) {
    let (server2, conn2) = (server.clone(), conn.clone());
    let stream = conn.stream.recv_multi(&server.lio, &server.pool);
    stream.when_each(move |next| match next {
        Some(Ok(piece)) => {
            conn2.queue.borrow_mut().push_back(piece);
            multi_send_next(&server2, &conn2);
        }
        Some(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
            let state = &server2.state;
            state.enobufs.set(state.enobufs.get() + 1);
            server2.starved.borrow_mut().push_back(conn2.clone());
            multi_rearm(&server2);
        }
        Some(Err(e)) => server2.state.fail("server recv_multi", e),
        None => server2.state.ended.set(server2.state.ended.get() + 1),
    });
}

/// Submits the receive streams of starved connections again while the pool has buffers.
fn multi_rearm(server: &Rc<Multi>) {
    while server.pool.available() > 0 {
        let Some(conn) = server.starved.borrow_mut().pop_front() else {
            return;
        };
        multi_receive(server, conn);
    }
}

fn multi_send_next(server: &Rc<Multi>, conn: &Rc<Conn>) {
    if conn.sending.get() {
        return;
    }
    let piece = conn.queue.borrow_mut().pop_front();
    if let Some(piece) = piece {
        multi_send(server.clone(), conn.clone(), piece, 0);
    }
}

fn multi_send(server: Rc<Multi>, conn: Rc<Conn>, piece: PooledBuf, sent: usize) {
    conn.sending.set(true);
    let write = conn.stream.write(&server.lio, piece.slice(sent..));
    write.when_done(move |(result, slice)| {
        let piece = slice.into_inner();
        match result {
            Ok(n) if n > 0 && sent + n < piece.len() => multi_send(server, conn, piece, sent + n),
            Ok(n) if n > 0 => {
                drop(piece);
                conn.sending.set(false);
                multi_rearm(&server);
                multi_send_next(&server, &conn);
            }
            Ok(_) => server.state.fail("server write", "no progress"),
            Err(e) => server.state.fail("server write", e),
        }
    });
}

/// Starts the multishot server on `listener`.
fn multi_accept(lio: &Lio, listener: &TcpListener, state: &Shared) {
    let pool = BufPool::new(lio, 128, 128).expect("a buffer pool");
    let server = Rc::new(Multi {
        lio: lio.clone(),
        pool,
        state: state.clone(),
        starved: RefCell::new(VecDeque::new()),
    });
    let token = listener
        .accept_multi(lio)
        .when_each(move |next| match next {
            Some(Ok(stream)) => {
                let conn = Rc::new(Conn {
                    stream,
                    queue: RefCell::new(VecDeque::new()),
                    sending: Cell::new(false),
                });
                multi_receive(&server, conn);
            }
            Some(Err(_)) if server.state.stopping.get() => {}
            Some(Err(e)) => server.state.fail("accept_multi", e),
            None => {}
        });
    state.accept.set(Some(token));
}

fn run_server(
    backend: Backend,
    multishot: bool,
    ready: mpsc::Sender<(SocketAddr, LioWaker)>,
    stop: Arc<AtomicBool>,
) -> Result<usize, String> {
    let lio = common::driver(backend);
    let listener = TcpListener::bind(localhost_v4()).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    ready
        .send((addr, lio.waker().map_err(|e| e.to_string())?))
        .map_err(|e| e.to_string())?;
    let state = Shared::default();
    if multishot {
        multi_accept(&lio, &listener, &state);
    } else {
        accept_next(&lio, &listener, &state);
    }
    let give_up = Instant::now() + LIMIT + Duration::from_secs(10);
    while !stop.load(Ordering::Acquire) && Instant::now() < give_up {
        lio.run_timeout(Duration::from_millis(100))
            .map_err(|e| e.to_string())?;
    }
    // Cancel the accept, then let every operation finish, so that no callback (each owns a
    // driver handle) is left to keep the driver alive.
    state.stopping.set(true);
    if let Some(token) = state.accept.take() {
        let _ = lio.cancel(token).wait();
    }
    settle(&lio, &state, "server");
    if multishot {
        eprintln!(
            "{backend}: multishot server: {} receive streams ran out of buffers and were submitted again",
            state.enobufs.get()
        );
    }
    state.report("server")
}

// The client: connect, then `ROUNDS` times send a message and read it back whole.

fn message(id: usize, round: usize) -> Vec<u8> {
    (0..MESSAGE)
        .map(|i| (id * 31 + round * 7 + i) as u8)
        .collect()
}

fn connect(lio: &Lio, addr: SocketAddr, id: usize, state: &Shared) {
    let (lio2, state2) = (lio.clone(), state.clone());
    TcpStream::connect(lio, addr).when_done(move |result| match result {
        Ok(stream) => ping(&lio2, stream, id, 0, message(id, 0), &state2),
        Err(e) => state2.fail("connect", e),
    });
}

/// Sends (the rest of) round `round`'s message.
fn ping(lio: &Lio, stream: TcpStream, id: usize, round: usize, rest: Vec<u8>, state: &Shared) {
    let (lio2, state2) = (lio.clone(), state.clone());
    let write = stream.write(lio, rest);
    write.when_done(move |(result, mut rest)| match result {
        Ok(n) if n == rest.len() => pong(&lio2, stream, id, round, Vec::new(), &state2),
        Ok(n) => {
            rest.drain(..n);
            ping(&lio2, stream, id, round, rest, &state2);
        }
        Err(e) => state2.fail("client write", e),
    });
}

/// Reads round `round`'s echo until it is whole, checks it, and starts the next round.
fn pong(lio: &Lio, stream: TcpStream, id: usize, round: usize, got: Vec<u8>, state: &Shared) {
    let (lio2, state2) = (lio.clone(), state.clone());
    let read = stream.read(lio, Vec::with_capacity(MESSAGE - got.len()));
    read.when_done(move |(result, buf)| {
        let mut got = got;
        match result {
            Ok(0) => return state2.fail("client read", "the server closed the connection"),
            Ok(_) => got.extend_from_slice(&buf),
            Err(e) => return state2.fail("client read", e),
        }
        if got.len() < MESSAGE {
            return pong(&lio2, stream, id, round, got, &state2);
        }
        if got != message(id, round) {
            return state2.fail(
                "echo",
                format!("connection {id} round {round}: wrong bytes"),
            );
        }
        state2.bytes.set(state2.bytes.get() + MESSAGE);
        if round + 1 == ROUNDS {
            // Done: dropping the stream closes the connection.
            state2.ended.set(state2.ended.get() + 1);
        } else {
            ping(
                &lio2,
                stream,
                id,
                round + 1,
                message(id, round + 1),
                &state2,
            );
        }
    });
}

fn run_client(backend: Backend, addr: SocketAddr) -> Result<usize, String> {
    let lio = common::driver(backend);
    let state = Shared::default();
    for id in 0..CONNECTIONS {
        connect(&lio, addr, id, &state);
    }
    let give_up = Instant::now() + LIMIT;
    while state.ended.get() < CONNECTIONS {
        if Instant::now() >= give_up {
            return Err(format!(
                "client: only {} of {CONNECTIONS} connections finished within {LIMIT:?}",
                state.ended.get()
            ));
        }
        lio.run_timeout(Duration::from_millis(100))
            .map_err(|e| e.to_string())?;
    }
    settle(&lio, &state, "client");
    state.report("client")
}

/// Lets every operation finish and every callback run (5 s at most).
fn settle(lio: &Lio, state: &State, side: &str) {
    if !net_common::settle(lio, Duration::from_secs(5)) {
        state.fail(
            side,
            format!("{} operations still in flight", lio.in_flight()),
        );
    }
}

fn thousand_connections_of_a_hundred_round_trips(backend: Backend) {
    load(backend, false);
}

fn thousand_connections_against_a_multishot_server(backend: Backend) {
    load(backend, true);
}

/// Runs the client against a server (plain or multishot) and checks the outcome.
fn load(backend: Backend, multishot: bool) {
    if !raise_fd_limit(2 * CONNECTIONS as u64 + 256) {
        return;
    }
    let before = open_fds();
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || run_server(backend, multishot, ready_tx, stop))
    };
    let (addr, server_waker) = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server starts");
    let client = std::thread::spawn(move || run_client(backend, addr));
    let client_result = client.join().expect("the client thread");
    stop.store(true, Ordering::Release);
    server_waker.wake();
    let server_result = server.join().expect("the server thread");
    drop(server_waker);
    let elapsed = started.elapsed();
    eprintln!("{backend}: {CONNECTIONS} connections x {ROUNDS} rounds of {MESSAGE} bytes in {elapsed:.2?}");
    let bytes = client_result.unwrap_or_else(|e| panic!("{e}"));
    server_result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bytes, CONNECTIONS * ROUNDS * MESSAGE, "every byte echoed");
    assert_eq!(open_fds(), before, "descriptors left open:{}", fd_listing());
}
