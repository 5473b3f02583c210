//! Event handlers: what application code implements to hear about changes.
//!
//! The shared processor calls a [`ResourceEventHandler`] with every add, update and
//! delete the informer applies to its store. [`ResourceEventHandlerFuncs`] builds one from
//! closures, and [`FilteringResourceEventHandler`] narrows one to the objects a predicate
//! accepts, turning objects that start or stop matching into adds and deletes.

use std::fmt;
use std::sync::Arc;

use super::DeletedFinalStateUnknown;

/// What a deletion hands to [`ResourceEventHandler::on_delete`]: the object's final state,
/// or, when the deletion was missed (for example during a watch outage and noticed at the
/// next relist), a tombstone carrying the last state the cache knew.
///
/// The two cases are separate variants so that the tombstone case cannot be forgotten.
#[derive(Debug)]
pub enum DeletedObject<K> {
    /// The object as it was deleted.
    Object(Arc<K>),
    /// The deletion was missed; the tombstone holds the key and the last known state,
    /// which may be stale.
    Unknown(DeletedFinalStateUnknown<K>),
}

impl<K> DeletedObject<K> {
    /// The final state, or the tombstone's last known state.
    pub fn object(&self) -> &Arc<K> {
        match self {
            DeletedObject::Object(o) => o,
            DeletedObject::Unknown(t) => &t.obj,
        }
    }

    /// Whether the final state is unknown (a tombstone).
    pub fn is_tombstone(&self) -> bool {
        matches!(self, DeletedObject::Unknown(_))
    }
}

impl<K> Clone for DeletedObject<K> {
    fn clone(&self) -> Self {
        match self {
            DeletedObject::Object(o) => DeletedObject::Object(o.clone()),
            DeletedObject::Unknown(t) => DeletedObject::Unknown(t.clone()),
        }
    }
}

/// Receives an informer's notifications (client-go's `ResourceEventHandler`).
///
/// A handler's buffer is **unbounded** by default: a handler slower than the changes holds
/// every change it has not handled yet, and memory grows with its backlog. Watch the
/// backlog with [`EventHandlerRegistration::pending`](super::EventHandlerRegistration::pending)
/// (or the informer's metrics). Keep handlers quick — queue the object's key to a work
/// queue and do the work in workers, as client-go controllers do — or register the
/// handler with a bound ([`HandlerOptions::max_pending`](super::HandlerOptions)), which
/// drops a full backlog and brings the handler up to date from the cache instead.
///
/// Each registered handler has its own buffer and runs on its own thread, so a slow or
/// blocking handler delays nobody else. A handler sees each key's events in order. A
/// panic in a handler is caught and logged, and the handler keeps receiving events. All
/// methods default to doing nothing.
///
/// What a handler may do: anything synchronous, blocking included (it only delays its own
/// later events). It is not an async context, so it cannot `.await`; but when the handler
/// was registered from inside a tokio runtime, that runtime is entered on the handler's
/// thread, so `tokio::spawn` and `tokio::runtime::Handle::current()` work there. Handlers
/// registered outside any runtime have none entered. A controller's handlers usually only
/// add keys to a [`WorkQueue`](crate::workqueue::WorkQueue).
pub trait ResourceEventHandler<K>: Send + Sync + 'static {
    /// An object was added to the cache. `is_in_initial_list` is true for objects of the
    /// initial list (or, for a handler added after start, of the cache's contents then).
    fn on_add(&self, obj: Arc<K>, is_in_initial_list: bool) {
        let _ = (obj, is_in_initial_list);
    }

    /// An object changed. A periodic resync delivers the same object as `old` and `new`.
    fn on_update(&self, old: Arc<K>, new: Arc<K>) {
        let _ = (old, new);
    }

    /// An object was deleted.
    fn on_delete(&self, deleted: DeletedObject<K>) {
        let _ = deleted;
    }
}

type AddFn<K> = Box<dyn Fn(Arc<K>, bool) + Send + Sync>;
type UpdateFn<K> = Box<dyn Fn(Arc<K>, Arc<K>) + Send + Sync>;
type DeleteFn<K> = Box<dyn Fn(DeletedObject<K>) + Send + Sync>;

/// A handler made of closures; a missing closure ignores its events (client-go's
/// `ResourceEventHandlerFuncs`).
///
/// ```
/// use informer::cache::ResourceEventHandlerFuncs;
/// use informer::meta::{DynamicObject, Object};
///
/// let handler = ResourceEventHandlerFuncs::<DynamicObject>::new()
///     .add_func(|pod, initial| println!("add {:?} (initial list: {initial})", pod.name()))
///     .delete_func(|deleted| println!("delete {:?}", deleted.object().name()));
/// ```
pub struct ResourceEventHandlerFuncs<K> {
    add: Option<AddFn<K>>,
    update: Option<UpdateFn<K>>,
    delete: Option<DeleteFn<K>>,
}

impl<K> ResourceEventHandlerFuncs<K> {
    /// A handler that ignores everything until closures are set.
    pub fn new() -> Self {
        ResourceEventHandlerFuncs {
            add: None,
            update: None,
            delete: None,
        }
    }

    /// Sets the closure for adds (client-go's `AddFunc`).
    pub fn add_func(mut self, f: impl Fn(Arc<K>, bool) + Send + Sync + 'static) -> Self {
        self.add = Some(Box::new(f));
        self
    }

    /// Sets the closure for updates (client-go's `UpdateFunc`).
    pub fn update_func(mut self, f: impl Fn(Arc<K>, Arc<K>) + Send + Sync + 'static) -> Self {
        self.update = Some(Box::new(f));
        self
    }

