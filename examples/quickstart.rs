//! Quickstart: a shared informer on pods, from first list to summary.
//!
//! With no arguments it starts the embedded API server with 300 pods in three
//! namespaces and a churn task that creates, changes and deletes pods (and, half way,
//! restarts the server with its history compacted, which forces a relist). It then
//! builds a `SharedInformerFactory`, registers a handler that prints one line per event,
//! shows progress while the cache syncs, queries a lister by namespace and by label
//! selector, and after 10 seconds (or Ctrl-C) prints a summary. Pod events print as
//! `+ added`, `~ updated` and `- deleted`; the server's restart as a `=== server:` line.
//! On a terminal the sync progress is one line updated in place.
//!
//! With `--kubeconfig PATH`, or `KUBECONFIG` set, it watches the pods of that cluster
//! instead, read-only.
//!
//! ```sh
//! cargo run --release --example quickstart
//! cargo run --release --example quickstart -- --kubeconfig ~/.kube/config --seconds 30 --selector app
//! ```

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use informer::cache::{
    ResourceEventHandlerFuncs, SharedIndexInformer, SharedInformerFactory, NAMESPACE_INDEX,
};
use informer::client::{Config, RestClient};
use informer::meta::{ApiResource, DynamicObject, Object};
use informer::selector::LabelSelector;
use informer::testing::ApiServer;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const NAMESPACES: [&str; 3] = ["shop", "bank", "blog"];
const APPS: [&str; 4] = ["web", "api", "db", "cache"];
const PODS: usize = 300;

struct Args {
    kubeconfig: Option<String>,
    seconds: u64,
    selector: Option<String>,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        kubeconfig: std::env::var("KUBECONFIG").ok().filter(|k| !k.is_empty()),
        seconds: 10,
        selector: None,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--kubeconfig" => args.kubeconfig = Some(value("--kubeconfig")?),
            "--seconds" => {
                let v = value("--seconds")?;
                args.seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds {v:?}: not a number"))?;
            }
            "--selector" => args.selector = Some(value("--selector")?),
            "--quiet" => args.quiet = true,
            "-h" | "--help" => {
                return Err("usage: quickstart [--kubeconfig PATH] [--seconds N] \
                            [--selector LABELS] [--quiet]"
                    .to_owned())
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(args)
}

fn pods() -> ApiResource {
    ApiResource::new("", "v1", "Pod", "pods", true)
}

fn pod(i: usize, generation: u64) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("pod-{i:03}"),
            "namespace": NAMESPACES[i % NAMESPACES.len()],
            "labels": {
                "app": APPS[i % APPS.len()],
                "tier": if i.is_multiple_of(2) { "frontend" } else { "backend" },
            },
            "annotations": {"quickstart/generation": generation.to_string()},
        },
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
    })
}

/// Fills the embedded server with namespaces and pods.
fn seed(server: &ApiServer) -> Result<(), Box<dyn std::error::Error>> {
    let namespaces = ApiResource::new("", "v1", "Namespace", "namespaces", false);
    for ns in NAMESPACES {
        server.create(&namespaces, json!({"metadata": {"name": ns}}))?;
    }
    for i in 0..PODS {
        server.create(&pods(), pod(i, 0))?;
    }
    Ok(())
}

/// Changes pods about 20 times a second until `stop`; half way, restarts the server
/// with its history compacted, so the informer has to relist.
async fn churn(server: Arc<ApiServer>, stop: CancellationToken, seconds: u64) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let restart_at = Instant::now() + Duration::from_secs(seconds / 2);
    let mut restarted = false;
    let next = || fastrand::u64(..);
    for generation in 1.. {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let i = (next() % (PODS as u64 + 20)) as usize;
        change_pod(&server, i, generation, next() % 4 == 0);
        if !restarted && Instant::now() >= restart_at {
            restarted = true;
            // Marked apart from the pod events (`+`, `~`, `-`): this is the server.
            println!("=== server: restarting the API server with its history compacted (the informer relists) ===");
            // Connections are cut first, so the informer cannot see the next change; the
            // history is then compacted past it. The informer's watch from the last
            // version it saw gets 410 Expired, and it relists.
            server.faults().restart(false);
            change_pod(&server, (next() % PODS as u64) as usize, generation, false);
            server.faults().compact();
        }
    }
}

