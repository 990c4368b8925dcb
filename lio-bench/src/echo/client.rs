//! The one echo client every server is measured with: a hand-written mio loop on its own
//! thread. Each connection keeps one message in flight: write it, read until all of it
//! came back, check it, note the round trip's time, and write the next at once. The loop
//! allocates nothing per round trip: the buffers and the latency histogram exist before
//! the first message.

use super::histogram::Histogram;
use super::probe::{Cost, Probe};
use super::Case;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long connecting may take, and how long the server may leave every connection
/// without a reply before the run fails.
const STALL: Duration = Duration::from_secs(5);
/// The longest wait for events, so that the phases change on time even if a server stalls.
const TICK: Duration = Duration::from_millis(100);

/// What the client measured over the window, and what the server spent in it.
pub struct Outcome {
    /// Round trips completed in the window, over all connections.
    pub round_trips: u64,
    /// The window's length.
    pub elapsed: Duration,
    /// Round-trip times of the window.
    pub latency: Histogram,
    /// The server's costs over the window.
    pub cost: Cost,
}

/// Where the run is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Round trips before the window: not counted.
    Warmup,
    /// The measured window.
    Measure,
    /// After the window: each connection finishes its round trip and stops.
    Drain,
}

/// One connection and its message in flight.
struct Conn {
    /// The socket.
    stream: TcpStream,
    /// Bytes of the message written so far.
    sent: usize,
    /// What came back so far.
    reply: Box<[u8]>,
    /// Bytes of the reply received so far.
    got: usize,
    /// When the message in flight was first written.
    started: Instant,
    /// Stopped after its last round trip (drain phase).
    idle: bool,
}

/// The client's state.
struct Client {
    /// The connections; each one's token is its index.
    conns: Vec<Conn>,
    /// The message every round trip sends.
    message: Box<[u8]>,
    /// The current phase.
    phase: Phase,
    /// Round trips completed in the window.
    round_trips: u64,
    /// Round-trip times of the window.
    latency: Histogram,
    /// When a round trip last completed.
    progress: Instant,
    /// Connections stopped in the drain phase.
    idle: usize,
}

/// Connects `case.connections` times to `addr` and runs ping-pong for `warmup`, then for
/// the measured `budget` (opening and closing `probe`'s window at its edges), then lets
/// every round trip in flight finish and closes the connections.
pub fn run(
    addr: SocketAddr,
    case: Case,
    warmup: Duration,
    budget: Duration,
    probe: &mut Probe,
) -> io::Result<Outcome> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(256);
    let mut client = Client::connect(&poll, addr, case)?;
    let start = Instant::now();
    for index in 0..client.conns.len() {
        client.drive(index)?;
    }
    let (mut opened, mut elapsed, mut cost) = (start, Duration::ZERO, None);
    while client.idle < client.conns.len() {
        match poll.poll(&mut events, Some(TICK)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for event in &events {
            client.drive(event.token().0)?;
        }
        let now = Instant::now();
        match client.phase {
            Phase::Warmup if now - start >= warmup => {
                probe.start()?;
                opened = Instant::now();
                client.phase = Phase::Measure;
            }
            Phase::Measure if now - opened >= budget => {
                elapsed = opened.elapsed();
                cost = Some(probe.stop()?);
                client.phase = Phase::Drain;
            }
            _ => {}
        }
        if now - client.progress >= STALL {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no echo for {STALL:?}"),
            ));
        }
    }
    let cost = cost.ok_or_else(|| io::Error::other("the run ended before its window"))?;
    Ok(Outcome {
        round_trips: client.round_trips,
        elapsed,
        latency: client.latency,
        cost,
    })
}

impl Client {
    /// Opens the connections (blocking connects, then non-blocking sockets with
    /// `TCP_NODELAY`), each registered for reads and writes, edge-triggered.
    fn connect(poll: &Poll, addr: SocketAddr, case: Case) -> io::Result<Client> {
        let message: Box<[u8]> = (0..case.size).map(|i| (i * 31 + 7) as u8).collect();
        let mut conns = Vec::with_capacity(case.connections);
        for index in 0..case.connections {
            let stream = std::net::TcpStream::connect_timeout(&addr, STALL)
                .map_err(|e| io::Error::new(e.kind(), format!("connect {index}: {e}")))?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            let mut stream = TcpStream::from_std(stream);
            poll.registry().register(
                &mut stream,
                Token(index),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            conns.push(Conn {
                stream,
                sent: 0,
                reply: vec![0; case.size].into_boxed_slice(),
                got: 0,
                started: Instant::now(),
                idle: false,
            });
        }
        Ok(Client {
            conns,
            message,
            phase: Phase::Warmup,
            round_trips: 0,
            latency: Histogram::new(),
            progress: Instant::now(),
            idle: 0,
        })
    }

    /// Moves connection `index` on as far as its socket allows: writes the rest of the
    /// message, or reads the reply; a complete reply ends the round trip and starts the
    /// next. After writing the whole message it waits for the readable edge the reply
    /// brings rather than trying a read that would find nothing.
    fn drive(&mut self, index: usize) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(index) else {
            return Ok(());
        };
        let size = self.message.len();
        while !conn.idle {
            if conn.sent < size {
                match conn.stream.write(&self.message[conn.sent..]) {
                    Ok(0) => return Err(io::Error::other("write: no progress")),
                    Ok(n) => conn.sent += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io::Error::new(e.kind(), format!("write: {e}"))),
                }
                if conn.sent == size {
                    return Ok(());
                }
                continue;
            }
            match conn.stream.read(&mut conn.reply[conn.got..]) {
                Ok(0) => return Err(io::Error::other("the server closed the connection")),
                Ok(n) => conn.got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io::Error::new(e.kind(), format!("read: {e}"))),
            }
            if conn.got < size {
                // Short of the whole reply: the socket is drained until the next edge.
                return Ok(());
            }
            if conn.reply != self.message {
                return Err(io::Error::other("the echo differs from the message"));
            }
            let now = Instant::now();
            if self.phase == Phase::Measure {
                self.latency.record(now - conn.started);
                self.round_trips += 1;
            }
            self.progress = now;
            (conn.sent, conn.got, conn.started) = (0, 0, now);
            if self.phase == Phase::Drain {
                conn.idle = true;
                self.idle += 1;
            }
        }
        Ok(())
    }
}
