//! A minimal join for a fixed set of futures, allocation-free once its slots exist.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Polls every future in `slots` until all have finished, emptying each slot and handing
/// its output (with the slot's index) to `done`. Each wake-up polls only the slots still
/// running; the slots are the caller's, so nothing is allocated here.
pub async fn join_all<F: Future + Unpin>(
    slots: &mut [Option<F>],
    mut done: impl FnMut(usize, F::Output),
) {
    poll_fn(|cx| {
        let mut pending = false;
        for (index, slot) in slots.iter_mut().enumerate() {
            let Some(future) = slot.as_mut() else {
                continue;
            };
            match Pin::new(future).poll(cx) {
                Poll::Ready(output) => {
                    *slot = None;
                    done(index, output);
                }
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}
