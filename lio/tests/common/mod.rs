//! Shared helpers of the conformance suite: the per-backend test harness, a temporary
//! directory guard, deterministic test data, pipes and the skip rule for missing kernel
//! features.
//!
//! Every conformance test is a plain function that takes either the driver to test
//! (`fn name(lio: &Lio)`) or the backend to test (`fn name(backend: Backend)`, for tests that
//! build their drivers themselves: with other settings, on another thread, or to drop them).
//! [`backend_tests!`] turns a list of them into `#[test]` wrappers, one module per backend:
//! `io_uring::<test>` and `epoll::<test>`. The backend is always forced with
//! [`Builder::backend`](lio::Builder::backend); `LIO_BACKEND` plays no part.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use lio::{Backend, Builder, Lio, Resource};
use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Emits one `#[test]` per listed function and per backend, in a module named after the
/// backend: `io_uring::<name>` and `epoll::<name>`. Each wrapper calls `super::<name>` through
/// [`run_test`], with a fresh driver forced onto that backend (`fn(&Lio)`) or with the backend
/// itself (`fn(Backend)`).
///
/// `backend_tests!(serial = lock; a, b)` makes every wrapper hold `super::lock()`'s guard
/// first, so that tests measuring process-wide state (open descriptors) never overlap, not
/// even with the io_uring availability probe.
///
/// Adding a backend means adding one more `@module` line here.
#[allow(unused_macros)] // (not every test binary uses it)
macro_rules! backend_tests {
    (@module $module:ident, $backend:ident, [$($lock:ident)?]; $($name:ident),+) => {
        mod $module {
            /// What each test of this module holds while it runs.
            fn serial() -> impl Sized {
                $(super::$lock())?
            }
            $(
                #[test]
                fn $name() {
                    let _serial = serial();
                    $crate::common::run_test(lio::Backend::$backend, super::$name)
                }
            )+
        }
    };
    (serial = $lock:ident; $($name:ident),+ $(,)?) => {
        $crate::common::backend_tests!(@module io_uring, IoUring, [$lock]; $($name),+);
        $crate::common::backend_tests!(@module epoll, Epoll, [$lock]; $($name),+);
    };
    ($($name:ident),+ $(,)?) => {
        $crate::common::backend_tests!(@module io_uring, IoUring, []; $($name),+);
        $crate::common::backend_tests!(@module epoll, Epoll, []; $($name),+);
    };
}
#[allow(unused_imports)]
pub(crate) use backend_tests;

/// A conformance test: `fn(&Lio)` or `fn(Backend)` (`M` tells the two apart).
pub trait BackendTest<M> {
    /// Runs the test on `backend`.
    fn run_on(self, backend: Backend);
}

/// Marker of tests that take the driver.
pub struct TakesDriver;
/// Marker of tests that take the backend and build their own drivers.
pub struct TakesBackend;

impl<F: FnOnce(&Lio)> BackendTest<TakesDriver> for F {
    fn run_on(self, backend: Backend) {
        self(&driver(backend))
    }
}

impl<F: FnOnce(Backend)> BackendTest<TakesBackend> for F {
    fn run_on(self, backend: Backend) {
        self(backend)
    }
}

/// Runs `test` on `backend`; on a host where io_uring cannot be set up (seccomp, the
/// `kernel.io_uring_disabled` sysctl, an old kernel) the io_uring variant prints
/// `skipped: io_uring unavailable: <error>` and passes. epoll always runs.
pub fn run_test<M>(backend: Backend, test: impl BackendTest<M>) {
    if backend == Backend::IoUring {
        if let Err(e) = io_uring_available() {
            eprintln!("skipped: io_uring unavailable: {e}");
            return;
        }
    }
    test.run_on(backend)
}

/// Whether a default io_uring driver can be built here; probed once per test binary.
pub fn io_uring_available() -> Result<(), &'static str> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| match builder(Backend::IoUring).build() {
            Ok(lio) => {
                assert_eq!(lio.backend(), Backend::IoUring);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        })
        .as_ref()
        .map(|_| ())
        .map_err(String::as_str)
}

/// A builder forced onto `backend` (never `LIO_BACKEND`, never a fallback).
pub fn builder(backend: Backend) -> Builder {
    Lio::builder().backend(backend)
}

/// A driver with default settings on `backend`.
#[track_caller]
pub fn driver(backend: Backend) -> Lio {
    checked(backend, builder(backend).build())
}

