//! The four ways to consume an operation (`.await` under `block_on`, `.when_done` callback
//! with `run`, `.send_with`/`.recv` channel with `run`, and `.wait`) give the same result
//! and the same buffer for the same operation, matching `std`. Also: the thread-default
//! driver and `lio::block_on`, and callbacks that submit further operations.

mod common;

use common::{backend_tests, pattern, resource, TempDir};
use lio::{BufResult, Lio};
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

backend_tests!(
    read_at_same_through_every_style,
    write_at_same_through_every_style,
    error_same_through_every_style,
    nop_through_every_style,
    thread_default_driver_block_on,
    callback_may_submit_more_operations,
);

type ReadOutput = BufResult<usize, Vec<u8>>;

/// The styles [`every_style`] uses, in the order of its outputs. `send_with` and `recv` are
/// both checked (`recv` makes its own channel).
const STYLES: [&str; 5] = ["await", "when_done", "send_with", "recv", "wait"];

/// Runs `make()`'s operation once per style; returns the outputs in [`STYLES`] order.
fn every_style<T, O>(lio: &Lio, make: impl Fn() -> lio::Io<T>) -> [O; 5]
where
    T: lio::op::Op<Output = O>,
    O: 'static,
{
    let awaited = lio
        .block_on(async { make().await })
        .expect("block_on drives the driver");

    let (slot, callback) = common::slot();
    make().when_done(callback);
    common::run_until(lio, || slot.borrow().is_some());
    let called = slot.borrow_mut().take().unwrap();

    let (tx, rx) = mpsc::channel();
    make().send_with(tx);
    let mut sent = None;
    common::run_until(lio, || {
        sent = sent.take().or_else(|| rx.try_recv().ok());
        sent.is_some()
    });
    let sent = sent.unwrap();

    let rx = make().recv();
    let mut received = None;
    common::run_until(lio, || {
        received = received.take().or_else(|| rx.try_recv().ok());
        received.is_some()
    });
    let received = received.unwrap();

    let waited = make().wait();
    [awaited, called, sent, received, waited]
}

fn read_at_same_through_every_style(lio: &Lio) {
    let dir = TempDir::new("styles-read");
    let data = pattern(16 * 1024, 11);
    let path = dir.file("f", &data);
    let std_file = std::fs::File::open(&path).unwrap();
    let file = resource(&path, std::fs::OpenOptions::new().read(true));
    let mut expected = vec![0u8; 4096];
    assert_eq!(std_file.read_at(&mut expected, 4096).unwrap(), 4096);

    let outputs: [ReadOutput; 5] =
        every_style(lio, || lio.read_at(&file, Vec::with_capacity(4096), 4096));
    for (style, (n, buf)) in STYLES.iter().zip(outputs) {
        assert_eq!(n.expect(style), 4096, "{style}");
        assert_eq!(buf, expected, "{style}: bytes as std reads them");
    }
}

fn write_at_same_through_every_style(lio: &Lio) {
    let dir = TempDir::new("styles-write");
    let path = dir.file("f", b"");
    let file = resource(&path, &common::rw());
    let next = std::cell::Cell::new(0u64);
    // Each style writes the next 4-byte record.
    let outputs: [BufResult<usize, Vec<u8>>; 5] = every_style(lio, || {
        let i = next.get();
        next.set(i + 1);
        lio.write_at(&file, format!("rec{i}").into_bytes(), i * 4)
    });
    for (i, (style, (n, buf))) in STYLES.iter().zip(outputs).enumerate() {
        assert_eq!(n.expect(style), 4, "{style}");
        assert_eq!(
            buf,
            format!("rec{i}").as_bytes(),
            "{style}: the buffer comes back"
        );
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"rec0rec1rec2rec3rec4",
        "every style's write landed where asked"
    );
}

fn error_same_through_every_style(lio: &Lio) {
    let dir = TempDir::new("styles-error");
    let path = dir.file("f", b"read only");
    let file = resource(&path, std::fs::OpenOptions::new().read(true));
    let outputs: [ReadOutput; 5] = every_style(lio, || lio.write_at(&file, b"nope".to_vec(), 0));
    for (style, (n, buf)) in STYLES.iter().zip(outputs) {
        assert_eq!(n.unwrap_err().raw_os_error(), Some(libc::EBADF), "{style}");
        assert_eq!(buf, b"nope", "{style}: the buffer comes back on error");
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"read only");
}

fn nop_through_every_style(lio: &Lio) {
    let outputs: [std::io::Result<()>; 5] = every_style(lio, || lio.nop());
    for output in outputs {
        output.expect("nop");
    }
}

fn thread_default_driver_block_on(lio: &Lio) {
    // On a thread that never had one: made this test's backend's driver (a default created
    // on first use would follow `LIO_BACKEND`, which this suite never depends on; the
    // choice of backend is tested in fallback.rs).
    let backend = lio.backend();
    let result = std::thread::spawn(move || {
        common::driver(backend).set_thread_default();
        lio::block_on(async {
            let lio = Lio::thread_default()?;
            lio.nop().await?;
            let (n, buf) = lio.read_at(&stat_file()?, Vec::with_capacity(8), 0).await;
            Ok::<_, std::io::Error>((n?, buf.len()))
        })
    })
    .join()
    .unwrap();
    let (n, len) = result
        .expect("block_on")
        .expect("ops on the default driver");
    assert_eq!(n, len);
    assert!(n > 0);

    // Set explicitly: `lio::block_on` drives this driver.
    lio.set_thread_default();
    let default = Lio::thread_default().unwrap();
    assert_eq!(default.backend(), lio.backend());
    let result = lio::block_on(async { Lio::thread_default()?.nop().await }).unwrap();
    result.expect("nop on the thread default");
    let before = lio.in_flight();
    let rx = default.sleep(std::time::Duration::from_secs(30)).recv();
    assert_eq!(
        lio.in_flight(),
        before + 1,
        "the default is this very driver"
    );
    drop(rx);
}

fn stat_file() -> std::io::Result<lio::Resource> {
    Ok(lio::Resource::from(std::fs::File::open("/proc/self/stat")?))
}

fn callback_may_submit_more_operations(lio: &Lio) {
    let dir = TempDir::new("styles-chain");
    let path = dir.file("f", b"");
    let file = resource(&path, &common::rw());
    let (done, callback) = common::slot();

    let (lio2, file2) = (lio.clone(), file.clone());
    lio.write_at(&file, b"first-".to_vec(), 0)
        .when_done(move |(n, _)| {
            assert_eq!(n.unwrap(), 6);
            // Submitting from inside a callback is allowed.
            let (lio3, file3) = (lio2.clone(), file2.clone());
            lio2.write_at(&file2, b"second".to_vec(), 6)
                .when_done(move |(n, _)| {
                    assert_eq!(n.unwrap(), 6);
                    lio3.read_at(&file3, Vec::with_capacity(32), 0)
                        .when_done(callback);
                });
        });
    common::run_until(lio, || done.borrow().is_some());
    let (n, buf) = done.borrow_mut().take().unwrap();
    assert_eq!((n.unwrap(), &buf[..]), (12, &b"first-second"[..]));
    assert_eq!(std::fs::read(&path).unwrap(), b"first-second");
}
