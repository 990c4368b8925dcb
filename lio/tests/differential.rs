//! Differential property test: random sequences of file operations give the same results
//! through lio on io_uring, through lio on epoll, and through plain `std`.
//!
//! # What it proves
//!
//! For every generated sequence of 1 to 40 operations on one regular file, run three times on
//! three fresh files (lio forced to io_uring, lio forced to epoll, and the same system calls
//! made directly through `std`), every operation has the same outcome on all three: the same
//! byte count and the same bytes read, or an error of the same [`io::ErrorKind`] and raw OS
//! error; the shared file position is the same after every operation; and the files end with
//! the same length and content. The operations are:
//!
//! - `write`/`write_at` of 0 to ~9,000 bytes (lio's inline buffered-write path), and rarely of
//!   70 to 200 KiB (above the 64 KiB inline limit: the OS queue, or the blocking pool);
//! - `read`/`read_at` with capacities from 0 up, sometimes reaching past the end of the file;
//! - `writev`/`writev_at` and `readv`/`readv_at` with 1 to 4 buffers;
//! - `ftruncate` (shrinking and extending), `fallocate` (mode 0, `FALLOC_FL_KEEP_SIZE`, and
//!   `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`; a length of 0 fails with `EINVAL`),
//!   `fsync`/`fdatasync` and `fstatx` (size);
//! - seeks of the file position through a `std::fs::File` that shares the open file
//!   description with lio's [`Resource`] (the resource is made from a `try_clone` of it), so
//!   lio's positional operations must continue from wherever `std` left the position.
//!
//! Offsets and lengths stay below 256 KiB, so the files stay small. Each lio operation is
//! consumed with `.wait()` mostly, with `.await` (through [`Lio::block_on`]) or with a
//! `when_done` callback for some, as the generator picks, so every completion path is
//! compared. lio also has to hand every write buffer back unchanged.
//!
//! The `std` reference uses `std::fs::File` (`Read`, `Write`, `FileExt`, `Seek`, `set_len`,
//! `sync_all`, `sync_data`, `metadata`) and, where `std` has no stable safe call, the same
//! system call through `rustix`: `preadv`, `pwritev` and `fallocate`.
//!
//! A backend that cannot start on this host (io_uring blocked by seccomp or
//! `kernel.io_uring_disabled`) is reported as `skipped: ...` and the others are compared.
//!
//! # Running it
//!
//! `cargo test -p lio --test differential` runs 1,000 generated cases; set
//! `LIO_PROPTEST_CASES` to run another number (e.g. `LIO_PROPTEST_CASES=5000`). A failure is
//! shrunk by proptest to a minimal sequence, printed with the differing outcomes; nothing is
//! persisted to disk. `PROPTEST_RNG_SEED=<n>` replays a given random seed.

use lio::op::{Fallocate, Op};
use lio::{Backend, Io, Lio, Resource};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

/// Cases run when `LIO_PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 1_000;
/// Offsets, lengths and seek targets stay below this.
const MAX_OFFSET: u64 = 256 * 1024;
/// The usual buffer sizes: all below lio's default inline-write limit (64 KiB).
const SMALL_MAX: usize = 9_000;
/// The rare large buffers: above the inline-write limit.
const LARGE: std::ops::RangeInclusive<usize> = 70 * 1024..=200 * 1024;

// ---------------------------------------------------------------------------------------
// The generated operations.

/// Bytes to write: `len` bytes of [`noise`] from `start` (cheap to generate, to shrink and to
/// print).
#[derive(Clone, Copy)]
struct Data {
    len: usize,
    start: usize,
}

impl Data {
    fn bytes(self) -> Vec<u8> {
        noise()[self.start..self.start + self.len].to_vec()
    }
}

/// Where [`Data`] may start in [`noise`].
const NOISE_STARTS: usize = 1 << 16;

/// Pseudo-random bytes (xorshift), made once: every [`Data`] is a window of them, so that
/// misplaced bytes show up in comparisons.
fn noise() -> &'static [u8] {
    static NOISE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    NOISE.get_or_init(|| {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..NOISE_STARTS + *LARGE.end())
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    })
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes (noise@{})", self.len, self.start)
    }
}

