//! Request routing and the object handlers: get, create, replace, patch, delete and
//! deletecollection, on objects and their `status` subresource.
//!
//! [`handle`] is the whole request path: authentication, injected delay and failures,
//! routing by URL (discovery or a resource), then the handler for the verb. The list and
//! watch semantics are in their own modules (shared with the fake lister-watcher), and
//! this module only turns their results into responses; everything else is here.
//! Handlers read the body, call the storage and answer with the stored object or a
//! `Status`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Response};
use serde_json::Value;
use tokio::sync::mpsc;

use super::crd;
use super::discovery;
use super::errors;
use super::faults::Verb;
use super::fields::FieldFilter;
use super::http::{self, Body};
use super::list;
use super::managed::{self, Tracking};
use super::negotiation::{self, Include, Output, Shape};
use super::patch::{self, PatchKind};
use super::query::{self, ListOptions, Query};
use super::resources::ResourceInfo;
use super::scale;
use super::server::Shared;
use super::storage::{self, Preconditions, Stored, Written};
use super::watch;
use crate::meta::Status;

/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Where a path leads.
enum Route {
    Version,
    Api,
    Apis,
    Group(String),
    ResourceList(String, String),
    Resource(Box<Target>),
}

/// A resource path: collection (`name` unset) or object, maybe a subresource.
struct Target {
    info: ResourceInfo,
    ns: Option<String>,
    name: Option<String>,
    status: bool,
    /// The `scale` subresource.
    scale: bool,
    legacy_watch: bool,
}

fn route(shared: &Shared, path: &str) -> Result<Route, Status> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["api"] => return Ok(Route::Api),
        ["apis"] => return Ok(Route::Apis),
        ["apis", g] => return Ok(Route::Group((*g).to_owned())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(errors::path_not_found()),
    };
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    if rest.is_empty() {
        return if legacy_watch {
            Err(errors::path_not_found())
        } else {
            Ok(Route::ResourceList(group.to_owned(), version.to_owned()))
        };
    }
    let lookup = |plural: &str| shared.storage.lookup(group, version, plural);
    if let ["namespaces", ns, plural, tail @ ..] = rest {
        if let Some(info) = lookup(plural).filter(|i| i.api.namespaced) {
            return target(info, Some(ns), tail, legacy_watch);
        }
    }
    let [plural, tail @ ..] = rest else {
        return Err(errors::path_not_found());
    };
    match lookup(plural) {
        Some(info) if !info.api.namespaced || tail.is_empty() => {
            target(info, None, tail, legacy_watch)
        }
        _ => Err(errors::path_not_found()),
    }
}

fn target(
    info: ResourceInfo,
    ns: Option<&str>,
    tail: &[&str],
    legacy_watch: bool,
) -> Result<Route, Status> {
    let (name, status, scale) = match tail {
        [] => (None, false, false),
        [name] => (Some(*name), false, false),
        [name, "status"] if info.status_subresource => (Some(*name), true, false),
        [name, "scale"] if info.scale.is_some() && !legacy_watch => (Some(*name), false, true),
        _ => return Err(errors::path_not_found()),
    };
    Ok(Route::Resource(Box::new(Target {
        info,
        ns: ns.map(str::to_owned),
        name: name.map(str::to_owned),
        status,
        scale,
        legacy_watch,
    })))
}

fn verb_of(method: &Method, t: &Target, watch: bool) -> Option<Verb> {
    Some(match (method, t.name.is_some()) {
        (&Method::GET, true) if watch || t.legacy_watch => Verb::Watch,
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if watch || t.legacy_watch => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, false) => Verb::Create,
        (&Method::PUT, true) => Verb::Update,
        (&Method::PATCH, true) => Verb::Patch,
        (&Method::DELETE, true) => Verb::Delete,
        (&Method::DELETE, false) => Verb::DeleteCollection,
        _ => return None,
    })
}

fn authorized(shared: &Shared, req: &Request<Incoming>) -> bool {
    let Some(token) = shared.config.token.as_deref() else {
        return true;
    };
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == token)
}

