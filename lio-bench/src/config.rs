//! Run settings: the full run or the quick smoke test, and where the files go.

use std::path::PathBuf;
use std::time::Duration;

/// The command-line usage, printed by `--help`.
pub const USAGE: &str = "\
usage: lio-bench [--quick]

Compares lio, on its io_uring and its epoll backend, with the raw io-uring crate, plain
syscalls and tokio::fs on NOPs, page-cache reads and buffered writes; then runs a TCP echo
(ping-pong) workload, 1 and 64 connections x 64 B and 4 KiB, with lio against a raw
io-uring loop, a mio loop and tokio (round trips/s, p50/p99 latency, server CPU and
syscalls per round trip). Prints tables of medians.

  --quick    a tiny run (a few seconds), as CI's smoke test; also LIO_BENCH_QUICK=1

environment:
  LIO_BENCH_QUICK=1   same as --quick
  LIO_BENCH_DIR=DIR   where to create the bench files (default: the system temp dir)";

/// What one invocation runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Whether this is the quick smoke test.
    pub quick: bool,
    /// Directory of the bench files.
    pub dir: PathBuf,
    /// Size of the file the read workloads read.
    pub read_len: u64,
    /// Size of the region the write workload overwrites, wrapping around.
    pub write_len: u64,
    /// Measured runs of each (workload, stack) pair; the report shows their median.
    pub rounds: usize,
    /// Time each measured run takes.
    pub budget: Duration,
    /// Time of the one untimed warm-up run of each pair.
    pub warmup: Duration,
    /// Timed rounds of the echo workload over every (case, server), after its one
    /// syscall-counting round.
    pub echo_rounds: usize,
    /// Untimed ping-pong before each echo run's window.
    pub echo_warmup: Duration,
    /// The measured window of each echo run.
    pub echo_budget: Duration,
}

impl Config {
    /// Reads the settings from the command-line arguments (without the program name) and
    /// the environment. `Ok(None)` means `--help` was asked for.
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
        let mut quick = std::env::var("LIO_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        for arg in args {
            match arg.as_str() {
                "--quick" => quick = true,
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
            }
        }
        let dir = std::env::var_os("LIO_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        const MIB: u64 = 1 << 20;
        Ok(Some(if quick {
            Config {
                quick,
                dir,
                read_len: 16 * MIB,
                write_len: 4 * MIB,
                rounds: 3,
                budget: Duration::from_millis(10),
                warmup: Duration::from_millis(2),
                echo_rounds: 1,
                echo_warmup: Duration::from_millis(5),
                echo_budget: Duration::from_millis(20),
            }
        } else {
            Config {
                quick,
                dir,
                read_len: 256 * MIB,
                write_len: 64 * MIB,
                rounds: 9,
                budget: Duration::from_millis(150),
                warmup: Duration::from_millis(50),
                echo_rounds: 15,
                echo_warmup: Duration::from_millis(20),
                echo_budget: Duration::from_millis(60),
            }
        }))
    }
}
