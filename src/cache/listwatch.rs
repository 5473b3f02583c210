//! The `ListerWatcher` trait — the only way the informer framework reaches an API server —
//! the [`ListWatch`] wrapper that fixes its selectors, and the pager.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::FutureExt;

use super::listwatch_error::ListWatchError;
use crate::meta::{ListParams, ObjectList, WatchEvent, WatchParams};

/// The result of a lister-watcher call.
pub type Result<T, E = ListWatchError> = std::result::Result<T, E>;

/// A stream of watch events; an error item ends it.
pub type WatchStream<K> = BoxStream<'static, Result<WatchEvent<K>>>;

/// Lists and watches one kind of object (client-go's `cache.ListerWatcher`).
///
/// The methods return boxed futures so that the trait can be used as
/// `Arc<dyn ListerWatcher<K>>`. An implementation is a few lines:
///
/// ```
/// use futures::future::BoxFuture;
/// use futures::FutureExt;
/// use informer::cache::{ListWatchResult as Result, ListerWatcher, WatchStream};
/// use informer::meta::{DynamicObject, ListParams, ObjectList, WatchParams};
///
/// struct Empty;
/// impl ListerWatcher<DynamicObject> for Empty {
///     fn list<'a>(&'a self, _: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<DynamicObject>>> {
///         async { Ok(ObjectList::default()) }.boxed()
///     }
///     fn watch<'a>(&'a self, _: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<DynamicObject>>> {
///         async { Ok(futures::stream::empty().boxed()) }.boxed()
///     }
/// }
/// # use futures::StreamExt;
/// ```
///
/// # How it works
///
/// A reflector asks a [`ListerWatcher`] for lists and watches in terms of
/// [`ListParams`]/[`WatchParams`] and gets back decoded [`ObjectList<K>`]s and streams of
/// [`WatchEvent<K>`]s; it never sees a URL, a header or a connection, and learns of
/// failures as [`ListWatchError`]s that say what kind of failure each is. The client's
/// `Api<K>` implements the trait; [`ListWatch`] wraps any implementation with fixed label
/// and field selectors and optional per-call tweaks (client-go's
/// `NewFilteredListWatchFromClient`). [`ListPager`]
/// lists in pages (`limit`/`continue`, 500 per page by default) and, when a continue
/// token expires between pages (`410 Expired`), falls back to one full list, as
/// client-go's pager does. Tests substitute a fake implementation of the trait.
pub trait ListerWatcher<K>: Send + Sync {
    /// Lists objects (one page when `params.limit` is set).
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>>>;

    /// Opens a watch.
    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>>>;

    /// Lists like [`list`](Self::list), handing the items to `on_batch` in order, in
    /// batches of up to `batch`, as they are decoded; returns the list without its
    /// items. The default lists and hands everything over at once; [`ListWatch`]
    /// decodes while the answer arrives.
    fn list_batched<'a>(
        &'a self,
        params: &'a ListParams,
        batch: usize,
        on_batch: &'a mut (dyn FnMut(Vec<K>) + Send),
    ) -> BoxFuture<'a, Result<ObjectList<K>>> {
        let _ = batch;
        async move {
            let mut list = self.list(params).await?;
            on_batch(std::mem::take(&mut list.items));
            Ok(list)
        }
        .boxed()
    }
}

impl<K, L: ListerWatcher<K> + ?Sized> ListerWatcher<K> for Arc<L> {
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>>> {
        (**self).list(params)
    }

    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>>> {
        (**self).watch(params)
    }

    fn list_batched<'a>(
        &'a self,
        params: &'a ListParams,
        batch: usize,
        on_batch: &'a mut (dyn FnMut(Vec<K>) + Send),
    ) -> BoxFuture<'a, Result<ObjectList<K>>> {
        (**self).list_batched(params, batch, on_batch)
    }
}

type ListTweak = Arc<dyn Fn(&mut ListParams) + Send + Sync>;
type WatchTweak = Arc<dyn Fn(&mut WatchParams) + Send + Sync>;

/// A [`ListerWatcher`] with fixed selectors and optional tweaks around another one
/// (usually the client's `Api<K>`).
///
/// ```
/// # fn doc(api: informer::client::Api<informer::meta::DynamicObject>) {
/// use informer::cache::ListWatch;
///
/// let lw = ListWatch::new(api)
///     .labels("app=web")
///     .fields("status.phase=Running")
///     .tweak_list(|p| p.limit = Some(100));
/// # }
/// ```
pub struct ListWatch<L> {
    inner: L,
    label_selector: Option<String>,
    field_selector: Option<String>,
    tweak_list: Option<ListTweak>,
    tweak_watch: Option<WatchTweak>,
}

impl<L: Clone> Clone for ListWatch<L> {
    fn clone(&self) -> Self {
        ListWatch {
            inner: self.inner.clone(),
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            tweak_list: self.tweak_list.clone(),
            tweak_watch: self.tweak_watch.clone(),
        }
    }
}

impl<L: std::fmt::Debug> std::fmt::Debug for ListWatch<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListWatch")
            .field("inner", &self.inner)
            .field("label_selector", &self.label_selector)
            .field("field_selector", &self.field_selector)
            .finish_non_exhaustive()
    }
}

impl<L> ListWatch<L> {
    /// Lists and watches everything `inner` reaches.
    pub fn new(inner: L) -> Self {
        ListWatch {
            inner,
            label_selector: None,
            field_selector: None,
            tweak_list: None,
            tweak_watch: None,
        }
    }

