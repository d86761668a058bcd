//! Producing items ahead of the consumer on a background thread, through a bounded queue, so
//! decoding and augmentation overlap with the training step. Shared by both batch loaders.

use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

/// Items kept ready ahead of the trainer.
pub const PREFETCH: usize = 3;

/// How a producer's stream ends early.
pub trait Item: Send + 'static {
    /// True for an item after which nothing more is produced (an error).
    fn ends_stream(&self) -> bool {
        false
    }
    /// What the consumer sees if the producer thread died without finishing (a panic).
    fn producer_lost() -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// The items `produce(0) … produce(total − 1)`, in order, made on a background thread (or on the
/// caller's thread if no thread can be spawned). Dropping it early stops the producer.
///
/// Consume it from an ordinary thread, not from inside a rayon task: producers use the rayon
/// pool, and a pool worker blocked waiting on one could starve it.
pub struct Prefetch<T: Item> {
    rx: Option<Receiver<T>>,
    handle: Option<JoinHandle<()>>,
    inline: Option<Box<dyn Fn(usize) -> T + Send>>,
    next: usize,
    total: usize,
}

impl<T: Item> Prefetch<T> {
    pub fn spawn(name: &str, total: usize, produce: impl Fn(usize) -> T + Send + Clone + 'static) -> Self {
        let (tx, rx) = sync_channel(PREFETCH);
        let worker = produce.clone();
        let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
            for i in 0..total {
                let item = worker(i);
                let last = item.ends_stream();
                // A failed send means the consumer is gone.
                if tx.send(item).is_err() || last {
                    return;
                }
            }
        });
        match spawned {
            Ok(handle) => Self { rx: Some(rx), handle: Some(handle), inline: None, next: 0, total },
            Err(_) => Self { rx: None, handle: None, inline: Some(Box::new(produce)), next: 0, total },
        }
    }
}

impl<T: Item> Iterator for Prefetch<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.next >= self.total {
            return None;
        }
        let item = match (&self.rx, &self.inline) {
            (Some(rx), _) => match rx.recv() {
                Ok(item) => item,
                Err(_) => {
                    self.next = self.total;
                    return T::producer_lost();
                }
            },
            (None, Some(produce)) => produce(self.next),
            (None, None) => return None,
        };
        self.next = if item.ends_stream() { self.total } else { self.next + 1 };
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total.saturating_sub(self.next);
        (left, Some(left))
    }
}

impl<T: Item> ExactSizeIterator for Prefetch<T> {}

impl<T: Item> Drop for Prefetch<T> {
    fn drop(&mut self) {
        // Closing the channel first makes a blocked producer's `send` fail, so the join below
        // returns after at most one item.
        drop(self.rx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
