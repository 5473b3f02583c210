//! The controller loop: pops deltas from the FIFO and applies them, in order, to the
//! store and the processor (client-go's `processDeltas`, "HandleDeltas").
//!
//! How it decides between add and update is told on
//! [`SharedIndexInformer`](super::SharedIndexInformer).

use std::sync::Arc;

use super::delta_fifo::{Delta, DeltaFifo, DeltaObject, DeltaType, Deltas, PopError, ProcessError};
use super::handler::DeletedObject;
use super::in_order_fifo::{InOrderFifo, QueuedDelta};
use super::processor::{Notification, SharedProcessor};
use super::store::{Indexer, StoreError};
use crate::meta::Object;

/// Applies one key's deltas to `store` and distributes the resulting notifications.
pub(crate) fn process_deltas<K>(
    store: &Indexer<K>,
    processor: &SharedProcessor<K>,
    key: &str,
    deltas: &Deltas<K>,
    is_in_initial_list: bool,
) -> Result<(), StoreError>
where
    K: Object + Send + Sync + 'static,
{
    for delta in deltas {
        let previous = match delta.kind {
            DeltaType::Deleted => store.delete_by_key(key)?,
            _ => store.upsert(key.to_owned(), delta.object.object().clone())?,
        };
        notify(processor, delta, previous, is_in_initial_list);
    }
    Ok(())
}

/// The notification for one applied delta, given what the store held before.
fn notify<K: Object + Send + Sync + 'static>(
    processor: &SharedProcessor<K>,
    delta: &Delta<K>,
    previous: Option<Arc<K>>,
    is_in_initial_list: bool,
) {
    match (&delta.kind, &delta.object) {
        (DeltaType::Deleted, object) => {
            let deleted = match object {
                DeltaObject::Object(o) => DeletedObject::Object(o.clone()),
                DeltaObject::Tombstone(t) => DeletedObject::Unknown(t.clone()),
            };
            processor.distribute(Notification::Delete(deleted), false);
        }
        (_, object) => {
            let new = object.object().clone();
            match previous {
                Some(old) => {
                    let is_sync = old.resource_version() == new.resource_version();
                    processor.distribute(Notification::Update(old, new), is_sync);
                }
                None => processor.distribute(Notification::Add(new, is_in_initial_list), false),
            }
        }
    }
}

/// Applies a batch of the in-order queue to `store` in one write, then distributes one
/// notification per delta, in order. A delta the store refused (an index function
/// failed) is logged and skipped.
pub(crate) fn process_batch<K>(
    store: &Indexer<K>,
    processor: &SharedProcessor<K>,
    batch: &[QueuedDelta<K>],
    is_in_initial_list: bool,
) where
    K: Object + Send + Sync + 'static,
{
    let changes = batch
        .iter()
        .map(|d| {
            let obj = match d.delta.kind {
                DeltaType::Deleted => None,
                _ => Some(d.delta.object.object().clone()),
            };
            (d.key.to_string(), obj)
        })
        .collect();
    let results = store.apply_batch(changes);
    for (d, result) in batch.iter().zip(results) {
        match result {
            Ok(previous) => notify(processor, &d.delta, previous, is_in_initial_list),
            Err(e) => {
                tracing::error!(key = &*d.key, error = %e, "could not apply a delta to the store; skipping it")
            }
        }
    }
}

/// Changes popped at once from the in-order queue.
const BATCH: usize = 1_000;

/// Pops batches from the in-order `fifo` into `store` and `processor` until the FIFO is
/// closed and drained; `gate` as in [`process_loop`].
pub(crate) async fn process_in_order_loop<K>(
    fifo: &InOrderFifo<K>,
    store: &Indexer<K>,
    processor: &SharedProcessor<K>,
    gate: &parking_lot::Mutex<()>,
) where
    K: Object + Send + Sync + 'static,
{
    loop {
        let result = fifo
            .pop_batch(BATCH, |batch, initial| {
                let _gate = gate.lock();
                process_batch(store, processor, batch, initial);
                Ok::<_, ProcessError<()>>(())
            })
            .await;
        if let Err(PopError::Closed) = result {
            return;
        }
    }
}

