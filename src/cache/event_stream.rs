//! An informer's events as an async [`Stream`], for code that prefers `async` over
//! callbacks.
//!
//! [`SharedIndexInformer::stream`](super::SharedIndexInformer::stream) registers a handler
//! that forwards every notification into an unbounded channel; the [`EventStream`] reads
//! the other end. Like any handler it has its own buffer, so a stream that is polled
//! slowly delays nobody else. Dropping the stream removes the handler.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use super::handler::{DeletedObject, ResourceEventHandler};
use super::processor::{EventHandlerRegistration, SharedProcessor};

/// One change the informer applied to its cache.
#[derive(Debug)]
pub enum InformerEvent<K> {
    /// An object was added; `in_initial_list` as in
    /// [`ResourceEventHandler::on_add`].
    Added {
        /// The object.
        object: Arc<K>,
        /// Whether it belongs to the initial list.
        in_initial_list: bool,
    },
    /// An object changed (a resync gives the same object twice).
    Updated {
        /// The state before.
        old: Arc<K>,
        /// The state after.
        new: Arc<K>,
    },
    /// An object was deleted (or its deletion was noticed at a relist: a tombstone).
    Deleted(DeletedObject<K>),
}

impl<K> Clone for InformerEvent<K> {
    fn clone(&self) -> Self {
        match self {
            InformerEvent::Added {
                object,
                in_initial_list,
            } => InformerEvent::Added {
                object: object.clone(),
                in_initial_list: *in_initial_list,
            },
            InformerEvent::Updated { old, new } => InformerEvent::Updated {
                old: old.clone(),
                new: new.clone(),
            },
            InformerEvent::Deleted(d) => InformerEvent::Deleted(d.clone()),
        }
    }
}

/// The handler behind an [`EventStream`].
pub(crate) struct StreamHandler<K> {
    tx: mpsc::UnboundedSender<InformerEvent<K>>,
}

impl<K> StreamHandler<K> {
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<InformerEvent<K>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (StreamHandler { tx }, rx)
    }
}

impl<K: Send + Sync + 'static> ResourceEventHandler<K> for StreamHandler<K> {
    fn on_add(&self, object: Arc<K>, in_initial_list: bool) {
        let _ = self.tx.send(InformerEvent::Added {
            object,
            in_initial_list,
        });
    }

    fn on_update(&self, old: Arc<K>, new: Arc<K>) {
        let _ = self.tx.send(InformerEvent::Updated { old, new });
    }

    fn on_delete(&self, deleted: DeletedObject<K>) {
        let _ = self.tx.send(InformerEvent::Deleted(deleted));
    }
}

/// The informer's events, in the order the informer applied them. Ends when the
/// informer stops.
pub struct EventStream<K: Send + Sync + 'static> {
    rx: mpsc::UnboundedReceiver<InformerEvent<K>>,
    registration: EventHandlerRegistration<K>,
    processor: Weak<SharedProcessor<K>>,
}

impl<K: Send + Sync + 'static> EventStream<K> {
    pub(crate) fn new(
        rx: mpsc::UnboundedReceiver<InformerEvent<K>>,
        registration: EventHandlerRegistration<K>,
        processor: Weak<SharedProcessor<K>>,
    ) -> Self {
        EventStream {
            rx,
            registration,
            processor,
        }
    }

    /// The registration of the handler behind the stream (its `has_synced`, its backlog).
    pub fn registration(&self) -> &EventHandlerRegistration<K> {
        &self.registration
    }
}

impl<K: Send + Sync + 'static> Stream for EventStream<K> {
    type Item = InformerEvent<K>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl<K: Send + Sync + 'static> Drop for EventStream<K> {
    fn drop(&mut self) {
        if let Some(processor) = self.processor.upgrade() {
            processor.remove_listener(self.registration.id());
        }
    }
}

impl<K: Send + Sync + 'static> std::fmt::Debug for EventStream<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("registration", &self.registration)
            .finish_non_exhaustive()
    }
}
