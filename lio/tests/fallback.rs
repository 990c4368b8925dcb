//! The io_uring → epoll fallback, for real, and the rules that choose a backend.
//!
//! What this file proves:
//!
//! - **Fallback under seccomp** ([`falls_back_to_epoll_when_io_uring_is_blocked`]): the test
//!   re-runs this test binary as a child process whose only test, [`child_under_seccomp`],
//!   installs a seccomp filter that makes `io_uring_setup`, `io_uring_enter` and
//!   `io_uring_register` fail with `EPERM` (what Docker's default profile does), on every
//!   thread of the child. The child checks that raw io_uring syscalls now fail (on the
//!   calling thread, on a thread that existed before the filter and on a new one), that a
//!   forced io_uring driver fails instead of falling back, and that `Lio::new()` picks epoll
//!   and says why. It then runs real operations on that epoll driver (open with a mode,
//!   positioned and unpositioned reads and writes, vectored I/O, fsync, statx, ftruncate,
//!   rename, unlink, mkdir/rmdir, pipe reads that complete after a write, sleeps, deadlines,
//!   cancellation, all four completion styles) and compares every result with `std`. The
//!   child prints [`MARKER`] as its last act; the parent requires a successful exit *and*
//!   that line, so a child that skipped, ran nothing or stopped early fails the parent.
//! - **`LIO_BACKEND` is a request, not a hint** ([`lio_backend_io_uring_under_seccomp_fails`]):
//!   under the same filter, `LIO_BACKEND=io_uring` (or `uring`) makes `Lio::new()` fail with
//!   `EPERM` instead of silently falling back, and `LIO_BACKEND=epoll` gives epoll with no
//!   fallback reason.
//! - **Backend selection without seccomp**: backend names parse case-insensitively and
//!   unknown names are `InvalidInput`; a forced epoll driver has no fallback reason; with
//!   `LIO_BACKEND` unset `Lio::new()` picks io_uring when the kernel allows it (and falls back
//!   with a reason when it does not); `LIO_BACKEND=epoll` picks epoll and `LIO_BACKEND=bogus`
//!   makes `Lio::new()` fail with `InvalidInput`. Every test that depends on `LIO_BACKEND`
//!   runs in a child process with an environment it controls, so the environment of
//!   `cargo test` (which may set `LIO_BACKEND` to test a backend) never changes the outcome
//!   and no test mutates the parent's environment.
//!
//! The child tests are `#[ignore]`d and, in addition, do nothing unless
//! `LIO_FALLBACK_CHILD` names them, so `cargo test -- --ignored` never installs a seccomp
//! filter into a shared test process.
//!
//! The seccomp filter is a hand-written classic-BPF program (see [`seccomp`]); it is only
//! written for x86_64 and aarch64 and the seccomp tests print a skip reason elsewhere.

#![deny(clippy::undocumented_unsafe_blocks)]

use lio::{Backend, Lio};
use std::io::{self, Read as _};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[path = "fallback_support/checks.rs"]
mod checks;

use checks::{
    assert_errno, assert_kind, cancellation, completion_styles, file_io, path_ops,
    pipe_read_completes_after_write, pipe_write, sleep_and_deadlines, TempDir,
};

/// Names the child test a child process must run; a child test does nothing without it.
const CHILD_ENV: &str = "LIO_FALLBACK_CHILD";
/// Set to `1` to make [`child_report_backend`] install the seccomp filter first.
const SECCOMP_ENV: &str = "LIO_FALLBACK_SECCOMP";
/// The last line [`child_under_seccomp`] prints, only after every check passed.
const MARKER: &str = "fallback-child: ok backend=epoll";
/// Prefix of the one line [`child_report_backend`] prints.
const REPORT: &str = "fallback-report:";
/// How long a child process may run before it is killed and the test fails.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------
// The seccomp filter
// ---------------------------------------------------------------------------------------