    /// Sets the closure for deletes (client-go's `DeleteFunc`).
    pub fn delete_func(mut self, f: impl Fn(DeletedObject<K>) + Send + Sync + 'static) -> Self {
        self.delete = Some(Box::new(f));
        self
    }
}

impl<K> Default for ResourceEventHandlerFuncs<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> fmt::Debug for ResourceEventHandlerFuncs<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceEventHandlerFuncs")
            .field("on_add", &self.add.is_some())
            .field("on_update", &self.update.is_some())
            .field("on_delete", &self.delete.is_some())
            .finish()
    }
}

impl<K: 'static> ResourceEventHandler<K> for ResourceEventHandlerFuncs<K> {
    fn on_add(&self, obj: Arc<K>, is_in_initial_list: bool) {
        if let Some(f) = &self.add {
            f(obj, is_in_initial_list);
        }
    }

    fn on_update(&self, old: Arc<K>, new: Arc<K>) {
        if let Some(f) = &self.update {
            f(old, new);
        }
    }

    fn on_delete(&self, deleted: DeletedObject<K>) {
        if let Some(f) = &self.delete {
            f(deleted);
        }
    }
}

/// Passes on only the events of objects that `filter` accepts (client-go's
/// `FilteringResourceEventHandler`).
///
/// An update of an object that stops matching becomes `on_delete` with its old state; one
/// that starts matching becomes `on_add` with `is_in_initial_list = false`.
pub struct FilteringResourceEventHandler<K, F, H> {
    filter: F,
    handler: H,
    _object: std::marker::PhantomData<fn(&K)>,
}

impl<K, F, H> FilteringResourceEventHandler<K, F, H>
where
    F: Fn(&K) -> bool + Send + Sync + 'static,
    H: ResourceEventHandler<K>,
{
    /// Wraps `handler` so that it sees only objects for which `filter` returns true.
    pub fn new(filter: F, handler: H) -> Self {
        FilteringResourceEventHandler {
            filter,
            handler,
            _object: std::marker::PhantomData,
        }
    }
}

impl<K, F, H> ResourceEventHandler<K> for FilteringResourceEventHandler<K, F, H>
where
    K: 'static,
    F: Fn(&K) -> bool + Send + Sync + 'static,
    H: ResourceEventHandler<K>,
{
    fn on_add(&self, obj: Arc<K>, is_in_initial_list: bool) {
        if (self.filter)(&obj) {
            self.handler.on_add(obj, is_in_initial_list);
        }
    }

    fn on_update(&self, old: Arc<K>, new: Arc<K>) {
        match ((self.filter)(&old), (self.filter)(&new)) {
            (true, true) => self.handler.on_update(old, new),
            (true, false) => self.handler.on_delete(DeletedObject::Object(old)),
            (false, true) => self.handler.on_add(new, false),
            (false, false) => {}
        }
    }

    fn on_delete(&self, deleted: DeletedObject<K>) {
        if (self.filter)(deleted.object()) {
            self.handler.on_delete(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, PartialEq)]
    struct Obj(u32);

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl ResourceEventHandler<Obj> for Arc<Recorder> {
        fn on_add(&self, obj: Arc<Obj>, initial: bool) {
            self.0
                .lock()
                .unwrap()
                .push(format!("add {} {initial}", obj.0));
        }
        fn on_update(&self, old: Arc<Obj>, new: Arc<Obj>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("update {} {}", old.0, new.0));
        }
        fn on_delete(&self, d: DeletedObject<Obj>) {
            let t = if d.is_tombstone() { " tombstone" } else { "" };
            self.0
                .lock()
                .unwrap()
                .push(format!("delete {}{t}", d.object().0));
        }
    }

    #[test]
    fn filtering_turns_transitions_into_adds_and_deletes() {
        let rec = Arc::new(Recorder::default());
        let h = FilteringResourceEventHandler::new(|o: &Obj| o.0.is_multiple_of(2), rec.clone());
        h.on_add(Arc::new(Obj(1)), true);
        h.on_add(Arc::new(Obj(2)), true);
        h.on_update(Arc::new(Obj(2)), Arc::new(Obj(4)));
        h.on_update(Arc::new(Obj(4)), Arc::new(Obj(5)));
        h.on_update(Arc::new(Obj(5)), Arc::new(Obj(6)));
        h.on_update(Arc::new(Obj(7)), Arc::new(Obj(9)));
        h.on_delete(DeletedObject::Object(Arc::new(Obj(3))));
        h.on_delete(DeletedObject::Unknown(DeletedFinalStateUnknown {
            key: "k".into(),
            obj: Arc::new(Obj(8)),
        }));
        assert_eq!(
            *rec.0.lock().unwrap(),
            [
                "add 2 true",
                "update 2 4",
                "delete 4",
                "add 6 false",
                "delete 8 tombstone"
            ]
        );
    }

    #[test]
    fn funcs_call_only_what_is_set() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let h =
            ResourceEventHandlerFuncs::new().update_func(move |old: Arc<Obj>, new: Arc<Obj>| {
                s.lock().unwrap().push((old.0, new.0))
            });
        h.on_add(Arc::new(Obj(1)), false);
        h.on_update(Arc::new(Obj(1)), Arc::new(Obj(2)));
        h.on_delete(DeletedObject::Object(Arc::new(Obj(2))));
        assert_eq!(*seen.lock().unwrap(), [(1, 2)]);
    }
}
