//! The echo workload: TCP ping-pong over loopback, 1 and 64 connections × 64 B and 4 KiB
//! messages, against five servers: lio on io_uring and on epoll (callback style), a raw
//! io-uring loop, a hand-written mio loop and tokio's current-thread runtime.
//!
//! Each run starts a fresh server thread pinned to one CPU and drives it with the one
//! shared mio client ([`client`]) on a thread pinned to another. The client keeps one
//! message in flight per connection, warms up, then measures a window: round trips per
//! second and their latency on its side; on the server's side the thread's CPU time,
//! system calls (perf counters on `raw_syscalls:sys_enter`) and the process's heap
//! allocations, read at the window's exact edges ([`probe`]). The servers run one after
//! the other in each round, round after round; the report shows medians.

mod affinity;
mod client;
mod cpu;
mod histogram;
mod lio_multishot_server;
mod lio_server;
mod mio_server;
mod probe;
mod raw_uring_server;
mod report;
mod sample;
mod server;
mod syscalls;
mod tokio_server;

use crate::config::Config;
use crate::report::print_notes;
use affinity::Placement;
use report::Results;
use sample::{Pass, Sample};
use server::Server;
use std::io;
use std::thread;
use std::time::Duration;

/// A connection count and a message size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    /// Connections, each with one message in flight.
    pub connections: usize,
    /// Bytes per message.
    pub size: usize,
}

impl Case {
    /// Every case, in report order.
    pub const ALL: [Case; 4] = [
        Case::new(1, 64),
        Case::new(1, 4096),
        Case::new(64, 64),
        Case::new(64, 4096),
    ];

    /// `connections` connections with messages of `size` bytes.
    const fn new(connections: usize, size: usize) -> Case {
        Case { connections, size }
    }

    /// E.g. "64 connections × 4 KiB".
    pub fn label(self) -> String {
        let plural = if self.connections == 1 { "" } else { "s" };
        let size = if self.size.is_multiple_of(1024) {
            format!("{} KiB", self.size / 1024)
        } else {
            format!("{} B", self.size)
        };
        format!("{} connection{plural} × {size}", self.connections)
    }
}

/// How long each run lasts, and how many rounds there are.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Rounds over every (case, server).
    pub rounds: usize,
    /// Ping-pong before the window, not measured.
    pub warmup: Duration,
    /// The measured window of each run.
    pub budget: Duration,
}

/// Runs every case on every server, round after round, and prints the tables. Fails,
/// after printing, if any run failed.
pub fn run(config: &Config) -> io::Result<()> {
    let timing = Timing {
        rounds: config.echo_rounds,
        warmup: config.echo_warmup,
        budget: config.echo_budget,
    };
    let placement = Placement::choose();
    print_header(&timing, placement);
    let results = thread::Builder::new()
        .name("echo client".to_owned())
        .spawn(move || measure(&timing, placement))?
        .join()
        .map_err(|_| io::Error::other("the echo client thread panicked"))??;
    results.print();
    match results.failures().len() {
        0 => Ok(()),
        n => Err(io::Error::other(format!("{n} echo run(s) failed"))),
    }
}

/// Pins this thread (the client's), counts every server's system calls in a first round,
/// then runs the timed rounds.
fn measure(timing: &Timing, placement: Placement) -> io::Result<Results> {
    placement.pin_client()?;
    let mut results = Results::new();
    eprintln!("echo: counting system calls");
    run_round(&mut results, timing, placement, Pass::CountSyscalls);
    for round in 1..=timing.rounds {
        eprintln!("echo round {round}/{}", timing.rounds);
        run_round(&mut results, timing, placement, Pass::Timed);
    }
    Ok(results)
}

/// Runs every case on every server that has not failed yet, once.
fn run_round(results: &mut Results, timing: &Timing, placement: Placement, pass: Pass) {
    for case in Case::ALL {
        for server in Server::ALL {
            let result = (!results.broken(server))
                .then(|| Sample::measure(server, case, timing, placement, pass));
            results.record(case, server, pass, result);
        }
    }
}

/// How the echo workload runs, printed under its heading.
const METHOD: &str = "\
client:          one mio loop for every server, one message in flight per connection
servers:         lio and lio (epoll): callbacks (when_done), a Vec per connection;
                 lio multishot: accept_multi, one recv_multi per connection into a
                 buffer pool, each piece sent back from its pool buffer;
                 raw io-uring: recv/send SQEs, one submit_and_wait(1) per loop;
                 mio: edge-triggered, a short read ends reading until the next edge;
                 tokio: current-thread runtime, a task per connection (read, write_all)
CPU:             the server thread's CPU-time clock (pthread_getcpuclockid), read by the
                 client at the window's edges
syscalls:        the server thread's, perf_event_open counters on raw_syscalls:sys_enter,
                 in a first round of their own: while they exist every syscall on the
                 machine takes the slower traced path";

/// Prints how the echo workload is run.
fn print_header(timing: &Timing, placement: Placement) {
    println!();
    println!("Echo workload");
    let placement = match placement {
        Placement::Pinned { server, client } => {
            format!("server thread on CPU {server}, client thread on CPU {client}")
        }
        Placement::Unpinned(reason) => format!("threads not pinned ({reason})"),
    };
    println!("  placement:       {placement}");
    print_notes(METHOD);
    let (warmup, budget) = (timing.warmup.as_millis(), timing.budget.as_millis());
    println!("  method:          per (case, server) a fresh server, {warmup} ms warm-up, then a {budget} ms");
    println!(
        "                   window; {} timed round(s), servers interleaved in each; medians shown",
        timing.rounds
    );
    println!();
}
