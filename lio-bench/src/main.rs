//! `lio-bench`: lio against the raw `io-uring` crate and plain syscalls, in one run.
//!
//! Every workload runs through the three stacks in turn (lio, raw io-uring, std), round
//! after round, so that drift in the machine touches all of them alike; the report shows
//! the median of the rounds and lio's ratio to each baseline. `--quick` (or
//! `LIO_BENCH_QUICK=1`) runs a tiny version as a smoke test.

#![deny(clippy::undocumented_unsafe_blocks)]

mod alloc_count;
mod config;
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
mod workload;

use config::{Config, USAGE};
use files::BenchFiles;
use lio_stack::LioStack;
use raw_uring::RawStack;
use report::Results;
use stack::Stack;
use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;
use std_stack::StdStack;
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

/// Creates the files, runs every workload on every stack and prints the report.
fn run(config: &Config) -> Result<(), Box<dyn Error>> {
    const MIB: u64 = 1 << 20;
    let files = std::fs::create_dir_all(&config.dir)
        .and_then(|()| BenchFiles::create(&config.dir, config.read_len, config.write_len))
        .map_err(|e| {
            let dir = config.dir.display();
            format!("cannot create the bench files in {dir} (set LIO_BENCH_DIR): {e}")
        })?;
    let lio = LioStack::new(&files)?;
    let raw = RawStack::new(&files)?;
    let std = StdStack::new(&files)?;

    let mode = if config.quick { " (quick mode)" } else { "" };
    println!("lio-bench{mode}");
    println!("  lio backend:     {:?}", lio.backend());
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
    println!("                   stacks interleaved lio, raw, std; medians shown");
    println!();

    let mut stacks: [Box<dyn Stack>; 3] = [Box::new(lio), Box::new(raw), Box::new(std)];
    for workload in Workload::ALL {
        for stack in &mut stacks {
            stack.run(workload, config.warmup)?;
        }
    }
    let mut results = Results::new(stacks.each_ref().map(|s| s.name()));
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
    Ok(())
}
