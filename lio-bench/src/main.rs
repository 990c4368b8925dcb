//! `lio-bench`: lio on both of its backends against the raw `io-uring` crate, plain
//! syscalls, `tokio::fs`, mio and tokio's networking, in one run.
//!
//! Every file workload runs through the five stacks in turn (lio on io_uring, lio on epoll,
//! raw io-uring, std, tokio::fs), round after round, so that drift in the machine touches
//! all of them alike; the report shows the median of the rounds and lio's ratio to each
//! baseline. Then the echo workload ([`echo`]) runs TCP ping-pong against five servers
//! (lio on io_uring and on epoll, a raw io-uring loop, a mio loop, tokio) with one shared
//! client, and reports round trips/s, latency and the server's CPU and syscalls per round
//! trip. `--quick` (or `LIO_BENCH_QUICK=1`) runs a tiny version as a smoke test.

#![deny(clippy::undocumented_unsafe_blocks)]

mod alloc_count;
mod config;
mod echo;
mod files;
mod join;
mod lio_stack;
mod measure;
mod raw_uring;
mod report;
mod rng;
mod stack;
mod std_stack;
mod sysinfo;
mod tokio_stack;
mod workload;

use config::{Config, USAGE};
use files::BenchFiles;
use lio::Backend;
use lio_stack::LioStack;
use raw_uring::RawStack;
use report::Results;
use stack::Stack;
use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;
use std_stack::StdStack;
use tokio_stack::TokioStack;
use workload::Workload;

/// Counts heap allocations, for the allocations-per-op column.
#[global_allocator]
static ALLOCATOR: alloc_count::CountingAlloc = alloc_count::CountingAlloc;

fn main() -> ExitCode {
    let started = Instant::now();
    match Config::parse(std::env::args().skip(1)) {
        Ok(Some(config)) => match run(&config) {
            Ok(()) => {
                println!();
                println!("total runtime: {:.1} s", started.elapsed().as_secs_f64());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lio-bench: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lio-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Creates the files, runs every file workload on every stack and prints the report, then
/// runs and reports the echo workload.
fn run(config: &Config) -> Result<(), Box<dyn Error>> {
    const MIB: u64 = 1 << 20;
    let files = std::fs::create_dir_all(&config.dir)
        .and_then(|()| BenchFiles::create(&config.dir, config.read_len, config.write_len))
        .map_err(|e| {
            let dir = config.dir.display();
            format!("cannot create the bench files in {dir} (set LIO_BENCH_DIR): {e}")
        })?;
    let lio = LioStack::new(&files, Backend::IoUring, "lio")?;
    let epoll = LioStack::new(&files, Backend::Epoll, "lio (epoll)")?;
    let raw = RawStack::new(&files)?;
    let std = StdStack::new(&files)?;
    let tokio = TokioStack::new(&files)?;

    let mode = if config.quick { " (quick mode)" } else { "" };
    println!("lio-bench{mode}");
    println!(
        "  lio backends:    lio = {}, lio (epoll) = {} (cached reads inline, the rest of file I/O on lio's blocking pool)",
        lio.backend(),
        epoll.backend()
    );
    println!("  tokio::fs:       current-thread runtime, file I/O on tokio's blocking pool");
    println!("  raw ring flags:  {}", raw.flags());
    println!("  kernel:          {}", sysinfo::kernel_release());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!("  CPUs:            {cpus}");
    let fs = sysinfo::fs_type(files.dir()).unwrap_or_else(|| "unknown".to_owned());
    println!("  files:           {} ({fs})", files.dir().display());
    println!(
        "  sizes:           read file {} MiB (page cache), write region {} MiB",
        files.read_len / MIB,
        files.write_len / MIB
    );
    println!(
        "  method:          {} rounds of {} ms per (workload, stack) after one warm-up run,",
        config.rounds,
        config.budget.as_millis()
    );

    // In the column order of `report`.
    let mut stacks: [Box<dyn Stack>; report::STACKS] = [
        Box::new(lio),
        Box::new(epoll),
        Box::new(raw),
        Box::new(std),
        Box::new(tokio),
    ];
    let names = stacks.each_ref().map(|s| s.name());
    println!(
        "                   stacks interleaved {}; medians shown",
        names.join(", ")
    );
    println!();

    for workload in Workload::ALL {
        for stack in &mut stacks {
            stack.run(workload, config.warmup)?;
        }
    }
    let mut results = Results::new(names);
    for round in 1..=config.rounds {
        eprintln!("round {round}/{}", config.rounds);
        for workload in Workload::ALL {
            for (index, stack) in stacks.iter_mut().enumerate() {
                if let Some(sample) = stack.run(workload, config.budget)? {
                    results.record(workload, index, sample);
                }
            }
        }
    }
    results.print();
    echo::run(config)?;
    Ok(())
}