/// Creates pod `i`, or changes it, or (when `delete`) deletes it.
fn change_pod(server: &ApiServer, i: usize, generation: u64, delete: bool) {
    let ns = NAMESPACES[i % NAMESPACES.len()];
    let name = format!("pod-{i:03}");
    let result = match server.get(&pods(), Some(ns), &name) {
        Ok(_) if delete => server.delete(&pods(), Some(ns), &name).map(drop),
        Ok(_) => server.replace(&pods(), pod(i, generation)).map(drop),
        Err(_) => server.create(&pods(), pod(i, generation)).map(drop),
    };
    if let Err(status) = result {
        eprintln!("churn: {status}");
    }
}

#[derive(Default)]
struct Counts {
    initial: AtomicU64,
    added: AtomicU64,
    updated: AtomicU64,
    deleted: AtomicU64,
    tombstones: AtomicU64,
}

fn describe(o: &DynamicObject) -> String {
    let app = o
        .labels()
        .and_then(|l| l.get("app"))
        .map(|a| format!(" app={a}"))
        .unwrap_or_default();
    format!(
        "{}/{}{app} rv={}",
        o.namespace().unwrap_or("-"),
        o.name().unwrap_or("-"),
        o.resource_version().unwrap_or("-"),
    )
}

fn handler(
    counts: Arc<Counts>,
    print: Arc<AtomicBool>,
) -> ResourceEventHandlerFuncs<DynamicObject> {
    let (c1, c2, c3) = (counts.clone(), counts.clone(), counts);
    let (p1, p2, p3) = (print.clone(), print.clone(), print);
    ResourceEventHandlerFuncs::new()
        .add_func(move |o, initial| {
            if initial {
                c1.initial.fetch_add(1, Ordering::Relaxed);
            } else {
                c1.added.fetch_add(1, Ordering::Relaxed);
                if p1.load(Ordering::Relaxed) {
                    println!("+ added   {}", describe(&o));
                }
            }
        })
        .update_func(move |old, new| {
            c2.updated.fetch_add(1, Ordering::Relaxed);
            if p2.load(Ordering::Relaxed) && old.resource_version() != new.resource_version() {
                println!("~ updated {}", describe(&new));
            }
        })
        .delete_func(move |deleted| {
            c3.deleted.fetch_add(1, Ordering::Relaxed);
            if deleted.is_tombstone() {
                c3.tombstones.fetch_add(1, Ordering::Relaxed);
            }
            if p3.load(Ordering::Relaxed) {
                let how = if deleted.is_tombstone() {
                    " (missed; last known state)"
                } else {
                    ""
                };
                println!("- deleted {}{how}", describe(deleted.object()));
            }
        })
}