/// `fallocate` modes.
#[derive(Clone, Copy, Debug)]
enum AllocMode {
    /// Mode 0: allocate, extending the file.
    Allocate,
    /// `FALLOC_FL_KEEP_SIZE`: allocate without changing the length.
    KeepSize,
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`: deallocate (reads as zeros).
    PunchHole,
}

impl AllocMode {
    fn flags(self) -> i32 {
        match self {
            AllocMode::Allocate => 0,
            AllocMode::KeepSize => libc::FALLOC_FL_KEEP_SIZE,
            AllocMode::PunchHole => libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        }
    }
}

/// One file operation. `at: None` uses (and advances) the file position; `Some(offset)` is
/// the positional form (`pread`/`pwrite`/`preadv`/`pwritev`).
#[derive(Clone, Debug)]
enum FileOp {
    Write {
        data: Data,
        at: Option<u64>,
    },
    Read {
        cap: usize,
        at: Option<u64>,
    },
    Writev {
        bufs: Vec<Data>,
        at: Option<u64>,
    },
    Readv {
        caps: Vec<usize>,
        at: Option<u64>,
    },
    Ftruncate {
        len: u64,
    },
    Fallocate {
        offset: u64,
        len: u64,
        mode: AllocMode,
    },
    Fsync {
        data_only: bool,
    },
    Fstat,
    /// Through `std` on the shared open file description, on every run.
    Seek(SeekFrom),
}

/// How lio's [`Io`] is consumed (ignored by the `std` run).
#[derive(Clone, Copy, Debug)]
enum Style {
    Wait,
    Await,
    Callback,
}

#[derive(Clone)]
struct Step {
    op: FileOp,
    style: Style,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} [{:?}]", self.op, self.style)
    }
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![40 => 0..=SMALL_MAX, 1 => LARGE]
}

fn data() -> impl Strategy<Value = Data> {
    (size(), 0..NOISE_STARTS).prop_map(|(len, start)| Data { len, start })
}

/// Mostly near the start, where the data is, sometimes anywhere below [`MAX_OFFSET`].
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0..16 * 1024u64, 1 => 0..=MAX_OFFSET]
}

fn at() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![Just(None), offset().prop_map(Some)]
}

fn seek() -> impl Strategy<Value = SeekFrom> {
    prop_oneof![
        (0..=MAX_OFFSET).prop_map(SeekFrom::Start),
        (-32_768i64..=32_768).prop_map(SeekFrom::Current),
        (-32_768i64..=32_768).prop_map(SeekFrom::End),
    ]
}

fn file_op() -> impl Strategy<Value = FileOp> {
    let alloc_len = prop_oneof![1 => Just(0u64), 12 => 1..=64 * 1024u64];
    let mode = prop_oneof![
        Just(AllocMode::Allocate),
        Just(AllocMode::KeepSize),
        Just(AllocMode::PunchHole),
    ];
    prop_oneof![
        6 => (data(), at()).prop_map(|(data, at)| FileOp::Write { data, at }),
        6 => (size(), at()).prop_map(|(cap, at)| FileOp::Read { cap, at }),
        3 => (vec(data(), 1..=4), at()).prop_map(|(bufs, at)| FileOp::Writev { bufs, at }),
        3 => (vec(size(), 1..=4), at()).prop_map(|(caps, at)| FileOp::Readv { caps, at }),
        2 => offset().prop_map(|len| FileOp::Ftruncate { len }),
        2 => (offset(), alloc_len, mode)
            .prop_map(|(offset, len, mode)| FileOp::Fallocate { offset, len, mode }),
        1 => any::<bool>().prop_map(|data_only| FileOp::Fsync { data_only }),
        1 => Just(FileOp::Fstat),
        2 => seek().prop_map(FileOp::Seek),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let style = prop_oneof![
        6 => Just(Style::Wait),
        2 => Just(Style::Await),
        1 => Just(Style::Callback),
    ];
    (file_op(), style).prop_map(|(op, style)| Step { op, style })
}

// ---------------------------------------------------------------------------------------
// What each run observes.

/// The outcome of one operation.
#[derive(PartialEq, Eq)]
enum Outcome {
    /// `n`: the byte count, the new position (seek) or the size (fstat); `data`: the bytes
    /// read, one vector per buffer.
    Done { n: u64, data: Vec<Vec<u8>> },
    Failed {
        kind: io::ErrorKind,
        errno: Option<i32>,
    },
}

impl Outcome {
    fn of<T>(result: io::Result<T>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
        match result {
            Ok(value) => ok(value),
            Err(e) => Outcome::Failed {
                kind: e.kind(),
                errno: e.raw_os_error(),
            },
        }
    }

    fn count(result: io::Result<usize>) -> Outcome {
        Outcome::of(result, |n| Outcome::Done {
            n: n as u64,
            data: Vec::new(),
        })
    }

    fn unit(result: io::Result<()>) -> Outcome {
        Outcome::of(result, |()| Outcome::Done {
            n: 0,
            data: Vec::new(),
        })
    }
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Done { n, data } if data.is_empty() => write!(f, "Ok({n})"),
            Outcome::Done { n, data } => {
                let bufs: Vec<String> = data.iter().map(|b| summary(b)).collect();
                write!(f, "Ok({n}) read [{}]", bufs.join(", "))
            }
            Outcome::Failed { kind, errno } => write!(f, "Err({kind:?}, errno {errno:?})"),
        }
    }
}

/// A short description of a byte string: its length, a hash and its first bytes.
fn summary(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{} bytes #{hash:016x} {}…", bytes.len(), head.join(""))
}

/// Where two byte strings first differ.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!(
            "first difference at byte {i}: {:#04x} vs {:#04x}",
            a[i], b[i]
        ),
        None => format!("lengths differ: {} vs {}", a.len(), b.len()),
    }
}

/// Everything one run of a sequence observed.
struct Trace {
    /// Per operation: its outcome and the file position right after it.
    steps: Vec<(Outcome, u64)>,
    /// The file's length (from `fstat`) and content at the end.
    len: u64,
    content: Vec<u8>,
}

/// Opens a fresh file for reading and writing.
fn create(path: &Path) -> File {
    File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .expect("create the test file")
}

fn position(file: &File) -> u64 {
    let mut file = file;
    file.stream_position().expect("read the file position")
}

fn finish(path: &Path, file: File, steps: Vec<(Outcome, u64)>) -> Trace {
    let len = file.metadata().expect("fstat the test file").len();
    drop(file);
    let content = std::fs::read(path).expect("read the test file back");
    Trace {
        steps,
        len,
        content,
    }
}

// ---------------------------------------------------------------------------------------
// The `std` reference.

fn run_std(path: &Path, steps: &[Step]) -> Trace {
    let file = create(path);
    let mut f = &file;
    let mut trace = Vec::with_capacity(steps.len());
    for step in steps {
        let outcome = match &step.op {
            FileOp::Write { data, at } => {
                let bytes = data.bytes();
                Outcome::count(match *at {
                    None => f.write(&bytes),
                    Some(offset) => file.write_at(&bytes, offset),
                })
            }
            FileOp::Read { cap, at } => {
                let mut buf = vec![0u8; *cap];
                let result = match *at {
                    None => f.read(&mut buf),
                    Some(offset) => file.read_at(&mut buf, offset),
                };
                Outcome::of(result, |n| {
                    buf.truncate(n);
                    Outcome::Done {
                        n: n as u64,
                        data: vec![buf],
                    }
                })
            }
            FileOp::Writev { bufs, at } => {
                let bufs: Vec<Vec<u8>> = bufs.iter().map(|d| d.bytes()).collect();
                let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
                Outcome::count(match *at {
                    None => f.write_vectored(&slices),
                    Some(offset) => rustix::io::pwritev(&file, &slices, offset).map_err(Into::into),
                })
            }
            FileOp::Readv { caps, at } => {
                let mut bufs: Vec<Vec<u8>> = caps.iter().map(|&cap| vec![0u8; cap]).collect();
                let mut slices: Vec<IoSliceMut<'_>> =
                    bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                let result = match *at {
                    None => f.read_vectored(&mut slices),
                    Some(offset) => {
                        rustix::io::preadv(&file, &mut slices, offset).map_err(Into::into)
                    }
                };
                drop(slices);
                Outcome::of(result, |n| {
                    // The kernel fills the buffers in order.
                    let mut left = n;
                    for buf in &mut bufs {
                        let filled = left.min(buf.len());
                        buf.truncate(filled);
                        left -= filled;
                    }
                    Outcome::Done {
                        n: n as u64,
                        data: bufs,
                    }
                })
            }
            FileOp::Ftruncate { len } => Outcome::unit(file.set_len(*len)),
            FileOp::Fallocate { offset, len, mode } => {
                let flags = rustix::fs::FallocateFlags::from_bits_retain(mode.flags() as u32);
                Outcome::unit(
                    rustix::fs::fallocate(&file, flags, *offset, *len).map_err(Into::into),
                )
            }
            FileOp::Fsync { data_only: false } => Outcome::unit(file.sync_all()),
            FileOp::Fsync { data_only: true } => Outcome::unit(file.sync_data()),
            FileOp::Fstat => Outcome::of(file.metadata(), |m| Outcome::Done {
                n: m.len(),
                data: Vec::new(),
            }),
            FileOp::Seek(to) => Outcome::of(f.seek(*to), |pos| Outcome::Done {
                n: pos,
                data: Vec::new(),
            }),
        };
        trace.push((outcome, position(&file)));
    }
    finish(path, file, trace)
}

// ---------------------------------------------------------------------------------------
// lio.

/// Completes `io` in the given style.
fn complete<T: Op>(lio: &Lio, io: Io<T>, style: Style) -> T::Output {
    match style {
        Style::Wait => io.wait(),
        Style::Await => lio
            .block_on(async move { io.await })
            .expect("block_on: the OS rejected a wait"),
        Style::Callback => {
            let slot = Rc::new(RefCell::new(None));
            let out = slot.clone();
            io.when_done(move |output| *out.borrow_mut() = Some(output));
            for _ in 0..100_000 {
                if let Some(output) = slot.borrow_mut().take() {
                    return output;
                }
                lio.run().expect("run the driver");
            }
            panic!("a when_done callback did not run after 100,000 runs of the driver");
        }
    }
}

/// Runs `steps` through `lio`. An `Err` is a broken lio invariant that no `std` outcome can
/// be compared with (a write buffer not handed back intact).
fn run_lio(lio: &Lio, path: &Path, steps: &[Step]) -> Result<Trace, String> {
    let file = create(path);
    // One open file description, shared: the Resource and the std File see one position.
    let res = Resource::from(file.try_clone().expect("dup the test file"));
    let mut trace = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let style = step.style;
        let outcome = match &step.op {
            FileOp::Write { data, at } => {
                let bytes = data.bytes();
                let io = match *at {
                    None => lio.write(&res, bytes.clone()),
                    Some(offset) => lio.write_at(&res, bytes.clone(), offset),
                };
                let (result, back) = complete(lio, io, style);
                if back != bytes {
                    return Err(format!("op {i}: the write buffer came back changed"));
                }
                Outcome::count(result)
            }
            FileOp::Read { cap, at } => {
                let buf = Vec::with_capacity(*cap);
                assert_eq!(buf.capacity(), *cap, "Vec::with_capacity gave extra room");
                let io = match *at {
                    None => lio.read(&res, buf),
                    Some(offset) => lio.read_at(&res, buf, offset),
                };
                let (result, buf) = complete(lio, io, style);
                Outcome::of(result, |n| Outcome::Done {
                    n: n as u64,
                    data: vec![buf],
                })
            }
            FileOp::Writev { bufs, at } => {
                let bufs: Vec<Vec<u8>> = bufs.iter().map(|d| d.bytes()).collect();
                let io = match *at {
                    None => lio.writev(&res, bufs.clone()),
                    Some(offset) => lio.writev_at(&res, bufs.clone(), offset),
                };
                let (result, back) = complete(lio, io, style);
                if back != bufs {
                    return Err(format!("op {i}: the writev buffers came back changed"));
                }
                Outcome::count(result)
            }
            FileOp::Readv { caps, at } => {
                let bufs: Vec<Vec<u8>> = caps.iter().map(|&cap| Vec::with_capacity(cap)).collect();
                for (buf, &cap) in bufs.iter().zip(caps) {
                    assert_eq!(buf.capacity(), cap, "Vec::with_capacity gave extra room");
                }
                let io = match *at {
                    None => lio.readv(&res, bufs),
                    Some(offset) => lio.readv_at(&res, bufs, offset),
                };
                let (result, bufs) = complete(lio, io, style);
                Outcome::of(result, |n| Outcome::Done {
                    n: n as u64,
                    data: bufs,
                })
            }
            FileOp::Ftruncate { len } => {
                Outcome::unit(complete(lio, lio.ftruncate(&res, *len), style))
            }
            FileOp::Fallocate { offset, len, mode } => {
                let io = match mode {
                    AllocMode::Allocate => lio.fallocate(&res, *offset, *len),
                    _ => lio.submit(Fallocate::new(&res, *offset, *len).mode(mode.flags())),
                };
                Outcome::unit(complete(lio, io, style))
            }
            FileOp::Fsync { data_only: false } => {
                Outcome::unit(complete(lio, lio.fsync(&res), style))
            }
            FileOp::Fsync { data_only: true } => {
                Outcome::unit(complete(lio, lio.fdatasync(&res), style))
            }
            FileOp::Fstat => Outcome::of(complete(lio, lio.fstatx(&res), style), |stat| {
                Outcome::Done {
                    n: stat.size,
                    data: Vec::new(),
                }
            }),
            FileOp::Seek(to) => {
                let mut f = &file;
                Outcome::of(f.seek(*to), |pos| Outcome::Done {
                    n: pos,
                    data: Vec::new(),
                })
            }
        };
        trace.push((outcome, position(&file)));
    }
    drop(res);
    Ok(finish(path, file, trace))
}

// ---------------------------------------------------------------------------------------
// The comparison.

/// Compares a backend's trace with the reference; the error names the first divergence.
fn compare(backend: Backend, steps: &[Step], got: &Trace, want: &Trace) -> Result<(), String> {
    for (i, (step, ((got, got_pos), (want, want_pos)))) in steps
        .iter()
        .zip(got.steps.iter().zip(&want.steps))
        .enumerate()
    {
        if got != want {
            let mut detail = String::new();
            if let (Outcome::Done { data: a, .. }, Outcome::Done { data: b, .. }) = (got, want) {
                for (k, (a, b)) in a.iter().zip(b).enumerate() {
                    if a != b {
                        detail = format!("\n  buffer {k}: {}", first_difference(a, b));
                        break;
                    }
                }
            }
            return Err(format!(
                "{backend} diverges from std at op {i}: {step:?}\n  {backend}: {got:?}\n  std: \
                 {want:?}{detail}"
            ));
        }
        if got_pos != want_pos {
            return Err(format!(
                "{backend} diverges from std at op {i}: {step:?}\n  file position after it: \
                 {backend} {got_pos}, std {want_pos} (outcome {got:?} on both)"
            ));
        }
    }
    if got.len != want.len || got.content != want.content {
        return Err(format!(
            "{backend} diverges from std in the final file: length {} vs {}, content {} vs {} \
             ({})",
            got.len,
            want.len,
            summary(&got.content),
            summary(&want.content),
            first_difference(&got.content, &want.content),
        ));
    }
    Ok(())
}

/// The drivers to compare with `std`, one per backend that starts on this host.
fn drivers() -> Vec<(Backend, Lio)> {
    let mut drivers = Vec::new();
    for backend in [Backend::IoUring, Backend::Epoll] {
        match Lio::builder().backend(backend).build() {
            Ok(lio) => {
                assert_eq!(
                    lio.backend(),
                    backend,
                    "a forced backend must not fall back"
                );
                drivers.push((backend, lio));
            }
            Err(e) => eprintln!("skipped: {backend}: the driver does not start here ({e})"),
        }
    }
    drivers
}

/// A uniquely named directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("lio-differential-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).expect("create the test directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cases() -> u32 {
    match std::env::var("LIO_PROPTEST_CASES") {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("LIO_PROPTEST_CASES={value:?} is not a case count")),
        Err(_) => DEFAULT_CASES,
    }
}

#[test]
fn backends_agree_with_std() {
    let drivers = drivers();
    let dir = TempDir::new();
    let cases = cases();
    let config = Config {
        failure_persistence: None,
        ..Config::with_cases(cases)
    };
    let counter = std::cell::Cell::new(0u64);
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&vec(step(), 1..=40), |steps| {
        let case = counter.get();
        counter.set(case + 1);
        let std_path = dir.0.join(format!("{case}-std"));
        let want = run_std(&std_path, &steps);
        std::fs::remove_file(&std_path).expect("remove the test file");
        for (backend, lio) in &drivers {
            let path = dir.0.join(format!("{case}-{backend}"));
            let got = run_lio(lio, &path, &steps);
            std::fs::remove_file(&path).expect("remove the test file");
            let got = got.map_err(|e| TestCaseError::fail(format!("{backend}: {e}")))?;
            compare(*backend, &steps, &got, &want).map_err(TestCaseError::fail)?;
        }
        Ok(())
    });
    match result {
        Ok(()) => eprintln!(
            "differential: {cases} cases, {} sequences run (with shrinking), backends {:?}, in \
             {:.1?}",
            counter.get(),
            drivers.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
            started.elapsed(),
        ),
        Err(TestError::Fail(reason, steps)) => {
            let listing: Vec<String> = steps
                .iter()
                .enumerate()
                .map(|(i, s)| format!("  {i}: {s:?}"))
                .collect();
            panic!(
                "{reason}\nminimal failing sequence ({} ops):\n{}",
                steps.len(),
                listing.join("\n")
            );
        }
        Err(e) => panic!("{e}"),
    }
}
