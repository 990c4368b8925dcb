//! The echo servers under comparison, and running one on a thread of its own.

use super::affinity::Placement;
use super::cpu::CpuClock;
use super::{lio_multishot_server, lio_server, mio_server, raw_uring_server, tokio_server};
use lio::Backend;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Capacity of each connection's buffer in every server: larger than the largest message,
/// so that a short read means the socket is drained.
pub const BUF: usize = 16 * 1024;

/// How long a server thread may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// One echo server implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// lio on io_uring, callback style.
    Lio,
    /// lio on epoll, the same code.
    LioEpoll,
    /// lio on io_uring with multishot accept and receive into a buffer pool.
    LioMultishot,
    /// lio on epoll, the same multishot code.
    LioMultishotEpoll,
    /// The hand-written raw io-uring loop.
    Raw,
    /// The hand-written mio loop.
    Mio,
    /// tokio's current-thread runtime, a task per connection.
    Tokio,
}

/// Number of servers compared.
pub const SERVERS: usize = Server::ALL.len();

impl Server {
    /// Every server, in the order they run and the report lists them.
    pub const ALL: [Server; 7] = [
        Server::Lio,
        Server::LioEpoll,
        Server::LioMultishot,
        Server::LioMultishotEpoll,
        Server::Raw,
        Server::Mio,
        Server::Tokio,
    ];

    /// The row label in the report.
    pub fn name(self) -> &'static str {
        match self {
            Server::Lio => "lio",
            Server::LioEpoll => "lio (epoll)",
            Server::LioMultishot => "lio multishot",
            Server::LioMultishotEpoll => "lio multishot (epoll)",
            Server::Raw => "raw io-uring",
            Server::Mio => "mio",
            Server::Tokio => "tokio",
        }
    }

    /// The position of this server in [`Server::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Accepts `connections` connections on `listener` and echoes them until each peer
    /// closes its connection.
    fn serve(self, listener: TcpListener, connections: usize) -> io::Result<()> {
        match self {
            Server::Lio => lio_server::serve(Backend::IoUring, listener, connections),
            Server::LioEpoll => lio_server::serve(Backend::Epoll, listener, connections),
            Server::LioMultishot => {
                lio_multishot_server::serve(Backend::IoUring, listener, connections)
            }
            Server::LioMultishotEpoll => {
                lio_multishot_server::serve(Backend::Epoll, listener, connections)
            }
            Server::Raw => raw_uring_server::serve(listener, connections),
            Server::Mio => mio_server::serve(listener, connections),
            Server::Tokio => tokio_server::serve(listener, connections),
        }
    }

    /// Starts the server on a new thread pinned per `placement`, listening on a free port
    /// of 127.0.0.1, for `connections` connections.
    pub fn start(self, connections: usize, placement: Placement) -> io::Result<Running> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let (ready, started) = mpsc::sync_channel(1);
        let handle = thread::Builder::new()
            .name(format!("echo {}", self.name()))
            .spawn(move || {
                if let Err(e) = placement.pin_server() {
                    let _ = ready.send(Err(e));
                    return Ok(());
                }
                // SAFETY: `gettid` has no preconditions.
                let _ = ready.send(Ok(unsafe { libc::gettid() }));
                drop(ready);
                self.serve(listener, connections)
            })?;
        let tid = match started.recv_timeout(START_TIMEOUT) {
            Ok(Ok(tid)) => tid,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::other("the server thread did not start")),
        };
        Ok(Running {
            addr,
            tid,
            cpu: CpuClock::of(&handle)?,
            handle,
        })
    }
}

/// A server running on its thread.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its thread's id, for the syscall counters.
    pub tid: libc::pid_t,
    /// Its thread's CPU-time clock.
    pub cpu: CpuClock,
    /// The thread, which returns the server's result.
    handle: JoinHandle<io::Result<()>>,
}

impl Running {
    /// Waits up to `timeout` for the server to finish and returns its result. A server
    /// still running then is left behind (its thread detached) with a `TimedOut` error,
    /// rather than hanging the bench.
    pub fn join(self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.handle.is_finished() {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the server did not exit within {timeout:?} of its clients closing"),
                ));
            }
            thread::sleep(Duration::from_millis(1));
        }
        self.handle
            .join()
            .map_err(|_| io::Error::other("the server thread panicked"))?
    }
}
