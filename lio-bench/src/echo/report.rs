//! The echo tables: per case, each server's medians over the rounds and lio's ratios to
//! its baselines; then the goals.

use super::sample::{Pass, Sample};
use super::server::{Server, SERVERS};
use super::Case;
use crate::report::{median_of, number, print_notes, print_table};
use std::io;

/// Most server CPU per round trip lio may spend relative to its baseline (the raw
/// io-uring loop for io_uring, the mio loop for epoll).
const CPU_GOAL: f64 = 1.05;
/// Most single-connection p50 of lio relative to the raw loop's: no worse, within 1%
/// (the latency histogram's buckets are 0.4% wide, so two equal latencies may land a
/// bucket or two apart).
const LATENCY_GOAL: f64 = 1.01;

/// The notes under the echo tables.
const NOTES: &str = "\
kRT/s = round trips per second over all connections, in thousands
p50, p99 = round-trip time as the client sees it (first byte written to last byte read)
CPU µs/RT = the server thread's CPU time (user + system) over the window / round trips
CPU spread = (max - min) / median of CPU µs/RT over the rounds
syscalls/RT = the server thread's system calls / round trips, from one run per (case,
       server) before the timed rounds (the counters slow every syscall, so the timed
       rounds run without them); recv = read, readv, recvfrom, recvmsg, recvmmsg; send =
       write, writev, sendto, sendmsg, sendmmsg; wait = epoll_wait, epoll_pwait,
       epoll_pwait2, io_uring_enter; other = the rest
allocs/RT = heap allocations of the whole process / round trips (the client makes none)
ratios = medians of per-round ratios (the servers run back to back in a round)";

/// The runs of one (case, server): one entry per round, `None` where it failed or was
/// skipped.
type Rounds = Vec<Option<Sample>>;

/// The runs of one case.
struct CaseRuns {
    /// The case.
    case: Case,
    /// Each server's timed rounds.
    timed: [Rounds; SERVERS],
    /// Each server's syscall-counting run.
    counted: [Option<Sample>; SERVERS],
}

/// Every run's sample, per case and server, and the failures.
pub struct Results {
    /// Per case, in [`Case::ALL`] order.
    runs: Vec<CaseRuns>,
    /// Servers that failed a run; they are skipped from then on.
    broken: [bool; SERVERS],
    /// What failed, one line each.
    failures: Vec<String>,
}

impl Results {
    /// No runs yet.
    pub fn new() -> Results {
        Results {
            runs: Case::ALL
                .iter()
                .map(|&case| CaseRuns {
                    case,
                    timed: Default::default(),
                    counted: Default::default(),
                })
                .collect(),
            broken: [false; SERVERS],
            failures: Vec::new(),
        }
    }

    /// Whether `server` failed a run (and should be skipped).
    pub fn broken(&self, server: Server) -> bool {
        self.broken[server.index()]
    }

    /// Records one run of `server` on `case` for `pass`: its sample, its failure, or
    /// `None` when it was skipped.
    pub fn record(
        &mut self,
        case: Case,
        server: Server,
        pass: Pass,
        result: Option<io::Result<Sample>>,
    ) {
        let sample = match result {
            Some(Ok(sample)) => Some(sample),
            Some(Err(e)) => {
                let (name, label) = (server.name(), case.label());
                self.failures.push(format!("{name}, {label}: {e}"));
                self.broken[server.index()] = true;
                None
            }
            None => None,
        };
        let Some(runs) = self.runs.iter_mut().find(|runs| runs.case == case) else {
            return;
        };
        match pass {
            Pass::CountSyscalls => runs.counted[server.index()] = sample,
            Pass::Timed => runs.timed[server.index()].push(sample),
        }
    }

    /// What failed, one line each.
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Prints a table per case, the notes, and the goals.
    pub fn print(&self) {
        for runs in &self.runs {
            print_case(runs);
        }
        print_notes(NOTES);
        println!();
        self.print_goals();
        for failure in &self.failures {
            println!("FAILED: {failure}");
        }
    }

