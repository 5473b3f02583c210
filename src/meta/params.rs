//! List and watch options: what a list or watch asks of the server (apimachinery's
//! `ListOptions`), as plain data.
//!
//! They belong to the object model rather than to the client, because the informer
//! framework speaks in them too: a reflector asks its
//! [`ListerWatcher`](crate::cache::ListerWatcher) for lists and watches in terms of
//! [`ListParams`] and [`WatchParams`] without knowing how they travel. The client renders
//! them into a request's query string. Selectors may be given as strings or as
//! [`LabelSelector`](crate::selector::LabelSelector) /
//! [`FieldSelector`](crate::selector::FieldSelector), whose `Display` is the query form.

use std::fmt::Display;

/// How the server interprets `resourceVersion` on a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceVersionMatch {
    /// Exactly the given resourceVersion (`410 Expired` if it was compacted away).
    Exact,
    /// Any state at least as new as the given resourceVersion.
    NotOlderThan,
}

impl ResourceVersionMatch {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceVersionMatch::Exact => "Exact",
            ResourceVersionMatch::NotOlderThan => "NotOlderThan",
        }
    }
}

/// Options of a list call (client-go's `ListOptions` without the watch fields).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Label selector in query form, for example `app=web,tier!=db`.
    pub label_selector: Option<String>,
    /// Field selector in query form, for example `metadata.name=web`.
    pub field_selector: Option<String>,
    /// Page size; `None` lists everything at once.
    pub limit: Option<u32>,
    /// Continue token from the previous page.
    pub continue_token: Option<String>,
    /// resourceVersion to list at: `None`/`""` for the newest state (a consistent read),
    /// `"0"` for any state (served from the server's cache).
    pub resource_version: Option<String>,
    /// How to interpret `resource_version`.
    pub resource_version_match: Option<ResourceVersionMatch>,
    /// Server-side timeout of the call.
    pub timeout_seconds: Option<u32>,
}

impl ListParams {
    /// Only objects whose labels match (a `&str` or a
    /// [`LabelSelector`](crate::selector::LabelSelector)).
    pub fn labels(mut self, selector: impl Display) -> Self {
        self.label_selector = Some(selector.to_string()).filter(|s| !s.is_empty());
        self
    }

    /// Only objects whose fields match (a `&str` or a
    /// [`FieldSelector`](crate::selector::FieldSelector)).
    pub fn fields(mut self, selector: impl Display) -> Self {
        self.field_selector = Some(selector.to_string()).filter(|s| !s.is_empty());
        self
    }

    /// Lists in pages of this size.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continues a paged list.
    pub fn continue_token(mut self, token: impl Into<String>) -> Self {
        self.continue_token = Some(token.into());
        self
    }

    /// Lists at this resourceVersion.
    pub fn at(mut self, resource_version: impl Into<String>) -> Self {
        self.resource_version = Some(resource_version.into());
        self
    }

    /// Sets how the resourceVersion is matched.
    pub fn matching(mut self, m: ResourceVersionMatch) -> Self {
        self.resource_version_match = Some(m);
        self
    }
}

/// Options of a watch call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchParams {
    /// Label selector in query form.
    pub label_selector: Option<String>,
    /// Field selector in query form.
    pub field_selector: Option<String>,
    /// Watch for changes after this resourceVersion; `None` or `"0"` starts with
    /// synthetic `ADDED` events for the current state.
    pub resource_version: Option<String>,
    /// How to interpret `resource_version` (with `send_initial_events`, `NotOlderThan`).
    pub resource_version_match: Option<ResourceVersionMatch>,
    /// The server ends the watch after this many seconds.
    pub timeout_seconds: Option<u32>,
    /// Ask for `BOOKMARK` events.
    pub allow_watch_bookmarks: bool,
    /// Streaming initial list: current objects as `ADDED`, then a bookmark annotated
    /// `k8s.io/initial-events-end`.
    pub send_initial_events: bool,
}

impl WatchParams {
    /// Only objects whose labels match.
    pub fn labels(mut self, selector: impl Display) -> Self {
        self.label_selector = Some(selector.to_string()).filter(|s| !s.is_empty());
        self
    }

    /// Only objects whose fields match.
    pub fn fields(mut self, selector: impl Display) -> Self {
        self.field_selector = Some(selector.to_string()).filter(|s| !s.is_empty());
        self
    }

    /// Watches from this resourceVersion.
    pub fn at(mut self, resource_version: impl Into<String>) -> Self {
        self.resource_version = Some(resource_version.into());
        self
    }

    /// Ends the watch after this many seconds.
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }

    /// Asks for bookmarks.
    pub fn bookmarks(mut self, on: bool) -> Self {
        self.allow_watch_bookmarks = on;
        self
    }

    /// Asks for a streaming initial list (sets `resourceVersionMatch=NotOlderThan`).
    pub fn initial_events(mut self, on: bool) -> Self {
        self.send_initial_events = on;
        if on {
            self.resource_version_match = Some(ResourceVersionMatch::NotOlderThan);
        }
        self
    }
}
