//! Wakers are user code: dropping one may drop other lio futures of the same driver (an
//! executor whose waker is the last owner of a task owns that task's futures). lio must
//! therefore never drop a waker while it holds its driver borrowed. Both places where lio
//! lets go of a registered waker are exercised: re-polling a future with a different waker,
//! and dropping a future that is still in flight. Either must leave the other future
//! detached and cancelled, with no panic. Both tests run on each backend.

mod common;

use common::backend_tests;
use lio::Lio;
use std::cell::RefCell;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

backend_tests!(
    repolling_with_another_waker_drops_the_old_one_outside_the_driver_borrow,
    dropping_an_in_flight_future_drops_its_waker_outside_the_driver_borrow,
);

type SleepFuture = lio::IoFuture<lio::op::Sleep>;

thread_local! {
    /// The future owned by the "task" whose waker is [`DropsVictim`].
    static VICTIM: RefCell<Option<SleepFuture>> = const { RefCell::new(None) };
}

/// A waker that, when its last clone goes, drops the future in [`VICTIM`] (as dropping the
/// last reference to a task drops the task's future).
struct DropsVictim;

impl Wake for DropsVictim {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropsVictim {
    fn drop(&mut self) {
        let victim = VICTIM.with(|v| v.borrow_mut().take());
        drop(victim);
    }
}

fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Submits a 60 s sleep whose future becomes the victim, and a second one polled with a
/// [`DropsVictim`] waker that only lio still holds afterwards.
fn setup(lio: &Lio) -> SleepFuture {
    let mut victim = lio.sleep(Duration::from_secs(60)).into_future();
    assert!(poll_with(&mut victim, Waker::noop()).is_pending());
    VICTIM.with(|v| *v.borrow_mut() = Some(victim));
    let mut holder = lio.sleep(Duration::from_secs(60)).into_future();
    let waker = Waker::from(Arc::new(DropsVictim));
    assert!(poll_with(&mut holder, &waker).is_pending());
    drop(waker);
    lio.try_run().unwrap();
    assert_eq!(lio.in_flight(), 2);
    holder
}

fn assert_all_released(lio: &Lio) {
    assert!(
        VICTIM.with(|v| v.borrow().is_none()),
        "the victim future was dropped"
    );
    let start = Instant::now();
    while lio.in_flight() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{} sleeps still in flight: a dropped future was not cancelled",
            lio.in_flight()
        );
        lio.run_timeout(Duration::from_millis(20)).unwrap();
    }
}

fn repolling_with_another_waker_drops_the_old_one_outside_the_driver_borrow(lio: &Lio) {
    let mut holder = setup(lio);
    // Replaces the registered `DropsVictim` waker: its drop drops the victim future.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poll_with(&mut holder, Waker::noop()).is_pending()
    }));
    assert!(
        matches!(result, Ok(true)),
        "re-polling with a new waker panicked: lio dropped the old waker while its driver \
         was borrowed, and the waker's drop used the driver"
    );
    drop(holder);
    assert_all_released(lio);
}

fn dropping_an_in_flight_future_drops_its_waker_outside_the_driver_borrow(lio: &Lio) {
    let holder = setup(lio);
    // Detaches the holder: lio lets go of its `DropsVictim` waker.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(holder)));
    assert!(
        result.is_ok(),
        "dropping a future panicked: lio dropped its waker while the driver was borrowed, \
         and the waker's drop used the driver"
    );
    assert_all_released(lio);
}