    /// Prints the goal lines, each with its verdict.
    fn print_goals(&self) {
        let runs = |case: Case| self.runs.iter().find(|runs| runs.case == case);
        let big = Case::new(64, 64);
        if let Some(runs) = runs(big) {
            let cpu = |a: Server, b: Server| {
                let value = ratio(&runs.timed, a, b, |s| Some(s.cpu_per_rt()));
                let (a, b) = (a.name(), b.name());
                println!(
                    "server CPU/RT, {}, {a} / {b} = {}",
                    big.label(),
                    verdict(value, CPU_GOAL)
                );
            };
            cpu(Server::Lio, Server::Raw);
            cpu(Server::LioEpoll, Server::Mio);
            print_syscall_goal(big, runs.counted[Server::LioEpoll.index()].as_ref());
        }
        for size in [64, 4096] {
            let single = Case::new(1, size);
            if let Some(runs) = runs(single) {
                let value = ratio(&runs.timed, Server::Lio, Server::Raw, |s| {
                    Some(s.p50.as_secs_f64())
                });
                println!(
                    "p50 latency, {}, lio / raw io-uring = {}",
                    single.label(),
                    verdict(value, LATENCY_GOAL)
                );
            }
        }
    }
}

/// Prints the table of one case: one row per server, then lio's ratios.
fn print_case(runs: &CaseRuns) {
    let CaseRuns {
        case,
        timed: rounds,
        counted,
    } = runs;
    println!(
        "Echo, {}: ping-pong over loopback TCP, medians of the rounds",
        case.label()
    );
    let mut rows = vec![[
        "server",
        "kRT/s",
        "p50 µs",
        "p99 µs",
        "CPU µs/RT",
        "CPU spread",
        "syscalls/RT",
        "recv",
        "send",
        "wait",
        "other",
        "allocs/RT",
    ]
    .map(str::to_owned)
    .to_vec()];
    for server in Server::ALL {
        let samples = &rounds[server.index()];
        let median_cell = |f: &dyn Fn(&Sample) -> Option<f64>| cell(median(samples, f));
        let mut row = vec![
            server.name().to_owned(),
            median_cell(&|s| Some(s.rate() / 1e3)),
            median_cell(&|s| Some(s.p50.as_secs_f64() * 1e6)),
            median_cell(&|s| Some(s.p99.as_secs_f64() * 1e6)),
            median_cell(&|s| Some(s.cpu_per_rt())),
            spread(samples, Sample::cpu_per_rt),
        ];
        let syscalls = counted[server.index()]
            .as_ref()
            .and_then(Sample::syscalls_per_rt);
        for family in 0..5 {
            row.push(cell(syscalls.map(|c| c[family])));
        }
        row.push(allocs_per_rt(samples));
        rows.push(row);
    }
    print_table(&rows);
    let ratio = |a, b, f: fn(&Sample) -> f64| cell(ratio(rounds, a, b, |s| Some(f(s))));
    let cpu: fn(&Sample) -> f64 = Sample::cpu_per_rt;
    let p50: fn(&Sample) -> f64 = |s| s.p50.as_secs_f64();
    println!(
        "  lio / raw io-uring: CPU/RT {}, p50 {};  lio (epoll) / mio: CPU/RT {}, p50 {};  \
         lio / tokio: CPU/RT {}",
        ratio(Server::Lio, Server::Raw, cpu),
        ratio(Server::Lio, Server::Raw, p50),
        ratio(Server::LioEpoll, Server::Mio, cpu),
        ratio(Server::LioEpoll, Server::Mio, p50),
        ratio(Server::Lio, Server::Tokio, cpu),
    );
    println!(
        "  lio multishot / raw io-uring: CPU/RT {}, p50 {};  lio multishot (epoll) / mio: \
         CPU/RT {}, p50 {}",
        ratio(Server::LioMultishot, Server::Raw, cpu),
        ratio(Server::LioMultishot, Server::Raw, p50),
        ratio(Server::LioMultishotEpoll, Server::Mio, cpu),
        ratio(Server::LioMultishotEpoll, Server::Mio, p50),
    );
    let reason = counted
        .iter()
        .flatten()
        .find_map(|s| s.cost.syscalls.as_ref()?.as_ref().err());
    if let Some(reason) = reason {
        println!("  syscalls: n/a ({reason})");
    }
    println!();
}

