//! Collecting the samples and printing the tables of medians and ratios.

use crate::measure::Sample;
use crate::workload::{Metric, Workload};

/// Number of stacks compared.
pub const STACKS: usize = 5;
/// Column of each stack in the results, in the order the stacks run: lio on io_uring.
pub const LIO: usize = 0;
/// The lio on epoll column.
pub const EPOLL: usize = 1;
/// The raw io-uring column.
pub const RAW: usize = 2;
/// The std (plain syscalls) column.
pub const STD: usize = 3;
/// The `tokio::fs` column.
pub const TOKIO: usize = 4;

/// The target of the epoll backend's random reads against `tokio::fs`.
const EPOLL_GOAL: f64 = 2.0;

/// The notes under the NOP table.
const NOP_NOTES: &str = "\
lio/raw, epoll/raw cost = ns/op over raw io-uring's: below 1 means lio is faster
lio (epoll) completes a NOP at submission, without a syscall";

/// The notes under the file table.
const FILE_NOTES: &str = "\
lio/raw, lio/std = lio (io_uring) throughput ratios: above 1 means lio is faster
epoll/tokio = lio (epoll) throughput / tokio::fs throughput: above 1 means lio is
       faster
QD32 = batches of 32 submitted and awaited together; std has no queue depth, its QD32
       figure is the same back-to-back preads as QD1; tokio::fs QD32 is 32 tasks in a
       JoinSet, each with its own File
lio (epoll) = the same lio code on Backend::Epoll: reads at an offset are first tried
       from the page cache on the driver thread (preadv2 RWF_NOWAIT, as io_uring does),
       misses and fdatasync go to lio's blocking pool, 4 KiB writes are done inline
tokio::fs = current-thread runtime; no positional I/O, so a random read is seek +
       read_exact (two trips to tokio's blocking pool), and a write is write_all (one
       trip, overlapped with the next write until sync_data)
ratios are medians of per-round ratios (the stacks run back to back in a round)
spread = (max - min) / median over the rounds, worst of the stacks
allocs/op = heap allocations per op in lio's timed loops (steady state) on io_uring and
       on epoll (whose count includes its pool threads)";

/// Every measured sample, per workload and stack.
pub struct Results {
    /// Column headers of the stacks.
    names: [&'static str; STACKS],
    /// Per workload, each stack's samples in round order.
    samples: Vec<(Workload, [Vec<Sample>; STACKS])>,
}

impl Results {
    /// Empty results for stacks named `names`, in column order (lio, epoll, raw, std, tokio).
    pub fn new(names: [&'static str; STACKS]) -> Results {
        Results {
            names,
            samples: Workload::ALL
                .iter()
                .map(|&w| (w, Default::default()))
                .collect(),
        }
    }

    /// Records one run of `workload` on stack `stack`.
    pub fn record(&mut self, workload: Workload, stack: usize, sample: Sample) {
        if let Some((_, row)) = self.samples.iter_mut().find(|(w, _)| *w == workload) {
            row[stack].push(sample);
        }
    }

    /// Prints the NOP table (cost per op), the file table (throughput) and the epoll goal.
    pub fn print(&self) {
        let [lio, epoll, raw, std, tokio] = self.names;
        let mut nops = vec![row([
            "workload",
            &format!("{lio} ns/op"),
            &format!("{epoll} ns/op"),
            &format!("{raw} ns/op"),
            std,
            tokio,
            "lio/raw cost",
            "epoll/raw cost",
            "spread",
            "allocs/op lio, epoll",
        ])];
        let mut files = vec![row([
            "workload",
            "unit",
            lio,
            epoll,
            raw,
            std,
            tokio,
            "lio/raw",
            "lio/std",
            "epoll/tokio",
            "spread",
            "allocs/op lio, epoll",
        ])];
        for (workload, stacks) in &self.samples {
            let medians = stacks.each_ref().map(|s| median(*workload, s));
            let cells = medians.map(|m| m.map_or_else(|| "n/a".to_owned(), number));
            let [lio, epoll, raw, std, tokio] = cells;
            let ratio = |a: usize, b: usize| ratio(*workload, &stacks[a], &stacks[b]);
            let allocs = format!(
                "{}, {}",
                allocs_per_op(&stacks[LIO]),
                allocs_per_op(&stacks[EPOLL])
            );
            let spread = format!("{:.0}%", spread(*workload, stacks) * 100.0);
            let label = workload.label().to_owned();
            if workload.metric() == Metric::NsPerOp {
                let (lio_raw, epoll_raw) = (ratio(LIO, RAW), ratio(EPOLL, RAW));
                nops.push(vec![
                    label, lio, epoll, raw, std, tokio, lio_raw, epoll_raw, spread, allocs,
                ]);
            } else {
                let unit = workload.metric().unit().to_owned();
                let (lio_raw, lio_std) = (ratio(LIO, RAW), ratio(LIO, STD));
                let epoll_tokio = ratio(EPOLL, TOKIO);
                files.push(vec![
                    label,
                    unit,
                    lio,
                    epoll,
                    raw,
                    std,
                    tokio,
                    lio_raw,
                    lio_std,
                    epoll_tokio,
                    spread,
                    allocs,
                ]);
            }
        }
        println!("NOP round trips: time per op, lower is better (std and tokio::fs have no no-op)");
        print_table(&nops);
        print_notes(NOP_NOTES);
        println!();
        println!("File I/O on the page cache: throughput, higher is better");
        print_table(&files);
        print_notes(FILE_NOTES);
        println!();
        for (workload, depth) in [(Workload::RandQd32, "QD32"), (Workload::RandQd1, "QD1")] {
            self.print_goal(workload, depth);
        }
        if let Some((_, stacks)) = self.samples.iter().find(|(w, _)| *w == Workload::RandQd1) {
            let ops: u64 = stacks[LIO].iter().map(|s| s.ops).sum();
            println!();
            println!(
                "lio allocations per op (.await, steady state): {} over {ops} awaited read_at ops",
                allocs_per_op(&stacks[LIO])
            );
        }
    }

    /// Prints the epoll backend's throughput over tokio::fs's on `workload` (a random-read
    /// workload at queue depth `depth`) against the goal.
    fn print_goal(&self, workload: Workload, depth: &str) {
        let Some((_, stacks)) = self.samples.iter().find(|(w, _)| *w == workload) else {
            return;
        };
        let verdict = match ratio_of(workload, &stacks[EPOLL], &stacks[TOKIO]) {
            Some(r) if r >= EPOLL_GOAL => format!("{r:.2} (goal ≥ {EPOLL_GOAL}): met"),
            Some(r) => format!("{r:.2} (goal ≥ {EPOLL_GOAL}): NOT met"),
            None => format!("n/a (goal ≥ {EPOLL_GOAL})"),
        };
        println!("epoll random 4 KiB reads ({depth}) / tokio::fs = {verdict}");
    }
}

/// Owned cells from string slices.
fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|&c| c.to_owned()).collect()
}