/// Unwraps a driver built with [`builder`] and checks that it runs on `backend`, chosen, not
/// fallen back to.
#[track_caller]
pub fn checked(backend: Backend, built: io::Result<Lio>) -> Lio {
    let lio = built.unwrap_or_else(|e| panic!("a {backend} driver: {e}"));
    assert_eq!(lio.backend(), backend);
    assert_eq!(
        lio.fallback_reason(),
        None,
        "a forced backend never falls back"
    );
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

/// A blocking pipe: (read end as a [`Resource`], write end as a plain descriptor).
pub fn raw_pipe() -> (Resource, OwnedFd) {
    let (reader, writer) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("create a pipe");
    (Resource::from(reader), writer)
}

/// Whether `fd` has bytes to read (or is at EOF): a zero-timeout `poll`.
pub fn readable(fd: &impl std::os::fd::AsFd) -> bool {
    let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
    rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())).expect("poll") == 1
}

/// Runs the driver in steps of at most 20 ms until `done()` holds, failing after 10 s.
#[track_caller]
pub fn run_for(lio: &Lio, what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "timed out after 10 s: {what}"
        );
        lio.run_timeout(std::time::Duration::from_millis(20))
            .expect("run the driver");
    }
}

/// Serialises the tests of one binary that close descriptors underneath a [`Resource`]
/// (see [`closed_resource`]).
fn closed_fd_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A [`Resource`] whose descriptor has been closed underneath it, and the lock that keeps
/// its number from being reused meanwhile.
///
/// The descriptor is moved to a number of at least 900, away from the low numbers that other
/// test threads get from `open`, then closed; the guard keeps the other tests of this binary
/// that close descriptors from taking that number. Hand the resource to `lio.close` last (it
/// reports `EBADF` and closes nothing), never drop it: its drop would close a number that may
/// belong to someone else by then.
pub struct ClosedFd {
    /// The resource naming the closed descriptor.
    pub res: Option<Resource>,
    _guard: MutexGuard<'static, ()>,
}

impl Drop for ClosedFd {
    fn drop(&mut self) {
        if let Some(res) = self.res.take() {
            // Never close the (closed, maybe reused) number: leak the handle instead.
            std::mem::forget(res);
        }
    }
}

/// Closes `fd` underneath a new [`Resource`] (see [`ClosedFd`]). `prepare` runs on the
/// resource while its descriptor is still open (e.g. to let lio learn what kind of file it
/// is, or to register it with a poller).
pub fn closed_resource(fd: impl Into<OwnedFd>, prepare: impl FnOnce(&Resource)) -> ClosedFd {
    let guard = closed_fd_lock();
    let fd: OwnedFd = fd.into();
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor we own; it only creates a new one.
    let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 900) };
    assert!(
        high >= 900,
        "F_DUPFD_CLOEXEC: {}",
        io::Error::last_os_error()
    );
    drop(fd);
    // SAFETY: `high` is a new descriptor that nothing else owns.
    let res = Resource::from(unsafe { OwnedFd::from_raw_fd(high) });
    prepare(&res);
    // SAFETY: `high` is open and only `res` names it; `ClosedFd` never closes it again.
    assert_eq!(unsafe { libc::close(high) }, 0);
    ClosedFd {
        res: Some(res),
        _guard: guard,
    }
}

/// Threads of this process named `lio-pool` (lio's blocking pool), from `/proc/self/task`.
pub fn pool_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == "lio-pool")
        })
        .count()
}

/// Makes `path` a FIFO (mode 0600).
pub fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
}

/// Opens `fifo` for reading without blocking, after `delay`, on another thread: an open for
/// writing that waits for a reader completes then. Join the handle to close the reader.
pub fn open_fifo_reader_after(
    fifo: &Path,
    delay: std::time::Duration,
) -> std::thread::JoinHandle<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let fifo = fifo.to_owned();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .expect("open the FIFO for reading")
    })
}

/// Implements `IoBuf` and `IoBufMut` for a test buffer type by delegating to its `data:
/// Vec<u8>` field (the types differ only in what their `Drop` records).
#[allow(unused_macros)]
macro_rules! vec_backed_buf {
    ($ty:ty) => {
        // SAFETY: delegates to the inner `Vec<u8>`, whose heap pointer is stable across moves
        // and whose first `len` bytes are initialised.
        unsafe impl lio::buf::IoBuf for $ty {
            fn buf_ptr(&self) -> *const u8 {
                self.data.as_ptr()
            }
            fn buf_len(&self) -> usize {
                self.data.len()
            }
        }

        // SAFETY: delegates to the inner `Vec<u8>`: its whole capacity is writable through the
        // heap pointer, and `set_len(n)` with `n <= capacity` is sound once `n` bytes are
        // initialised.
        unsafe impl lio::buf::IoBufMut for $ty {
            fn buf_mut_ptr(&mut self) -> *mut u8 {
                self.data.as_mut_ptr()
            }
            fn buf_capacity(&self) -> usize {
                self.data.capacity()
            }
            unsafe fn set_buf_init(&mut self, len: usize) {
                // SAFETY: forwarded: the caller guarantees `len <= capacity` initialised bytes.
                unsafe { self.data.set_len(len) }
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use vec_backed_buf;