/// Pops from `fifo` into `store` and `processor` until the FIFO is closed and drained.
///
/// Each key is applied while holding `gate`, so that a handler added meanwhile sees
/// either the state before the key's deltas (and then their notifications) or after.
/// A key whose deltas cannot be applied (an index function failed) is logged and
/// dropped, as client-go does; nothing else stops the loop.
pub(crate) async fn process_loop<K>(
    fifo: &DeltaFifo<K>,
    store: &Indexer<K>,
    processor: &SharedProcessor<K>,
    gate: &parking_lot::Mutex<()>,
) where
    K: Object + Send + Sync + 'static,
{
    loop {
        let result = fifo
            .pop(|key, deltas, initial| {
                let _gate = gate.lock();
                process_deltas(store, processor, key, deltas, initial).map_err(ProcessError::Fail)
            })
            .await;
        match result {
            Ok(()) => {}
            Err(PopError::Closed) => return,
            Err(PopError::Process(e)) => {
                tracing::error!(error = %e, "could not apply deltas to the store; dropping them")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Indexers, KnownObjects, ResourceEventHandler};
    use crate::meta::{DynamicObject, ObjectMeta};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    fn obj(name: &str, rv: u32) -> Arc<DynamicObject> {
        Arc::new(DynamicObject {
            metadata: ObjectMeta {
                namespace: Some("ns".into()),
                name: Some(name.into()),
                resource_version: Some(rv.to_string()),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl Log {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
        fn len(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }

    fn rv(o: &DynamicObject) -> &str {
        o.resource_version().unwrap()
    }

    impl ResourceEventHandler<DynamicObject> for Log {
        fn on_add(&self, o: Arc<DynamicObject>, initial: bool) {
            let tag = if initial { " initial" } else { "" };
            let line = format!("add {}@{}{tag}", o.name().unwrap(), rv(&o));
            self.0.lock().unwrap().push(line);
        }
        fn on_update(&self, old: Arc<DynamicObject>, new: Arc<DynamicObject>) {
            let line = format!("update {}@{}->{}", new.name().unwrap(), rv(&old), rv(&new));
            self.0.lock().unwrap().push(line);
        }
        fn on_delete(&self, d: DeletedObject<DynamicObject>) {
            let tag = if d.is_tombstone() { " tombstone" } else { "" };
            let line = format!(
                "delete {}@{}{tag}",
                d.object().name().unwrap(),
                rv(d.object())
            );
            self.0.lock().unwrap().push(line);
        }
    }

    fn wait_for(log: &Log, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while log.len() < n {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n} events"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    struct Pipeline {
        store: Indexer<DynamicObject>,
        fifo: DeltaFifo<DynamicObject>,
        processor: SharedProcessor<DynamicObject>,
    }

    fn pipeline() -> Pipeline {
        let store = Indexer::new(Indexers::new());
        let known: Arc<dyn KnownObjects<DynamicObject>> = Arc::new(store.clone());
        Pipeline {
            fifo: DeltaFifo::new(Some(known)),
            store,
            processor: SharedProcessor::new(),
        }
    }

    impl Pipeline {
        async fn drain(&self) {
            while !self.fifo.is_empty() {
                self.fifo
                    .pop(|k, d, i| {
                        process_deltas(&self.store, &self.processor, k, d, i)
                            .map_err(ProcessError::Fail)
                    })
                    .await
                    .unwrap();
            }
        }
    }

    fn always_synced() -> super::super::processor::UpstreamSynced {
        Arc::new(|| true)
    }

    #[tokio::test]
    async fn add_or_update_is_decided_by_the_store_and_deletes_carry_tombstones() {
        let p = pipeline();
        let log = Log::default();
        p.processor
            .add_listener(Box::new(log.clone()), None, always_synced(), vec![])
            .unwrap();
        p.fifo.replace(vec![obj("a", 1), obj("b", 1)], "1").unwrap();
        p.drain().await;
        // An Added delta for a key the store holds is an update; a Replaced delta for a new
        // key is an add; a relist without b deletes it with a tombstone.
        p.fifo.add(obj("a", 2)).unwrap();
        p.fifo.replace(vec![obj("a", 3), obj("c", 3)], "3").unwrap();
        p.drain().await;
        wait_for(&log, 6);
        assert_eq!(
            log.take(),
            [
                "add a@1 initial",
                "add b@1 initial",
                "update a@1->2",
                "update a@2->3",
                "add c@3",
                "delete b@1 tombstone",
            ]
        );
        assert_eq!(p.store.len(), 2);
    }

    #[tokio::test]
    async fn unchanged_resource_versions_reach_only_handlers_due_for_resync() {
        let p = pipeline();
        let due = Log::default();
        let not_due = Log::default();
        p.processor
            .add_listener(
                Box::new(due.clone()),
                Some(Duration::from_millis(1)),
                always_synced(),
                vec![],
            )
            .unwrap();
        p.processor
            .add_listener(Box::new(not_due.clone()), None, always_synced(), vec![])
            .unwrap();
        p.fifo.replace(vec![obj("a", 1)], "1").unwrap();
        p.drain().await;
        std::thread::sleep(Duration::from_millis(5));
        assert!(p.processor.should_resync(Instant::now()));
        p.fifo.resync();
        p.drain().await;
        wait_for(&due, 2);
        wait_for(&not_due, 1);
        assert_eq!(due.take(), ["add a@1 initial", "update a@1->1"]);
        assert_eq!(not_due.take(), ["add a@1 initial"]);
    }

    #[tokio::test]
    async fn a_panicking_handler_keeps_receiving_and_syncs() {
        struct Panicky(Log);
        impl ResourceEventHandler<DynamicObject> for Panicky {
            fn on_add(&self, o: Arc<DynamicObject>, initial: bool) {
                self.0.on_add(o.clone(), initial);
                if o.name() == Some("boom") {
                    panic!("handler bug");
                }
            }
        }
        let p = pipeline();
        let log = Log::default();
        let reg = p
            .processor
            .add_listener(
                Box::new(Panicky(log.clone())),
                None,
                always_synced(),
                vec![],
            )
            .unwrap();
        p.fifo
            .replace(vec![obj("boom", 1), obj("after", 1)], "1")
            .unwrap();
        p.drain().await;
        wait_for(&log, 2);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !reg.has_synced() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(log.take(), ["add boom@1 initial", "add after@1 initial"]);
    }

    // The std mutex is a gate that blocks the handler's thread; no task waits on it.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn a_blocked_handler_delays_no_other() {
        let p = pipeline();
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        struct Blocked(Arc<Mutex<()>>);
        impl ResourceEventHandler<DynamicObject> for Blocked {
            fn on_add(&self, _: Arc<DynamicObject>, _: bool) {
                drop(self.0.lock().unwrap());
            }
        }
        let slow = p
            .processor
            .add_listener(
                Box::new(Blocked(gate.clone())),
                None,
                always_synced(),
                vec![],
            )
            .unwrap();
        let fast = Log::default();
        p.processor
            .add_listener(Box::new(fast.clone()), None, always_synced(), vec![])
            .unwrap();
        let list: Vec<_> = (0..100).map(|i| obj(&format!("o{i}"), 1)).collect();
        p.fifo.replace(list, "1").unwrap();
        p.drain().await;
        wait_for(&fast, 100);
        assert!(
            slow.pending() >= 99,
            "the blocked handler's events wait in its own buffer"
        );
        assert!(!slow.has_synced());
        drop(held);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !slow.has_synced() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(slow.pending(), 0);
    }

    #[tokio::test]
    async fn removed_handler_stops_and_hears_nothing_more() {
        let p = pipeline();
        let log = Log::default();
        let reg = p
            .processor
            .add_listener(
                Box::new(log.clone()),
                None,
                always_synced(),
                vec![obj("x", 1)],
            )
            .unwrap();
        wait_for(&log, 1);
        assert!(p.processor.remove_listener(reg.id()));
        assert!(!p.processor.remove_listener(reg.id()));
        tokio::time::timeout(Duration::from_secs(5), reg.stopped())
            .await
            .expect("runner stopped");
        p.fifo.add(obj("y", 2)).unwrap();
        p.drain().await;
        assert_eq!(log.take(), ["add x@1 initial"]);
    }

    #[tokio::test]
    async fn process_loop_returns_when_the_fifo_closes() {
        let p = pipeline();
        let log = Log::default();
        p.processor
            .add_listener(Box::new(log.clone()), None, always_synced(), vec![])
            .unwrap();
        p.fifo.add(obj("a", 1)).unwrap();
        p.fifo.close();
        tokio::time::timeout(
            Duration::from_secs(5),
            process_loop(&p.fifo, &p.store, &p.processor, &Default::default()),
        )
        .await
        .expect("loop ended");
        wait_for(&log, 1);
        assert_eq!(p.store.len(), 1);
    }
}
