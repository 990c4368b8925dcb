//! Collecting the samples and printing the tables of medians and ratios.

use crate::measure::Sample;
use crate::workload::{Metric, Workload};

/// Column of each stack in the results, in the order the stacks run.
pub const LIO: usize = 0;
/// The raw io-uring column.
pub const RAW: usize = 1;
/// The std (plain syscalls) column.
pub const STD: usize = 2;

/// Every measured sample, per workload and stack.
pub struct Results {
    /// Column headers of the stacks.
    names: [&'static str; 3],
    /// Per workload, each stack's samples in round order.
    samples: Vec<(Workload, [Vec<Sample>; 3])>,
}

impl Results {
    /// Empty results for stacks named `names` (lio, raw, std).
    pub fn new(names: [&'static str; 3]) -> Results {
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

    /// Prints the NOP table (cost per op) and the file table (throughput).
    pub fn print(&self) {
        let [lio, raw, std] = self.names;
        let mut nops = vec![row([
            "workload",
            &format!("{lio} ns/op"),
            &format!("{raw} ns/op"),
            std,
            "lio/raw cost",
            "spread",
            "lio allocs/op",
        ])];
        let mut files = vec![row([
            "workload",
            "unit",
            lio,
            raw,
            std,
            "lio/raw",
            "lio/std",
            "spread",
            "lio allocs/op",
        ])];
        for (workload, stacks) in &self.samples {
            let medians = stacks.each_ref().map(|s| median(*workload, s));
            let cell = |m: Option<f64>| m.map_or_else(|| "n/a".to_owned(), number);
            let allocs = allocs_per_op(&stacks[LIO]);
            let spread = format!("{:.0}%", spread(*workload, stacks) * 100.0);
            if workload.metric() == Metric::NsPerOp {
                nops.push(vec![
                    workload.label().to_owned(),
                    cell(medians[LIO]),
                    cell(medians[RAW]),
                    cell(medians[STD]),
                    ratio(*workload, &stacks[LIO], &stacks[RAW]),
                    spread,
                    allocs,
                ]);
            } else {
                files.push(vec![
                    workload.label().to_owned(),
                    workload.metric().unit().to_owned(),
                    cell(medians[LIO]),
                    cell(medians[RAW]),
                    cell(medians[STD]),
                    ratio(*workload, &stacks[LIO], &stacks[RAW]),
                    ratio(*workload, &stacks[LIO], &stacks[STD]),
                    spread,
                    allocs,
                ]);
            }
        }
        println!("NOP round trips: time per op, lower is better (std has no no-op syscall)");
        print_table(&nops);
        println!("  lio/raw cost = lio ns/op / raw ns/op: below 1 means lio is faster");
        println!();
        println!("File I/O on the page cache: throughput, higher is better");
        print_table(&files);
        println!("  lio/raw, lio/std = throughput ratios: above 1 means lio is faster");
        println!("  QD32 = batches of 32 submitted and awaited together; std has no queue depth,");
        println!("         its QD32 figure is the same back-to-back preads as QD1");
        println!(
            "  ratios are medians of per-round ratios (the stacks run back to back in a round)"
        );
        println!("  spread = (max - min) / median over the rounds, worst of the stacks");
        println!("  lio allocs/op = heap allocations per op in lio's timed loops (steady state)");
        if let Some((_, stacks)) = self.samples.iter().find(|(w, _)| *w == Workload::RandQd1) {
            let ops: u64 = stacks[LIO].iter().map(|s| s.ops).sum();
            println!();
            println!(
                "lio allocations per op (.await, steady state): {} over {ops} awaited read_at ops",
                allocs_per_op(&stacks[LIO])
            );
        }
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
fn median_of(mut values: Vec<f64>) -> Option<f64> {
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
fn spread(workload: Workload, stacks: &[Vec<Sample>; 3]) -> f64 {
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

/// The median over the rounds of `a`'s value divided by `b`'s in the same round, or "n/a".
/// Each round runs the stacks back to back, so a per-round ratio cancels most of the
/// machine's drift between rounds.
fn ratio(workload: Workload, a: &[Sample], b: &[Sample]) -> String {
    let ratios = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.value(workload) / b.value(workload))
        .filter(|r| r.is_finite())
        .collect();
    median_of(ratios).map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}"))
}

/// A value with three or so significant digits.
fn number(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Prints rows as aligned columns: the first left-aligned, the others right-aligned.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
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