/// Answers one request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    if !authorized(&shared, &req) {
        return http::status(&errors::unauthorized());
    }
    if let Some(delay) = shared.faults.delay() {
        tokio::time::sleep(delay).await;
    }
    let path = req.uri().path().to_owned();
    let query = Query::parse(req.uri().query());
    let route = match route(&shared, &path) {
        Ok(r) => r,
        Err(status) => return http::status(&status),
    };
    let is_get = req.method() == Method::GET;
    let target = match route {
        Route::Resource(t) => *t,
        _ if !is_get => {
            return http::status(&errors::method_not_allowed(req.method().as_str()));
        }
        Route::Version => return discovery::version(),
        Route::Api => return discovery::api(&shared.config.address),
        Route::Apis => return discovery::apis(&shared.storage.resources()),
        Route::Group(g) => return discovery::group(&shared.storage.resources(), &g),
        Route::ResourceList(g, v) => {
            return discovery::resource_list(&shared.storage.resources(), &g, &v);
        }
    };
    let opts = match ListOptions::from_query(&query) {
        Ok(o) => o,
        Err(status) => return http::status(&status),
    };
    let Some(verb) = verb_of(req.method(), &target, opts.watch) else {
        return http::status(&errors::method_not_allowed(req.method().as_str()));
    };
    if let Some(failure) = shared.faults.take(verb, &path) {
        let status = errors::for_code(
            failure.code,
            failure.retry_after,
            matches!(verb, Verb::List | Verb::Watch),
        );
        return if verb == Verb::Watch && failure.code == 410 {
            http::stream(watch::error_body(status))
        } else {
            http::status(&status)
        };
    }
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    let shape = match verb {
        Verb::Watch => Shape::Watch,
        Verb::List | Verb::DeleteCollection => Shape::List,
        _ => Shape::Object,
    };
    let output = match Include::parse(query.get("includeObject"))
        .and_then(|include| negotiation::output(accept, shape, include))
    {
        Ok(o) => o,
        Err(status) => return http::status(&status),
    };
    match dispatch(&shared, verb, target, opts, &query, output, req).await {
        Ok(resp) => resp,
        Err(status) => http::status(&status),
    }
}

async fn read_body(req: Request<Incoming>) -> Result<(Option<String>, Bytes), Status> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| errors::bad_request(format!("reading the request body: {e}")))?
        .to_bytes();
    Ok((content_type, body))
}

fn parse_json(body: &[u8]) -> Result<Value, Status> {
    serde_json::from_slice(body).map_err(|e| {
        errors::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })
}

/// An answer of `json` (a list) in the negotiated `output`.
fn answer(output: Output, code: u16, json: Bytes) -> Result<Response<Body>, Status> {
    let (bytes, content_type) = negotiation::encode(output, Shape::List, json)?;
    Ok(http::typed(code, bytes, content_type))
}

/// An answer carrying a stored object.
fn object(output: Output, code: u16, obj: &Arc<Stored>) -> Result<Response<Body>, Status> {
    let (bytes, content_type) = negotiation::encode(output, Shape::Object, obj.json.clone())?;
    Ok(http::typed(code, bytes, content_type))
}

/// A watch body reduced to metadata: each batch's lines, mapped by a task that ends
/// when either side goes away.
fn metadata_only(mut rx: mpsc::Receiver<watch::Lines>) -> mpsc::Receiver<watch::Lines> {
    let (tx, out) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(lines) = rx.recv().await {
            let mapped = lines
                .into_iter()
                .map(negotiation::partial_watch_line)
                .collect();
            if tx.send(mapped).await.is_err() {
                return;
            }
        }
    });
    out
}

