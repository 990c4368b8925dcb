//! One measured run of one server on one case, and the figures derived from it.

use super::affinity::Placement;
use super::client;
use super::probe::{Cost, Probe};
use super::server::Server;
use super::{Case, Timing};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a server may take to exit once its clients are gone.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long each unblocking connection may take.
const UNBLOCK_TIMEOUT: Duration = Duration::from_millis(100);

/// What a run is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Counting the server's system calls; its CPU time and latency are not reported, as
    /// the counters slow every system call down.
    CountSyscalls,
    /// Measuring throughput, latency, CPU time and allocations, without syscall counters.
    Timed,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Round trips completed in the window, over all connections.
    pub round_trips: u64,
    /// The window's length.
    pub elapsed: Duration,
    /// Median round-trip time.
    pub p50: Duration,
    /// 99th-percentile round-trip time.
    pub p99: Duration,
    /// The server's costs over the window.
    pub cost: Cost,
}

impl Sample {
    /// Starts `server` on its own thread, runs the shared client against it for `case`
    /// with `timing`, and waits for the server to exit.
    pub fn measure(
        server: Server,
        case: Case,
        timing: &Timing,
        placement: Placement,
        pass: Pass,
    ) -> io::Result<Sample> {
        let running = server.start(case.connections, placement)?;
        let addr = running.addr;
        let mut probe = Probe::new(running.cpu, running.tid, pass == Pass::CountSyscalls);
        let outcome = client::run(addr, case, timing.warmup, timing.budget, &mut probe);
        drop(probe);
        if outcome.is_err() {
            unblock(addr, case.connections);
        }
        let outcome = match (outcome, running.join(JOIN_TIMEOUT)) {
            (Ok(outcome), Ok(())) => outcome,
            (_, Err(e)) => return Err(io::Error::new(e.kind(), format!("server: {e}"))),
            (Err(e), Ok(())) => return Err(io::Error::new(e.kind(), format!("client: {e}"))),
        };
        let quantile = |q| outcome.latency.quantile(q).unwrap_or_default();
        Ok(Sample {
            round_trips: outcome.round_trips,
            elapsed: outcome.elapsed,
            p50: quantile(0.5),
            p99: quantile(0.99),
            cost: outcome.cost,
        })
    }

    /// Round trips per second.
    pub fn rate(&self) -> f64 {
        self.round_trips as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU time per round trip, in microseconds.
    pub fn cpu_per_rt(&self) -> f64 {
        self.cost.cpu.as_secs_f64() * 1e6 / self.round_trips.max(1) as f64
    }

    /// Server system calls per round trip: all, then the receive, send, wait and other
    /// families; `None` if they were not counted.
    pub fn syscalls_per_rt(&self) -> Option<[f64; 5]> {
        let counts = self.cost.syscalls.as_ref()?.as_ref().ok()?;
        let per_rt = |n: u64| n as f64 / self.round_trips.max(1) as f64;
        Some([
            per_rt(counts.total),
            per_rt(counts.recv),
            per_rt(counts.send),
            per_rt(counts.wait),
            per_rt(counts.other()),
        ])
    }
}

/// Connects and at once disconnects `connections` times, so that a server still waiting
/// to accept the connections of a failed client sees them close and exits.
fn unblock(addr: SocketAddr, connections: usize) {
    for _ in 0..connections {
        // Failing to connect means the server no longer listens: nothing to unblock.
        let _ = TcpStream::connect_timeout(&addr, UNBLOCK_TIMEOUT);
    }
}
