use std::time::Instant;
use informer::meta::ApiResource;
use informer::testing::ApiServer;
use serde_json::Value;
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = ApiServer::builder().history_limit(40000).start().await.unwrap();
    let pods = ApiResource::new("", "v1", "Pod", "pods", true);
    let mut pod: Value = serde_json::from_str(include_str!("../tests/fixtures/pod.json")).unwrap();
    let m = pod["metadata"].as_object_mut().unwrap();
    for f in ["uid", "resourceVersion", "creationTimestamp", "generateName"] { m.remove(f); }
    m.insert("namespace".into(), "default".into());
    for i in 0..1000 { let mut p = pod.clone(); p["metadata"]["name"] = format!("w-{i:04}").into(); server.create(&pods, p).unwrap(); }
    let t = Instant::now();
    for i in 0..20000 { let mut p = pod.clone(); p["metadata"]["name"] = format!("w-{:04}", i % 1000).into(); p["metadata"]["labels"]["round"] = format!("{i}").into(); server.replace(&pods, p).unwrap(); }
    println!("20000 replaces {:?}", t.elapsed());
    server.shutdown().await;
}