/// Pods per namespace, through the namespace index, and a label-selector query.
fn query(informer: &SharedIndexInformer<DynamicObject>, selector: &LabelSelector) {
    let lister = match informer.lister() {
        Ok(l) => l,
        Err(e) => return eprintln!("lister: {e}"),
    };
    let indexer = informer.get_indexer();
    let mut per_ns: Vec<(usize, String)> = indexer
        .list_index_func_values(NAMESPACE_INDEX)
        .into_iter()
        .map(|ns| {
            (
                lister
                    .namespace(&ns)
                    .list(&LabelSelector::everything())
                    .len(),
                ns,
            )
        })
        .collect();
    per_ns.sort_by(|a, b| b.cmp(a));
    let shown: Vec<String> = per_ns
        .iter()
        .take(5)
        .map(|(n, ns)| format!("{ns}={n}"))
        .collect();
    println!(
        "pods per namespace (lister, namespace index): {}",
        shown.join(" ")
    );
    let matching = lister.list(selector);
    println!("pods matching \"{selector}\" (lister): {}", matching.len());
    if let Some((_, ns)) = per_ns.first() {
        println!(
            "  of which in {ns}: {}",
            lister.namespace(ns).list(selector).len()
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = match parse_args() {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let stop = CancellationToken::new();

    // Where to connect: a real cluster, or the embedded server with churn.
    let (config, server) = match &args.kubeconfig {
        Some(path) => {
            println!("watching the pods of the cluster in {path} (read-only)");
            let from_flag = std::env::args().any(|a| a == "--kubeconfig");
            // `KUBECONFIG` may list several files: `Config::infer` merges them.
            let config = if from_flag {
                Config::from_kubeconfig_file(path)?
            } else {
                Config::infer()?
            };
            (config, None)
        }
        None => {
            let server = Arc::new(ApiServer::start().await?);
            seed(&server)?;
            println!(
                "embedded API server at {} with {PODS} pods (kubeconfig: {})",
                server.url(),
                server.kubeconfig().display()
            );
            (
                Config::from_kubeconfig_file(server.kubeconfig())?,
                Some(server),
            )
        }
    };
    let selector = LabelSelector::parse(args.selector.as_deref().unwrap_or(match server {
        Some(_) => "app=web,tier=frontend",
        None => "app",
    }))?;

    let factory = SharedInformerFactory::new(RestClient::new(config)?);
    let informer = factory.dynamic_informer(&pods());
    let counts = Arc::new(Counts::default());
    let print = Arc::new(AtomicBool::new(false));
    informer.add_event_handler(handler(counts.clone(), print.clone()))?;

    let started = Instant::now();
    factory.start(&stop);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // A progress line rewritten in place (`\r`) only on a terminal; piped to a file, one
    // line before and one after.
    let terminal = std::io::stdout().is_terminal();
    if !terminal {
        println!("syncing {}", informer.name());
    }
    loop {
        if terminal {
            print!(
                "\rsyncing {}: {} cached",
                informer.name(),
                informer.get_indexer().len()
            );
            std::io::stdout().flush()?;
        }
        tokio::select! {
            synced = informer.wait_for_sync(&stop) => if synced { break },
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = &mut ctrl_c => { stop.cancel(); factory.shutdown().await; return Ok(()); }
        }
    }
    let sync_time = started.elapsed();
    if terminal {
        // Back to the start of the line, and clear the rest of it.
        print!("\r\x1b[K");
    }
    println!(
        "synced {} pods in {:.0?}",
        informer.get_indexer().len(),
        sync_time
    );
    query(&informer, &selector);

    print.store(!args.quiet, Ordering::Relaxed);
    let churn_stop = CancellationToken::new();
    let churn_task = server
        .clone()
        .map(|s| tokio::spawn(churn(s, churn_stop.clone(), args.seconds)));
    println!("watching for {} s (Ctrl-C to stop early)", args.seconds);
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(args.seconds)) => {}
        _ = &mut ctrl_c => println!("interrupted"),
    }
    churn_stop.cancel();
    if let Some(task) = churn_task {
        task.await?;
    }
    print.store(false, Ordering::Relaxed);
    let mut equal = None;
    if let Some(server) = &server {
        // Give the informer a moment to catch up with the last changes.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let same = cache_state(&informer) == server_state(server)?;
            if same || Instant::now() >= deadline {
                equal = Some(same);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    query(&informer, &selector);
    let m = informer.metrics();
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!("summary:");
    println!(
        "  events: {} initial adds, {} adds, {} updates, {} deletes ({} of them tombstones)",
        c(&counts.initial),
        c(&counts.added),
        c(&counts.updated),
        c(&counts.deleted),
        c(&counts.tombstones),
    );
    println!(
        "  cache: {} pods; sync took {:.0?}; {} lists ({} relists), {} watches, {} bookmarks; last resourceVersion {}",
        m.cache_size,
        sync_time,
        m.reflector.lists,
        m.reflector.relists,
        m.reflector.watches,
        m.reflector.bookmarks,
        m.last_resource_version,
    );
    if let Some(equal) = equal {
        println!(
            "  cache equals the server: {}",
            if equal { "yes" } else { "NO" }
        );
    }
    stop.cancel();
    factory.shutdown().await;
    if let Some(server) = server.and_then(|s| Arc::try_unwrap(s).ok()) {
        server.shutdown().await;
    }
    Ok(())
}

/// namespace/name → resourceVersion of every cached pod.
fn cache_state(informer: &SharedIndexInformer<DynamicObject>) -> BTreeMap<String, String> {
    informer
        .get_indexer()
        .list()
        .iter()
        .map(|p| entry(p))
        .collect()
}

/// namespace/name → resourceVersion of every pod on the embedded server.
fn server_state(
    server: &ApiServer,
) -> Result<BTreeMap<String, String>, Box<dyn std::error::Error>> {
    let mut state = BTreeMap::new();
    for value in server.list(&pods(), None)? {
        let p: DynamicObject = serde_json::from_value(value)?;
        let (k, v) = entry(&p);
        state.insert(k, v);
    }
    Ok(state)
}

fn entry(p: &DynamicObject) -> (String, String) {
    (
        format!("{}/{}", p.namespace().unwrap_or(""), p.name().unwrap_or("")),
        p.resource_version().unwrap_or("").to_owned(),
    )
}