/// A classic-BPF seccomp filter that blocks io_uring, as Docker's default profile does.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod seccomp {
    use std::io;
    use std::mem::offset_of;

    /// `seccomp_data.arch` of this process's native system-call ABI:
    /// `EM_X86_64 (62) | __AUDIT_ARCH_64BIT (0x8000_0000) | __AUDIT_ARCH_LE (0x4000_0000)`.
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E;
    /// `seccomp_data.arch` of this process's native system-call ABI:
    /// `EM_AARCH64 (183) | __AUDIT_ARCH_64BIT (0x8000_0000) | __AUDIT_ARCH_LE (0x4000_0000)`.
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH_NATIVE: u32 = 0xC000_00B7;

    /// `io_uring_setup`, `io_uring_enter`, `io_uring_register`: 425, 426 and 427 on both
    /// x86_64 and aarch64 (they were added after the syscall tables were unified).
    const BLOCKED: [u32; 3] = [425, 426, 427];
    const _: () = assert!(libc::SYS_io_uring_setup == 425);
    const _: () = assert!(libc::SYS_io_uring_enter == 426);
    const _: () = assert!(libc::SYS_io_uring_register == 427);

    /// `BPF_STMT(code, k)`: an instruction without jumps.
    fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// `BPF_JUMP(code, k, jt, jf)`: a conditional jump; `jt`/`jf` count instructions to skip
    /// after this one when the condition holds / does not hold.
    fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        }
    }

    /// The program. The accumulator `A` is loaded from the kernel's `struct seccomp_data`
    /// (`{ int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }`) describing the system
    /// call being made.
    fn program() -> Vec<libc::sock_filter> {
        let load_word = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
        let jump_if_equal = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
        let ret = libc::BPF_RET | libc::BPF_K;
        let arch = offset_of!(libc::seccomp_data, arch) as u32;
        let nr = offset_of!(libc::seccomp_data, nr) as u32;
        let eperm = libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA);
        vec![
            // 0: A = seccomp_data.arch
            stmt(load_word, arch),
            // 1: native ABI? go on at 2 : allow (6). System-call numbers are per ABI, so
            //    425 means io_uring_setup only under the native one; lio makes no calls
            //    through another ABI (x86 compat, x32), so those are let through.
            jump(jump_if_equal, AUDIT_ARCH_NATIVE, 0, 4),
            // 2: A = seccomp_data.nr
            stmt(load_word, nr),
            // 3: io_uring_setup? fail it (7) : go on at 4
            jump(jump_if_equal, BLOCKED[0], 3, 0),
            // 4: io_uring_enter? fail it (7) : go on at 5
            jump(jump_if_equal, BLOCKED[1], 2, 0),
            // 5: io_uring_register? fail it (7) : allow (6)
            jump(jump_if_equal, BLOCKED[2], 1, 0),
            // 6: run the system call
            stmt(ret, libc::SECCOMP_RET_ALLOW),
            // 7: do not run it; return -1 with errno EPERM
            stmt(ret, eperm),
        ]
    }

    /// Installs the filter on every thread of this process (`SECCOMP_FILTER_FLAG_TSYNC`),
    /// and on every thread created later (filters are inherited). It cannot be removed.
    pub fn install() -> io::Result<()> {
        // An unprivileged process may install a filter only after promising never to gain
        // privileges (setuid binaries would otherwise run under a filter they do not expect).
        // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) takes only integer arguments and
        // changes only this process's privilege flag.
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let filter = program();
        let prog = libc::sock_fprog {
            len: u16::try_from(filter.len()).expect("a short program"),
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) reads
        // `prog` and the `prog.len` instructions it points to, both alive for the whole
        // call; the kernel copies the program and keeps no pointer to our memory.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                libc::SECCOMP_FILTER_FLAG_TSYNC,
                &prog as *const libc::sock_fprog,
            )
        };
        match rc {
            0 => Ok(()),
            // With TSYNC, a positive result is the id of a thread that could not be
            // synchronised (it already runs under an unrelated filter).
            tid if tid > 0 => Err(io::Error::other(format!(
                "seccomp TSYNC: thread {tid} could not be synchronised"
            ))),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

/// The filter is only written for x86_64 and aarch64; elsewhere the seccomp tests skip.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod seccomp {
    pub fn install() -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the test's seccomp filter is only written for x86_64 and aarch64",
        ))
    }
}