async fn dispatch(
    shared: &Arc<Shared>,
    verb: Verb,
    t: Target,
    opts: ListOptions,
    query: &Query,
    output: Output,
    req: Request<Incoming>,
) -> Result<Response<Body>, Status> {
    let storage = &shared.storage;
    let dry_run_as = |kind: &str| query::dry_run(query.get("dryRun"), kind);
    let ns = t.ns.as_deref();
    let name = t.name.clone().unwrap_or_default();
    let user_agent = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let field_manager = query.get("fieldManager");
    if let Some(kind) = options_kind(verb) {
        check_field_manager(kind, field_manager)?;
    }
    let manager = managed::manager_of(field_manager, user_agent.as_deref());
    let subresource = if t.status {
        "status"
    } else if t.scale {
        "scale"
    } else {
        ""
    };
    let tracking = Tracking::Update {
        manager: &manager,
        subresource,
    };
    if let (true, Some(paths)) = (t.scale, t.info.scale.as_ref()) {
        let rendered = match verb {
            Verb::Get => scale::render(&t.info, paths, &*storage.get(&t.info, ns, &name)?)?,
            Verb::Update | Verb::Patch => {
                let dry_run = dry_run_as(if verb == Verb::Update {
                    "UpdateOptions"
                } else {
                    "PatchOptions"
                })?;
                let (content_type, body) = read_body(req).await?;
                let change = if verb == Verb::Update {
                    scale::Change::Replace(negotiation::input(content_type.as_deref(), &body)?)
                } else {
                    let content_type = content_type.unwrap_or_default();
                    let Some(kind) = PatchKind::from_content_type(&content_type) else {
                        return Err(errors::unsupported_media_type(
                            &content_type,
                            &patch::ACCEPTED,
                        ));
                    };
                    if query.get("force").is_some() {
                        return Err(force_forbidden());
                    }
                    scale::Change::Patch(kind, &body)
                };
                scale::write(
                    storage, &t.info, paths, ns, &name, dry_run, tracking, change,
                )?
                .1
            }
            _ => return Err(errors::method_not_allowed(verb_name(verb))),
        };
        let json = serde_json::to_vec(&rendered).map_err(|e| errors::internal(e.to_string()))?;
        let (bytes, content_type) = negotiation::encode(output, Shape::Object, json.into())?;
        return Ok(http::typed(200, bytes, content_type));
    }
    match verb {
        Verb::Get => {
            if let Some(rv) = opts.rv_number()?.filter(|rv| *rv > storage.current_rv()) {
                if !list::wait_for_rv(storage, rv, shared.config.too_large_wait).await {
                    return Err(errors::too_large_resource_version(rv, storage.current_rv()));
                }
            }
            object(output, 200, &storage.get(&t.info, ns, &name)?)
        }
        Verb::List => {
            let page =
                list::read(storage, &t.info, ns, &opts, shared.config.too_large_wait).await?;
            answer(output, 200, list::render(&t.info, &page).into())
        }
        Verb::Watch => {
            let mut opts = opts;
            if let Some(name) = t.name.as_deref() {
                let by_name = format!("metadata.name={name}");
                opts.fields = crate::selector::FieldSelector::parse(&by_name)
                    .map_err(|e| errors::bad_request(e.to_string()))?;
            }
            let body = watch::open(storage, &t.info, ns, &opts, shared.config.bookmark_interval)?;
            let body = if output == Output::Metadata {
                metadata_only(body)
            } else {
                body
            };
            Ok(http::stream(body))
        }
        Verb::Create => {
            let dry_run = dry_run_as("CreateOptions")?;
            let (content_type, body) = read_body(req).await?;
            let value = negotiation::input(content_type.as_deref(), &body)?;
            let crd = value.clone();
            let written = crd::create_with(storage, &t.info, &crd, dry_run, || {
                storage.create(&t.info, ns, value, dry_run, tracking)
            })?;
            object(output, 201, &written.stored)
        }
        Verb::Update => {
            let dry_run = dry_run_as("UpdateOptions")?;
            let (content_type, body) = read_body(req).await?;
            let value = negotiation::input(content_type.as_deref(), &body)?;
            object(
                output,
                200,
                &storage
                    .update(&t.info, ns, &name, value, t.status, dry_run, tracking)?
                    .stored,
            )
        }
        Verb::Patch => {
            let dry_run = dry_run_as("PatchOptions")?;
            let (content_type, body) = read_body(req).await?;
            let content_type = content_type.unwrap_or_default();
            if patch::is_apply(&content_type) {
                let force = query.flag("force")?.unwrap_or(false);
                if field_manager.is_none_or(str::is_empty) {
                    return Err(errors::invalid_options(
                        "PatchOptions",
                        errors::FieldError::required("fieldManager", "is required for apply patch"),
                    ));
                }
                let (code, written) =
                    apply_patch(storage, &t, &name, &body, &manager, force, dry_run)?;
                return object(output, code, &written.stored);
            }
            let kind = PatchKind::from_content_type(&content_type)
                .filter(|k| *k != PatchKind::StrategicMerge || t.info.strategic_merge());
            let Some(kind) = kind else {
                let accepted: Vec<&str> = patch::ACCEPTED
                    .iter()
                    .copied()
                    .filter(|a| t.info.strategic_merge() || !a.starts_with("application/strategic"))
                    .collect();
                return Err(errors::unsupported_media_type(&content_type, &accepted));
            };
            if query.get("force").is_some() {
                return Err(force_forbidden());
            }
            let written =
                storage.modify(&t.info, ns, &name, t.status, dry_run, tracking, |current| {
                    patch::apply(kind, &current.value()?, &body)
                })?;
            object(output, 200, &written.stored)
        }
        Verb::Delete => {
            let (_, body) = read_body(req).await?;
            let options = delete_options(&body, query)?;
            object(
                output,
                200,
                &storage
                    .delete(&t.info, ns, &name, &options.preconditions, options.dry_run)?
                    .stored,
            )
        }
        Verb::DeleteCollection => {
            let (_, body) = read_body(req).await?;
            let options = delete_options(&body, query)?;
            let labels = &opts.labels;
            let fields = FieldFilter::new(&t.info, &opts.fields)?;
            let filter = |o: &Stored| {
                labels.matches_labels(o.meta.labels.as_ref().map(Into::into)) && fields.matches(o)
            };
            let deleted = storage.delete_collection(&t.info, ns, &filter, options.dry_run)?;
            // A list: built-in types without each item's type, as `list::render` writes.
            let untyped = t.info.builtin_group();
            let items: Vec<Value> = deleted
                .into_iter()
                .map(|w| {
                    let mut v = w.value;
                    if let (true, Value::Object(m)) = (untyped, &mut v) {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                    v
                })
                .collect();
            let list = serde_json::json!({
                "kind": list::list_kind(&t.info),
                "apiVersion": t.info.api.api_version(),
                "metadata": {"resourceVersion": storage.current_rv().to_string()},
                "items": items,
            });
            let json = serde_json::to_vec(&list).map_err(|e| errors::internal(e.to_string()))?;
            answer(output, 200, json.into())
        }
    }
}

/// The options kind of a write verb, whose `fieldManager` a real server validates.
fn options_kind(verb: Verb) -> Option<&'static str> {
    match verb {
        Verb::Create => Some("CreateOptions"),
        Verb::Update => Some("UpdateOptions"),
        Verb::Patch => Some("PatchOptions"),
        _ => None,
    }
}

