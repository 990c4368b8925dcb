//! The `tokio::fs` baseline, written as a tokio user writes it: `tokio::fs::File` with
//! `seek`, `read_exact`, `write_all` and `sync_data`, on a current-thread runtime (the fair
//! match for lio's single-threaded driver). tokio::fs runs every file operation on tokio's
//! blocking pool, and has no positional read or write: a random read is a `seek` then a
//! `read_exact`, two trips to the pool.

use crate::files::BenchFiles;
use crate::measure::{Sample, Timer, CHUNK};
use crate::rng::XorShift;
use crate::stack::Stack;
use crate::workload::{buffer, Workload, BATCH, BLOCK, SEQ_BLOCK, SYNC_EVERY};
use std::io::{self, SeekFrom};
use std::time::Duration;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinSet;

/// A current-thread tokio runtime and the files its workloads use.
pub struct TokioStack {
    /// The runtime every run blocks on.
    runtime: Runtime,
    /// The handles and buffers, apart from the runtime so that a run can borrow both.
    files: TokioFiles,
}

/// The tokio stack's handles to the bench files, each with the buffer it reads or writes.
struct TokioFiles {
    /// One read-file handle and buffer per in-flight random read ([`BATCH`] of them): a
    /// `tokio::fs::File` has one position, so concurrent seek-and-read needs one each. The
    /// QD1 workload uses the first.
    readers: Vec<(File, Vec<u8>)>,
    /// The read-file handle of the sequential reads.
    sequential: File,
    /// The sequential-read buffer.
    large: Vec<u8>,
    /// The write file.
    write: File,
    /// The data every write sends.
    out: Vec<u8>,
    /// Length of the read file.
    read_len: u64,
    /// Length of the write file's wrap-around region.
    write_len: u64,
}

impl TokioStack {
    /// Builds the runtime and opens its own handles to the bench files.
    pub fn new(files: &BenchFiles) -> io::Result<TokioStack> {
        let readers = (0..BATCH)
            .map(|_| Ok((File::from_std(files.open_read()?), buffer(BLOCK))))
            .collect::<io::Result<_>>()?;
        Ok(TokioStack {
            runtime: Builder::new_current_thread().enable_all().build()?,
            files: TokioFiles {
                readers,
                sequential: File::from_std(files.open_read()?),
                large: buffer(SEQ_BLOCK),
                write: File::from_std(files.open_write()?),
                out: buffer(BLOCK),
                read_len: files.read_len,
                write_len: files.write_len,
            },
        })
    }
}

impl TokioFiles {
    /// Random reads, one `seek` + `read_exact` at a time.
    async fn random_reads_serial(&mut self, budget: Duration) -> io::Result<Sample> {
        let (file, buf) = &mut self.readers[0];
        let mut rng = XorShift::new(XorShift::SEED);
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..CHUNK {
                let offset = rng.aligned_offset(self.read_len, BLOCK as u64);
                file.seek(SeekFrom::Start(offset)).await?;
                file.read_exact(buf).await?;
            }
            timer.add(CHUNK);
        }
        Ok(timer.finish())
    }

    /// Random reads, [`BATCH`] tasks spawned into a `JoinSet`, each seeking and reading its
    /// own handle, and joined together; the tasks hand their handles and buffers back.
    async fn random_reads_batched(&mut self, budget: Duration) -> io::Result<Sample> {
        let mut tasks = JoinSet::new();
        let mut rng = XorShift::new(XorShift::SEED);
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..CHUNK / BATCH {
                for (mut file, mut buf) in self.readers.drain(..) {
                    let offset = rng.aligned_offset(self.read_len, BLOCK as u64);
                    tasks.spawn(async move {
                        file.seek(SeekFrom::Start(offset)).await?;
                        file.read_exact(&mut buf).await?;
                        Ok::<_, io::Error>((file, buf))
                    });
                }
                while let Some(joined) = tasks.join_next().await {
                    self.readers.push(joined.map_err(io::Error::other)??);
                }
            }
            timer.add(CHUNK / BATCH * BATCH);
        }
        Ok(timer.finish())
    }

    /// Sequential 1 MiB reads, rewinding at the end of the file.
    async fn sequential_reads(&mut self, budget: Duration) -> io::Result<Sample> {
        let file = &mut self.sequential;
        file.rewind().await?;
        let mut offset = 0;
        let mut timer = Timer::start(budget);
        while timer.running() {
            file.read_exact(&mut self.large).await?;
            offset = (offset + SEQ_BLOCK as u64) % self.read_len;
            if offset == 0 {
                file.rewind().await?;
            }
            timer.add(1);
        }
        Ok(timer.finish())
    }

    /// Sequential writes with `sync_data` every [`SYNC_EVERY`], rewinding at the end of
    /// the region.
    async fn writes(&mut self, budget: Duration) -> io::Result<Sample> {
        let file = &mut self.write;
        file.rewind().await?;
        let mut offset = 0;
        let mut timer = Timer::start(budget);
        while timer.running() {
            for _ in 0..SYNC_EVERY {
                file.write_all(&self.out).await?;
                offset = (offset + BLOCK as u64) % self.write_len;
                if offset == 0 {
                    file.rewind().await?;
                }
            }
            file.sync_data().await?;
            timer.add(SYNC_EVERY);
        }
        Ok(timer.finish())
    }
}

impl Stack for TokioStack {
    fn name(&self) -> &'static str {
        "tokio::fs"
    }

    fn run(&mut self, workload: Workload, budget: Duration) -> io::Result<Option<Sample>> {
        let files = &mut self.files;
        let sample = match workload {
            Workload::Nop1 | Workload::Nop32 => return Ok(None),
            Workload::RandQd1 => self.runtime.block_on(files.random_reads_serial(budget))?,
            Workload::RandQd32 => self.runtime.block_on(files.random_reads_batched(budget))?,
            Workload::Seq1M => self.runtime.block_on(files.sequential_reads(budget))?,
            Workload::Write4k => self.runtime.block_on(files.writes(budget))?,
        };
        Ok(Some(sample))
    }
}