/// Whether this architecture has a seccomp filter; prints why not otherwise.
fn seccomp_supported(test: &str) -> bool {
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return true;
    }
    println!(
        "skipped: {test}: the seccomp filter is only written for x86_64 and aarch64, not {}",
        std::env::consts::ARCH
    );
    false
}

// ---------------------------------------------------------------------------------------
// Raw io_uring system calls, to check the filter independently of lio
// ---------------------------------------------------------------------------------------

/// `io_uring_setup(2, &params)`, closing the ring if one was created.
fn raw_io_uring_setup() -> io::Result<()> {
    // `struct io_uring_params` is 120 bytes: 10 `u32`s, then `io_sqring_offsets` and
    // `io_cqring_offsets` (40 bytes each, 8-byte aligned).
    let mut params = [0u64; 15];
    // SAFETY: io_uring_setup reads and writes exactly one `struct io_uring_params` (120
    // bytes, 8-byte aligned) at its second argument: `params` is a live, zeroed, suitably
    // aligned buffer of that size. It touches no other memory of ours.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            2 as libc::c_ulong,
            params.as_mut_ptr(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).expect("a descriptor fits in an int");
    // SAFETY: the kernel just returned `fd`, a new descriptor nothing else owns or closes.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

/// `io_uring_enter(-1, 0, 0, 0, NULL, 0)`: `EBADF` if the call is allowed, `EPERM` if the
/// filter stops it.
fn raw_io_uring_enter() -> io::Error {
    // SAFETY: an invalid descriptor with no submissions, no waits and a null signal set: the
    // kernel rejects the descriptor before reading any memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            -1 as libc::c_long,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            std::ptr::null::<libc::sigset_t>(),
            0 as libc::c_ulong,
        )
    };
    assert_eq!(rc, -1, "io_uring_enter on fd -1 cannot succeed");
    io::Error::last_os_error()
}

/// `io_uring_register(-1, IORING_REGISTER_PROBE (8), NULL, 0)`: `EBADF` if allowed,
/// `EPERM` if the filter stops it.
fn raw_io_uring_register() -> io::Error {
    // SAFETY: an invalid descriptor and a null argument of length 0: the kernel rejects the
    // descriptor before reading any memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            -1 as libc::c_long,
            8 as libc::c_ulong,
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_ulong,
        )
    };
    assert_eq!(rc, -1, "io_uring_register on fd -1 cannot succeed");
    io::Error::last_os_error()
}

// ---------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------

