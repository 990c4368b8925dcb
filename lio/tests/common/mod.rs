//! Shared helpers of the conformance suite: the per-backend test macro, a temporary
//! directory guard, deterministic test data, pipes and the skip rule for missing kernel
//! features.
//!
//! Every conformance test is a plain function taking `&Lio`; [`backend_tests!`] turns a list
//! of them into `#[test]` wrappers, one module per backend (`io_uring::<test>` today).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use lio::{Lio, Resource};
use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Emits one `#[test]` per listed function and per backend, in a module named after the
/// backend, e.g. `io_uring::read_at_matches_std`. Each wrapper builds a fresh driver for that
/// backend and calls `super::<name>(&lio)`.
///
/// Adding a backend means adding one more module here (and one more driver constructor).
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod io_uring {
            $(
                #[test]
                fn $name() {
                    let lio = $crate::common::io_uring_driver();
                    super::$name(&lio)
                }
            )+
        }
    };
}
pub(crate) use backend_tests;

/// A driver on io_uring.
pub fn io_uring_driver() -> Lio {
    let lio = Lio::builder()
        .build()
        .expect("io_uring driver (is io_uring disabled on this host?)");
    assert_eq!(lio.backend(), lio::Backend::IoUring);
    lio
}

/// A uniquely named directory under [`std::env::temp_dir`], removed with its contents when
/// dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `lio-test-<pid>-<counter>-<nanos>-<tag>`.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "lio-test-{}-{}-{nanos}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).expect("create the test directory");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `contents` to a new file `name` with `std` and returns its path.
    pub fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, contents).expect("write the test file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `len` deterministic pseudo-random bytes (xorshift), so that misplaced or reordered bytes
/// show up in comparisons.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Opens `path` with `std` options and wraps it as a [`Resource`].
pub fn resource(path: &Path, options: &std::fs::OpenOptions) -> Resource {
    Resource::from(options.open(path).expect("open the test file with std"))
}

/// `std` options for reading and writing an existing file.
pub fn rw() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    options
}

/// A pipe: (read end as a [`Resource`], write end as a `std` file).
pub fn pipe() -> (Resource, std::fs::File) {
    let (reader, writer) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("create a pipe");
    (Resource::from(reader), std::fs::File::from(writer))
}

/// The process umask, read from `/proc/self/status` (reading it with `umask(2)` would have to
/// change it, which races with tests on other threads). `None` if the kernel does not report
/// it.
pub fn umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
}

/// Whether `result` failed because the kernel lacks the feature (`ErrorKind::Unsupported`,
/// `ENOSYS`, `EOPNOTSUPP`); prints the skip reason if so. Tests call it and return.
pub fn unsupported<T>(result: &io::Result<T>, what: &str) -> bool {
    match result {
        Err(e)
            if e.kind() == io::ErrorKind::Unsupported
                || matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EOPNOTSUPP)) =>
        {
            eprintln!("skipped: {what}: not supported here ({e})");
            true
        }
        _ => false,
    }
}

/// Asserts that `result` is an error with the raw OS error `errno`.
#[track_caller]
pub fn assert_errno<T: std::fmt::Debug>(result: &io::Result<T>, errno: i32) {
    match result {
        Err(e) => assert_eq!(
            e.raw_os_error(),
            Some(errno),
            "expected errno {errno}, got {e:?}"
        ),
        Ok(v) => panic!("expected errno {errno}, got Ok({v:?})"),
    }
}

/// Asserts that `result` is an error of kind `kind`.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(result: &io::Result<T>, kind: io::ErrorKind) {
    match result {
        Err(e) => assert_eq!(e.kind(), kind, "expected {kind:?}, got {e:?}"),
        Ok(v) => panic!("expected {kind:?}, got Ok({v:?})"),
    }
}

/// Where a `when_done` callback leaves its output.
pub type Slot<T> = Rc<RefCell<Option<T>>>;

/// An empty [`Slot`] and a callback that fills it, for `Io::when_done`.
pub fn slot<T: 'static>() -> (Slot<T>, impl FnOnce(T) + 'static) {
    let slot: Slot<T> = Rc::new(RefCell::new(None));
    let out = slot.clone();
    (slot, move |output| *out.borrow_mut() = Some(output))
}

/// Runs the driver until `done()` holds, failing after `limit` runs (each `run` handles at
/// least one completion, so a bounded count means a bounded wait).
#[track_caller]
pub fn run_until(lio: &Lio, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        lio.run().expect("run the driver");
    }
    assert!(done(), "the driver ran 1000 times without finishing");
}
