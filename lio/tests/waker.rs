//! `Lio::waker()` wakes a blocked `run()` from another thread, and `block_on` resumes a
//! future woken from another thread even when nothing is in flight. Every test runs on each
//! backend.

mod common;

use common::backend_tests;
use lio::Lio;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

backend_tests!(
    waker_interrupts_blocked_run,
    run_with_nothing_in_flight_returns_at_once,
    block_on_wakes_from_another_thread,
);

fn waker_interrupts_blocked_run(lio: &Lio) {
    let waker = lio.waker().unwrap();
    let sleep = lio.sleep(Duration::from_secs(30)).recv();
    let start = Instant::now();
    let thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        waker.wake();
    });
    assert_eq!(lio.run().unwrap(), 0, "a wake-up is not a completion");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(40),
        "run returned before the wake: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "run was not woken: {elapsed:?}"
    );
    assert!(sleep.try_recv().is_err(), "the sleep must still be pending");
    thread.join().unwrap();
}

fn run_with_nothing_in_flight_returns_at_once(lio: &Lio) {
    let _waker = lio.waker().unwrap();
    let start = Instant::now();
    assert_eq!(lio.run().unwrap(), 0);
    assert_eq!(lio.try_run().unwrap(), 0);
    assert_eq!(lio.run_timeout(Duration::from_secs(5)).unwrap(), 0);
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// A future completed by another thread: the kind of wake `block_on` must not sleep through.
struct Remote {
    done: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Future for Remote {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.done.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn block_on_wakes_from_another_thread(lio: &Lio) {
    let done = Arc::new(AtomicBool::new(false));
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let (done2, slot2) = (done.clone(), slot.clone());
    let thread = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        done2.store(true, Ordering::Release);
        if let Some(waker) = slot2.lock().unwrap().take() {
            waker.wake();
        }
    });
    let start = Instant::now();
    lio.block_on(Remote { done, waker: slot }).unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    thread.join().unwrap();
}