/// `422` for a `fieldManager` longer than a real server accepts or holding unprintable
/// characters.
fn check_field_manager(kind: &str, field_manager: Option<&str>) -> Result<(), Status> {
    let Some(m) = field_manager else {
        return Ok(());
    };
    if m.len() > managed::MAX_MANAGER_LEN {
        return Err(errors::invalid_options(
            kind,
            errors::FieldError::too_long("fieldManager", managed::MAX_MANAGER_LEN),
        ));
    }
    if let Some((i, c)) = m.char_indices().find(|(_, c)| c.is_control()) {
        return Err(errors::invalid_options(
            kind,
            errors::FieldError::invalid(
                "fieldManager",
                m,
                &format!("invalid character U+{:04X} (at position {i})", u32::from(c)),
            ),
        ));
    }
    Ok(())
}

/// `422` for `force` on a patch that is not an apply.
fn force_forbidden() -> Status {
    errors::invalid_options(
        "PatchOptions",
        errors::FieldError::forbidden("force", "may not be specified for non-apply patch"),
    )
}

/// `group/version, Kind=kind`, as a real server prints a type.
fn gvk_string(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={kind}")
}

/// A server-side apply of `body` (YAML or JSON) to `t` as `manager`: merged into the
/// live object under the storage's lock, or creating it (`201`) when it does not exist.
fn apply_patch(
    storage: &storage::Storage,
    t: &Target,
    name: &str,
    body: &[u8],
    manager: &str,
    force: bool,
    dry_run: bool,
) -> Result<(u16, Written), Status> {
    let config: Value = serde_yaml_ng::from_slice(body)
        .map_err(|e| errors::bad_request(format!("error decoding YAML: {e}")))?;
    let config = match config {
        Value::Null => Value::Object(serde_json::Map::new()),
        Value::Object(m) => Value::Object(m),
        _ => {
            return Err(errors::bad_request(
                "error decoding YAML: the apply patch must be an object",
            ))
        }
    };
    let api = &t.info.api;
    let str_of = |f: &str| config.get(f).and_then(Value::as_str).unwrap_or_default();
    if str_of("apiVersion") != api.api_version() || str_of("kind") != api.kind {
        return Err(errors::bad_request(format!(
            "invalid object type: {}",
            gvk_string(str_of("apiVersion"), str_of("kind"))
        )));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(errors::bad_request("metadata.managedFields must be nil"));
    }
    let ns = t.ns.as_deref();
    let api_version = api.api_version();
    let subresource = if t.status { "status" } else { "" };
    let scope = storage::scope_of(&t.info, t.status);
    let merge = |live: Option<Value>| {
        managed::apply(
            live,
            &config,
            manager,
            force,
            &api_version,
            subresource,
            scope,
        )
    };
    // The object may come or go between looking and writing: look again.
    for _ in 0..3 {
        match storage.get(&t.info, ns, name) {
            Ok(_) => {
                match storage.modify(
                    &t.info,
                    ns,
                    name,
                    t.status,
                    dry_run,
                    Tracking::Applied,
                    |current| merge(Some(current.value()?)),
                ) {
                    Err(e) if e.code == 404 && e.reason == "NotFound" => continue,
                    other => return other.map(|w| (200, w)),
                }
            }
            Err(e) if e.code == 404 && !t.status => {
                let mut value = merge(None)?;
                if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.entry("name")
                        .or_insert_with(|| Value::String(name.to_owned()));
                }
                // Creating a definition by apply registers what it defines, as a create does.
                let definition = value.clone();
                let created = crd::create_with(storage, &t.info, &definition, dry_run, || {
                    storage.create(&t.info, ns, value, dry_run, Tracking::Applied)
                });
                match created {
                    Err(e) if e.code == 409 && e.reason == "AlreadyExists" => continue,
                    other => return other.map(|w| (201, w)),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(errors::conflict(api, name, errors::STALE))
}

/// What a delete request asks for beyond the object: its `DeleteOptions`.
struct DeleteOptions {
    preconditions: Preconditions,
    dry_run: bool,
}

/// Reads the `DeleteOptions` of a delete: the body's preconditions and `dryRun` (an empty
/// body has none), or `dryRun` in the query, as a real server reads either.
fn delete_options(body: &[u8], query: &Query) -> Result<DeleteOptions, Status> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DeleteOptions {
            preconditions: Preconditions::default(),
            dry_run: query::dry_run(query.get("dryRun"), "DeleteOptions")?,
        });
    }
    let v = parse_json(body)?;
    let p = v.get("preconditions");
    let field = |f: &str| {
        p.and_then(|p| p.get(f))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let dry_run = match v.get("dryRun").and_then(Value::as_array) {
        Some(values) => query::dry_run(values.iter().filter_map(Value::as_str), "DeleteOptions")?,
        None => query::dry_run(query.get("dryRun"), "DeleteOptions")?,
    };
    Ok(DeleteOptions {
        preconditions: Preconditions {
            uid: field("uid"),
            resource_version: field("resourceVersion"),
        },
        dry_run,
    })
}

/// The HTTP method a verb arrives with, for a `405` answer.
fn verb_name(verb: Verb) -> &'static str {
    match verb {
        Verb::Get | Verb::List | Verb::Watch => "GET",
        Verb::Create => "POST",
        Verb::Update => "PUT",
        Verb::Patch => "PATCH",
        Verb::Delete | Verb::DeleteCollection => "DELETE",
    }
}