    /// Only objects whose labels match (a `&str` or a
    /// [`LabelSelector`](crate::selector::LabelSelector)).
    pub fn labels(mut self, selector: impl std::fmt::Display) -> Self {
        self.label_selector = Some(selector.to_string()).filter(|s| !s.is_empty());
        self
    }

    /// Only objects whose fields match (a `&str` or a
    /// [`FieldSelector`](crate::selector::FieldSelector)).
    pub fn fields(mut self, selector: impl std::fmt::Display) -> Self {
        self.field_selector = Some(selector.to_string()).filter(|s| !s.is_empty());
        self
    }

    /// Changes the params of every list call, after the selectors are applied.
    pub fn tweak_list(mut self, f: impl Fn(&mut ListParams) + Send + Sync + 'static) -> Self {
        self.tweak_list = Some(Arc::new(f));
        self
    }

    /// Changes the params of every watch call, after the selectors are applied.
    pub fn tweak_watch(mut self, f: impl Fn(&mut WatchParams) + Send + Sync + 'static) -> Self {
        self.tweak_watch = Some(Arc::new(f));
        self
    }

    /// The lister-watcher underneath (for the client's, its `Api<K>`).
    pub fn inner(&self) -> &L {
        &self.inner
    }

    fn list_params(&self, params: &ListParams) -> ListParams {
        let mut p = params.clone();
        if self.label_selector.is_some() {
            p.label_selector = self.label_selector.clone();
        }
        if self.field_selector.is_some() {
            p.field_selector = self.field_selector.clone();
        }
        if let Some(t) = &self.tweak_list {
            t(&mut p);
        }
        p
    }

    fn watch_params(&self, params: &WatchParams) -> WatchParams {
        let mut p = params.clone();
        if self.label_selector.is_some() {
            p.label_selector = self.label_selector.clone();
        }
        if self.field_selector.is_some() {
            p.field_selector = self.field_selector.clone();
        }
        if let Some(t) = &self.tweak_watch {
            t(&mut p);
        }
        p
    }
}

impl<K, L: ListerWatcher<K>> ListerWatcher<K> for ListWatch<L> {
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>>> {
        let p = self.list_params(params);
        async move { self.inner.list(&p).await }.boxed()
    }

    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>>> {
        let p = self.watch_params(params);
        async move { self.inner.watch(&p).await }.boxed()
    }

    fn list_batched<'a>(
        &'a self,
        params: &'a ListParams,
        batch: usize,
        on_batch: &'a mut (dyn FnMut(Vec<K>) + Send),
    ) -> BoxFuture<'a, Result<ObjectList<K>>> {
        let p = self.list_params(params);
        async move { self.inner.list_batched(&p, batch, on_batch).await }.boxed()
    }
}

/// The default page size of [`ListPager`], as client-go's.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// A list gathered by the [`ListPager`].
#[derive(Clone, Debug, PartialEq)]
pub struct PagedList<K> {
    /// Every object, with the first page's resourceVersion.
    pub list: ObjectList<K>,
    /// Whether the server answered in more than one page.
    pub paginated: bool,
}

/// Lists in pages and gathers them into one list (client-go's `pager.ListPager`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListPager {
    /// Objects per page (default 500; 0 lists everything at once).
    pub page_size: u32,
    /// On `410 Expired` after the first page, list everything at once instead of failing.
    pub full_list_if_expired: bool,
}

impl Default for ListPager {
    fn default() -> Self {
        ListPager {
            page_size: DEFAULT_PAGE_SIZE,
            full_list_if_expired: true,
        }
    }
}

impl ListPager {
    /// A pager with this page size.
    pub fn new(page_size: u32) -> Self {
        ListPager {
            page_size,
            ..Default::default()
        }
    }

    /// Lists everything `params` selects, page by page.
    ///
    /// `params.limit`, if set, overrides the page size. Pages after the first are asked
    /// for with the continue token and no resourceVersion (the token carries it). When a
    /// later page answers `410 Expired`, the whole list is asked for at once at the
    /// originally requested resourceVersion.
    pub async fn list<K, L>(&self, lw: &L, params: &ListParams) -> Result<PagedList<K>>
    where
        L: ListerWatcher<K> + ?Sized,
    {
        let mut options = params.clone();
        if options.limit.is_none_or(|l| l == 0) && self.page_size > 0 {
            options.limit = Some(self.page_size);
        }
        let mut gathered: Option<ObjectList<K>> = None;
        let mut paginated = false;
        loop {
            let page = match lw.list(&options).await {
                Ok(p) => p,
                Err(e) => {
                    let on_later_page = options
                        .continue_token
                        .as_deref()
                        .is_some_and(|c| !c.is_empty());
                    if !(e.is_expired() && self.full_list_if_expired && on_later_page) {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "continue token expired; falling back to a full list");
                    let mut full = params.clone();
                    full.limit = None;
                    full.continue_token = None;
                    let list = lw.list(&full).await?;
                    return Ok(PagedList { list, paginated });
                }
            };
            let mut page = page;
            let next = page.metadata.continue_.take().filter(|c| !c.is_empty());
            match gathered.as_mut() {
                None => {
                    page.metadata.remaining_item_count = None;
                    gathered = Some(page);
                }
                Some(list) => list.items.extend(page.items),
            }
            match next {
                None => {
                    return Ok(PagedList {
                        list: gathered.unwrap_or_default(),
                        paginated,
                    })
                }
                Some(token) => {
                    options.continue_token = Some(token);
                    options.resource_version = None;
                    options.resource_version_match = None;
                    paginated = true;
                }
            }
        }
    }
}