/// What a child process did.
struct ChildOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl ChildOutput {
    /// Everything the child printed, for failure messages.
    fn dump(&self) -> String {
        format!(
            "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    /// Asserts a successful exit in which libtest really ran exactly one test.
    #[track_caller]
    fn assert_ran_one_test(&self) {
        assert!(self.status.success(), "the child failed:\n{}", self.dump());
        assert!(
            self.stdout.contains("test result: ok. 1 passed"),
            "the child did not run exactly one test:\n{}",
            self.dump()
        );
    }
}

/// Runs the `#[ignore]`d test `test` of this binary alone in a child process, with
/// `LIO_BACKEND` removed and then `env` applied, and waits at most [`CHILD_TIMEOUT`].
fn run_child(test: &str, env: &[(&str, &str)]) -> ChildOutput {
    let exe = std::env::current_exe().expect("the path of this test binary");
    let mut command = Command::new(exe);
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("LIO_BACKEND")
        .env_remove(SECCOMP_ENV)
        .env(CHILD_ENV, test)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start the child process");
    // Read both pipes on their own threads, so that a chatty child cannot fill one and
    // block while we wait for its exit.
    let drain = |pipe: Option<Box<dyn io::Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("poll the child process") {
            break (status, false);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break (child.wait().expect("reap the killed child"), true);
        }
        thread::sleep(Duration::from_millis(10));
    };
    let output = ChildOutput {
        status,
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    };
    assert!(
        !timed_out,
        "the child {test} ran longer than {CHILD_TIMEOUT:?} and was killed:\n{}",
        output.dump()
    );
    output
}

/// Whether this process is the child meant to run `test`; prints why not otherwise.
fn is_child(test: &str) -> bool {
    if std::env::var(CHILD_ENV).as_deref() == Ok(test) {
        return true;
    }
    println!("skipped: {test} only runs as a child process of the tests in tests/fallback.rs");
    false
}

/// What [`child_report_backend`] saw, parsed from its [`REPORT`] line.
#[derive(Debug)]
struct Report {
    /// `Backend::from_env()`: `unset`, a backend name, or `error:<ErrorKind>`.
    from_env: String,
    /// `Lio::new()`: a backend name or `error:<ErrorKind>:<errno or none>`.
    new: String,
    /// `Lio::fallback_reason()`: `none` or `some:<reason>`.
    reason: String,
}

/// Runs [`child_report_backend`] with `LIO_BACKEND` set to `backend` (removed if `None`),
/// under the seccomp filter if `seccomp`, and parses its report.
fn run_report(backend: Option<&str>, seccomp: bool) -> Report {
    let mut env = Vec::new();
    if let Some(backend) = backend {
        env.push(("LIO_BACKEND", backend));
    }
    if seccomp {
        env.push((SECCOMP_ENV, "1"));
    }
    let output = run_child("child_report_backend", &env);
    output.assert_ran_one_test();
    // libtest prints the test's name and then, on the same line, what the test prints.
    let line = output
        .stdout
        .lines()
        .find_map(|line| line.split_once(REPORT).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no {REPORT} line:\n{}", output.dump()));
    let parse = || {
        let rest = line.trim_start().strip_prefix("from_env=")?;
        let (from_env, rest) = rest.split_once(" new=")?;
        let (new, reason) = rest.split_once(" reason=")?;
        Some(Report {
            from_env: from_env.to_owned(),
            new: new.to_owned(),
            reason: reason.to_owned(),
        })
    };
    let report = parse().unwrap_or_else(|| panic!("malformed report {line:?}"));
    println!(
        "LIO_BACKEND={backend:?} seccomp={seccomp}: {}",
        line.trim_start()
    );
    report
}

/// Whether this kernel lets this process create an io_uring (raw syscall, no lio).
fn host_has_io_uring() -> bool {
    match raw_io_uring_setup() {
        Ok(()) => true,
        Err(e) => {
            println!("note: io_uring_setup fails on this host ({e}): expecting the fallback");
            false
        }
    }
}

#[test]
fn falls_back_to_epoll_when_io_uring_is_blocked() {
    if !seccomp_supported("falls_back_to_epoll_when_io_uring_is_blocked") {
        return;
    }
    let started = Instant::now();
    let output = run_child("child_under_seccomp", &[]);
    print!("{}", output.stdout);
    output.assert_ran_one_test();
    assert!(
        output
            .stdout
            .lines()
            .any(|line| line.trim_end().ends_with(MARKER)),
        "the child passed without printing {MARKER:?}:\n{}",
        output.dump()
    );
    println!("child under seccomp: ok in {:?}", started.elapsed());
}

#[test]
fn lio_backend_io_uring_under_seccomp_fails() {
    if !seccomp_supported("lio_backend_io_uring_under_seccomp_fails") {
        return;
    }
    for name in ["io_uring", "uring"] {
        let report = run_report(Some(name), true);
        assert_eq!(report.from_env, "io_uring", "{report:?}");
        assert_eq!(
            report.new,
            format!("error:PermissionDenied:{}", libc::EPERM),
            "LIO_BACKEND={name} must fail, not fall back: {report:?}"
        );
    }
    let report = run_report(Some("epoll"), true);
    assert_eq!(report.from_env, "epoll", "{report:?}");
    assert_eq!(report.new, "epoll", "{report:?}");
    assert_eq!(report.reason, "none", "a requested backend is no fallback");
    let report = run_report(None, true);
    assert_eq!(report.from_env, "unset", "{report:?}");
    assert_eq!(report.new, "epoll", "{report:?}");
    assert!(report.reason.starts_with("some:"), "{report:?}");
}

/// The child of [`falls_back_to_epoll_when_io_uring_is_blocked`]: blocks io_uring with
/// seccomp, then checks the fallback and runs real operations on it.
#[test]
#[ignore = "runs only as a child process of falls_back_to_epoll_when_io_uring_is_blocked"]
fn child_under_seccomp() {
    if !is_child("child_under_seccomp") {
        return;
    }
    let started = Instant::now();
    println!(
        "fallback-child: io_uring_setup before the filter: {:?}",
        raw_io_uring_setup()
    );

    // A thread that exists before the filter is installed: TSYNC must cover it.
    let (go, wait_for_go) = mpsc::channel::<()>();
    let old_thread = thread::spawn(move || {
        wait_for_go.recv().expect("the go signal");
        raw_io_uring_setup()
    });
    seccomp::install().expect("install the seccomp filter");
    go.send(()).expect("signal the old thread");
    assert_errno(&raw_io_uring_setup(), libc::EPERM);
    assert_errno(&old_thread.join().expect("old thread"), libc::EPERM);
    let new_thread = thread::spawn(raw_io_uring_setup);
    assert_errno(&new_thread.join().expect("new thread"), libc::EPERM);
    assert_eq!(raw_io_uring_enter().raw_os_error(), Some(libc::EPERM));
    assert_eq!(raw_io_uring_register().raw_os_error(), Some(libc::EPERM));
    println!("fallback-child: seccomp filter installed; io_uring syscalls fail with EPERM");

    // A forced backend never falls back.
    let forced = Lio::builder().backend(Backend::IoUring).build();
    assert_errno(&forced.map(|lio| lio.backend()), libc::EPERM);
    println!("fallback-child: Builder::backend(IoUring) fails with EPERM");

    // The automatic choice falls back, and says why.
    assert!(
        matches!(Backend::from_env(), Ok(None)),
        "LIO_BACKEND must be unset in the child"
    );
    let lio = Lio::new().expect("Lio::new() must fall back to epoll");
    assert_eq!(lio.backend(), Backend::Epoll);
    let reason = lio
        .fallback_reason()
        .expect("a fallback driver has a reason");
    let eperm = io::Error::from_raw_os_error(libc::EPERM).to_string();
    assert!(
        reason.contains(&eperm),
        "the reason {reason:?} does not mention {eperm:?}"
    );
    assert!(
        reason.contains("io_uring") && reason.contains("epoll"),
        "{reason:?}"
    );
    assert!(format!("{lio:?}").contains("Epoll"));
    println!(
        "fallback-child: Lio::new() -> backend={} fallback_reason={reason:?}",
        lio.backend()
    );
    // A second driver on the same thread falls back the same way.
    let second = Lio::new().expect("a second driver");
    assert_eq!(second.backend(), Backend::Epoll);
    assert!(second.fallback_reason().is_some());
    drop(second);

    let dir = TempDir::new("seccomp");
    file_io(&lio, &dir);
    path_ops(&lio, &dir);
    pipe_read_completes_after_write(&lio);
    pipe_write(&lio);
    sleep_and_deadlines(&lio);
    cancellation(&lio);
    completion_styles(&lio, &dir);
    lio.nop().wait().expect("nop");
    assert_eq!(lio.in_flight(), 0, "nothing may be left in flight");
    drop(lio);
    println!(
        "fallback-child: all operations matched std in {:?}",
        started.elapsed()
    );
    println!("{MARKER}");
}

/// The child of the `LIO_BACKEND` tests: reports what `Backend::from_env()` and
/// `Lio::new()` give in its environment (under the seccomp filter if
/// `LIO_FALLBACK_SECCOMP=1`).
#[test]
#[ignore = "runs only as a child process of the LIO_BACKEND tests"]
fn child_report_backend() {
    if !is_child("child_report_backend") {
        return;
    }
    if std::env::var(SECCOMP_ENV).as_deref() == Ok("1") {
        seccomp::install().expect("install the seccomp filter");
        assert_errno(&raw_io_uring_setup(), libc::EPERM);
    }
    let from_env = match Backend::from_env() {
        Ok(None) => "unset".to_owned(),
        Ok(Some(backend)) => backend.to_string(),
        Err(e) => format!("error:{:?}", e.kind()),
    };
    let (new, reason) = match Lio::new() {
        Ok(lio) => {
            lio.nop().wait().expect("a nop on the new driver");
            let reason = match lio.fallback_reason() {
                None => "none".to_owned(),
                Some(reason) => format!("some:{reason}"),
            };
            (lio.backend().to_string(), reason)
        }
        Err(e) => {
            let errno = e
                .raw_os_error()
                .map_or("none".to_owned(), |n| n.to_string());
            (format!("error:{:?}:{errno}", e.kind()), "none".to_owned())
        }
    };
    println!("{REPORT} from_env={from_env} new={new} reason={reason}");
}

// ---------------------------------------------------------------------------------------
// Backend selection without seccomp
// ---------------------------------------------------------------------------------------

#[test]
fn backend_names_parse() {
    for name in ["epoll", "EPOLL", "Epoll", " epoll\n"] {
        assert_eq!(
            name.parse::<Backend>().expect(name),
            Backend::Epoll,
            "{name:?}"
        );
    }
    for name in [
        "io_uring", "IO_URING", "Io_Uring", "uring", "URING", "iouring", "io-uring",
    ] {
        assert_eq!(
            name.parse::<Backend>().expect(name),
            Backend::IoUring,
            "{name:?}"
        );
    }
    for name in ["", "kqueue", "iocp", "poll", "epoll2", "io uring", "e poll"] {
        assert_kind(&name.parse::<Backend>(), io::ErrorKind::InvalidInput);
    }
    // Display gives names that parse back.
    for backend in [Backend::IoUring, Backend::Epoll] {
        assert_eq!(
            backend.to_string().parse::<Backend>().expect("parse"),
            backend
        );
    }
}

#[test]
fn forced_epoll_has_no_fallback_reason() {
    // A forced backend overrides LIO_BACKEND, so the parent's environment does not matter.
    let lio = Lio::builder()
        .backend(Backend::Epoll)
        .build()
        .expect("an epoll driver");
    assert_eq!(lio.backend(), Backend::Epoll);
    assert_eq!(lio.fallback_reason(), None);
    lio.nop().wait().expect("nop");
    lio.sleep(Duration::from_millis(1)).wait().expect("sleep");
}

#[test]
fn forced_io_uring_on_this_host() {
    let result = Lio::builder().backend(Backend::IoUring).build();
    if host_has_io_uring() {
        let lio = result.expect("an io_uring driver");
        assert_eq!(lio.backend(), Backend::IoUring);
        assert_eq!(lio.fallback_reason(), None);
        lio.nop().wait().expect("nop");
    } else {
        assert!(result.is_err(), "a forced io_uring driver never falls back");
    }
}

#[test]
fn default_backend_without_lio_backend() {
    let report = run_report(None, false);
    assert_eq!(report.from_env, "unset");
    if host_has_io_uring() {
        assert_eq!(report.new, "io_uring", "{report:?}");
        assert_eq!(report.reason, "none", "{report:?}");
    } else {
        assert_eq!(report.new, "epoll", "{report:?}");
        assert!(report.reason.starts_with("some:"), "{report:?}");
    }
}

#[test]
fn lio_backend_epoll_selects_epoll() {
    for name in ["epoll", "EPOLL"] {
        let report = run_report(Some(name), false);
        assert_eq!(report.from_env, "epoll", "{report:?}");
        assert_eq!(report.new, "epoll", "{report:?}");
        assert_eq!(report.reason, "none", "a requested backend is no fallback");
    }
}

#[test]
fn lio_backend_io_uring_selects_io_uring() {
    if !host_has_io_uring() {
        println!("skipped: lio_backend_io_uring_selects_io_uring: no io_uring on this host");
        return;
    }
    let report = run_report(Some("io_uring"), false);
    assert_eq!(report.from_env, "io_uring", "{report:?}");
    assert_eq!(report.new, "io_uring", "{report:?}");
    assert_eq!(report.reason, "none", "{report:?}");
}

#[test]
fn lio_backend_bogus_fails() {
    let report = run_report(Some("bogus"), false);
    assert_eq!(report.from_env, "error:InvalidInput", "{report:?}");
    assert_eq!(report.new, "error:InvalidInput:none", "{report:?}");
}