/// Prints lio on epoll's receives, sends and other system calls per round trip on `case`
/// (from its syscall-counting run) against the goal: one receive and one send per round
/// trip, shared waits, nothing else. The round trips in flight at the window's edges
/// (one per connection at each edge) may add up to `connections` calls of a kind, so
/// the goal allows `connections / round trips` more.
fn print_syscall_goal(case: Case, counted: Option<&Sample>) {
    let label = case.label();
    let Some((sample, [_, recv, send, wait, other])) =
        counted.and_then(|s| Some((s, s.syscalls_per_rt()?)))
    else {
        println!("syscalls/RT, {label}, lio (epoll): n/a (not counted)");
        return;
    };
    let slack = case.connections as f64 / sample.round_trips.max(1) as f64;
    let met = recv <= 1.0 + slack && send <= 1.0 + slack && other <= slack;
    let verdict = if met { "met" } else { "NOT met" };
    println!(
        "syscalls/RT, {label}, lio (epoll): recv {recv:.3}, send {send:.3}, wait {wait:.3}, \
         other {other:.3} (goal: 1 recv, 1 send, shared waits, no other, each + {slack:.3} for \
         the window's edges): {verdict}"
    );
}

/// A value as printed: three or so significant digits, or "n/a".
fn cell(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), number)
}

/// A ratio against its goal (at most `goal`), with the verdict.
fn verdict(value: Option<f64>, goal: f64) -> String {
    match value {
        Some(r) if r <= goal => format!("{r:.2} (goal ≤ {goal:.2}): met"),
        Some(r) => format!("{r:.2} (goal ≤ {goal:.2}): NOT met"),
        None => format!("n/a (goal ≤ {goal:.2})"),
    }
}

/// The median over the rounds of `f` of each sample.
fn median(samples: &Rounds, f: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
    median_of(samples.iter().flatten().filter_map(f).collect())
}

/// The median over the rounds of `f` of `a`'s sample divided by `f` of `b`'s in the same
/// round, or `None` if no round has both.
fn ratio(
    rounds: &[Rounds; SERVERS],
    a: Server,
    b: Server,
    f: impl Fn(&Sample) -> Option<f64>,
) -> Option<f64> {
    let (a, b) = (&rounds[a.index()], &rounds[b.index()]);
    let ratios = a
        .iter()
        .zip(b)
        .filter_map(|(a, b)| Some(f(a.as_ref()?)? / f(b.as_ref()?)?))
        .filter(|r| r.is_finite())
        .collect();
    median_of(ratios)
}

/// `(max - min) / median` of `f` over the rounds, as a percentage.
fn spread(samples: &Rounds, f: fn(&Sample) -> f64) -> String {
    let values: Vec<f64> = samples.iter().flatten().map(f).collect();
    let Some(median) = median_of(values.clone()) else {
        return "n/a".to_owned();
    };
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    format!("{:.0}%", (max - min) / median * 100.0)
}

/// Heap allocations per round trip over all the rounds.
fn allocs_per_rt(samples: &Rounds) -> String {
    let allocs: u64 = samples.iter().flatten().map(|s| s.cost.allocs).sum();
    let round_trips: u64 = samples.iter().flatten().map(|s| s.round_trips).sum();
    if round_trips == 0 {
        return "n/a".to_owned();
    }
    format!("{:.3}", allocs as f64 / round_trips as f64)
}
