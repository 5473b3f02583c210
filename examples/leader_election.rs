//! Three replicas of a controller in one process, against the embedded API server: only
//! the replica that holds the Lease reconciles. The leader is killed (it does not
//! release the lease, as a crashed pod would not), and another replica takes over once
//! the lease has gone unrenewed for its duration; then that one shuts down cleanly,
//! releasing the lease, and the last takes over at once.
//!
//! ```sh
//! cargo run --example leader_election
//! ```
//!
//! Each replica keeps its informers warm while standing by, so a new leader starts its
//! workers without listing again. Exits with 1 if a hand-over does not happen in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use informer::cache::SharedInformerFactory;
use informer::client::{Config, RestClient};
use informer::leaderelection::{LeaderElectionConfig, LeaderElector, LeaseLock};
use informer::meta::{ApiResource, DynamicObject};
use informer::runtime::{Action, Controller, ObjectKey, Retry};
use informer::testing::ApiServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Replica {
    name: String,
    elector: Arc<LeaderElector>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

fn configmaps() -> ApiResource {
    ApiResource::new("", "v1", "ConfigMap", "configmaps", true)
}

/// One replica: its own client, informers, controller and elector.
fn replica(server: &ApiServer, name: &str, started: Instant) -> Result<Replica, BoxError> {
    let client = RestClient::new(Config::from_kubeconfig_file(server.kubeconfig())?)?;
    let factory = SharedInformerFactory::new(client.clone());
    let controller =
        Controller::for_resource(factory.dynamic_informer(&configmaps()), &configmaps());
    let mut config = LeaderElectionConfig::new(name);
    config.lease_duration = Duration::from_secs(3);
    config.renew_deadline = Duration::from_secs(2);
    config.retry_period = Duration::from_millis(400);
    let elector = Arc::new(LeaderElector::new(
        LeaseLock::new(client, "default", "configmap-controller"),
        config,
    )?);
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (name, elector, stop) = (name.to_owned(), elector.clone(), stop.clone());
        async move {
            let me = name.clone();
            let reconcile = move |key: ObjectKey, _cm: Option<Arc<DynamicObject>>| {
                let me = me.clone();
                async move {
                    let t = started.elapsed().as_secs_f32();
                    println!("{t:5.1}s  {me} reconciles {key}");
                    Ok::<_, BoxError>(Action::Done)
                }
            };
            let run = controller.run_while_leading(
                &elector,
                true,
                reconcile,
                |_, _, _| Retry::Backoff,
                stop,
            );
            if let Err(e) = run.await {
                eprintln!("{name}: {e}");
            }
        }
    });
    Ok(Replica {
        name: name.to_owned(),
        elector,
        stop,
        task,
    })
}

/// Waits until one of `replicas` leads; returns its index.
async fn leader_of(
    replicas: &[Replica],
    started: Instant,
    limit: Duration,
) -> Result<usize, BoxError> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(i) = replicas.iter().position(|r| r.elector.is_leader()) {
            let t = started.elapsed().as_secs_f32();
            println!("{t:5.1}s  {} leads", replicas[i].name);
            return Ok(i);
        }
        if Instant::now() > deadline {
            return Err(format!("no replica leads after {limit:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let server = ApiServer::start().await?;
    for name in ["alpha", "beta"] {
        server.create(
            &configmaps(),
            serde_json::json!({"metadata": {"name": name, "namespace": "default"}}),
        )?;
    }
    let started = Instant::now();
    let mut replicas = Vec::new();
    for name in ["replica-1", "replica-2", "replica-3"] {
        replicas.push(replica(&server, name, started)?);
    }
    let result = async {
        let first = leader_of(&replicas, started, Duration::from_secs(10)).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let dead = replicas.remove(first);
        println!(
            "{:5.1}s  {} is killed (the lease is not released)",
            started.elapsed().as_secs_f32(),
            dead.name
        );
        dead.task.abort();
        let killed = Instant::now();
        let second = leader_of(&replicas, started, Duration::from_secs(10)).await?;
        println!(
            "         hand-over after {:.1}s (lease duration 3 s)",
            killed.elapsed().as_secs_f32()
        );
        server.create(
            &configmaps(),
            serde_json::json!({"metadata": {"name": "gamma", "namespace": "default"}}),
        )?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let leaving = replicas.remove(second);
        println!(
            "{:5.1}s  {} shuts down and releases the lease",
            started.elapsed().as_secs_f32(),
            leaving.name
        );
        let released = Instant::now();
        leaving.stop.cancel();
        leaving.task.await?;
        leader_of(&replicas, started, Duration::from_secs(5)).await?;
        println!(
            "         hand-over after {:.1}s",
            released.elapsed().as_secs_f32()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok::<_, BoxError>(())
    }
    .await;
    for r in replicas {
        r.stop.cancel();
        r.task.await?;
    }
    server.shutdown().await;
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    Ok(())
}