/// The median of the samples' values, or `None` if there are none.
fn median(workload: Workload, samples: &[Sample]) -> Option<f64> {
    median_of(samples.iter().map(|s| s.value(workload)).collect())
}

/// The median of `values`, or `None` if there are none.
pub fn median_of(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// The largest `(max - min) / median` of any stack's samples.
fn spread(workload: Workload, stacks: &[Vec<Sample>; STACKS]) -> f64 {
    stacks
        .iter()
        .filter_map(|samples| {
            let median = median(workload, samples)?;
            let values = samples.iter().map(|s| s.value(workload));
            let max = values.clone().fold(f64::MIN, f64::max);
            let min = values.fold(f64::MAX, f64::min);
            Some((max - min) / median)
        })
        .fold(0.0, f64::max)
}

/// Heap allocations per operation over all the samples.
fn allocs_per_op(samples: &[Sample]) -> String {
    let allocs: u64 = samples.iter().map(|s| s.allocs).sum();
    let ops: u64 = samples.iter().map(|s| s.ops).sum();
    if ops == 0 {
        return "n/a".to_owned();
    }
    format!("{:.3}", allocs as f64 / ops as f64)
}

/// [`ratio_of`] as printed: two decimals, or "n/a".
fn ratio(workload: Workload, a: &[Sample], b: &[Sample]) -> String {
    ratio_of(workload, a, b).map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"))
}

/// The median over the rounds of `a`'s value divided by `b`'s in the same round, or `None`
/// if there is no round with both. Each round runs the stacks back to back, so a per-round
/// ratio cancels most of the machine's drift between rounds.
fn ratio_of(workload: Workload, a: &[Sample], b: &[Sample]) -> Option<f64> {
    let ratios = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.value(workload) / b.value(workload))
        .filter(|r| r.is_finite())
        .collect();
    median_of(ratios)
}

/// A value with three or so significant digits.
pub fn number(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Prints notes under a table, indented.
pub fn print_notes(notes: &str) {
    for line in notes.lines() {
        println!("  {line}");
    }
}

/// Prints rows as aligned columns: the first left-aligned, the others right-aligned.
pub fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 0 {
                line.push_str(&format!("  {cell:<width$}", width = widths[c]));
            } else {
                line.push_str(&format!("  {cell:>width$}", width = widths[c]));
            }
        }
        println!("{line}");
    }
}
