//! A broken or hostile server never wipes the cache, hangs an informer or storms it
//! (issue 13). Each test plays a misbehaving server over loopback — a raw TCP server for
//! broken HTTP — and ends within seconds.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use informer::cache::{
    BackoffPolicy, InformerOptions, ListWatch, ReflectorError, ReflectorOptions,
    SharedIndexInformer,
};
use informer::client::{Api, Config, Error, ListParams};
use parking_lot::Mutex;
use support::raw::{self, chunk, chunked_head, cm_list, event, json, last_chunk, RawServer, Step};
use support::*;
use tokio_util::sync::CancellationToken;

/// Reflector options for a raw server: quick, jitter-free backoff.
fn options(backoff_ms: u64) -> InformerOptions<Obj> {
    InformerOptions {
        reflector: ReflectorOptions {
            name: "configmaps".to_owned(),
            backoff: BackoffPolicy {
                initial: Duration::from_millis(backoff_ms),
                max: Duration::from_millis(backoff_ms * 4),
                jitter: 0.0,
                reset_after: Duration::from_secs(60),
            },
            ..ReflectorOptions::default()
        },
        ..InformerOptions::default()
    }
}

/// What the watch error handler heard: each error's `Display`.
type Errors = Arc<Mutex<Vec<String>>>;

/// An informer over the raw server's ConfigMaps with a recorder and an error handler
/// that records each error's message; running.
fn start(
    config: Config,
    options: InformerOptions<Obj>,
) -> (
    SharedIndexInformer<Obj>,
    Recorder,
    Errors,
    CancellationToken,
) {
    let client = informer::client::RestClient::new(config).expect("client");
    let api: Api<Obj> = Api::all_with(client, &configmaps());
    let inf = SharedIndexInformer::new(ListWatch::new(api), options);
    let rec = Recorder::default();
    inf.add_event_handler(rec.clone()).expect("handler");
    let heard: Errors = Arc::default();
    inf.set_watch_error_handler({
        let heard = heard.clone();
        move |e: &ReflectorError| heard.lock().push(e.to_string())
    })
    .expect("error handler");
    let stop = CancellationToken::new();
    tokio::spawn({
        let (inf, stop) = (inf.clone(), stop.clone());
        async move { inf.run(stop).await }
    });
    (inf, rec, heard, stop)
}

fn is_watch(line: &str) -> bool {
    line.contains("watch=true")
}

/// A watch answer: one `ERROR 410` event, then the end.
fn expired_watch() -> Vec<Step> {
    vec![
        chunked_head(),
        chunk(
            "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\
             \"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version\",\
             \"reason\":\"Expired\",\"code\":410}}\n",
        ),
        last_chunk(),
    ]
}

// 1. A 200 list answer that is not a list is an error, never an empty list.

#[test]
fn a_list_answer_that_is_not_a_list_fails_and_leaves_the_cache_alone() {
    bounded_for(Duration::from_secs(20), async {
        let status_200 = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"proxy says no","code":200}"#;
        let server = RawServer::start(move |_, line| {
            if is_watch(line) {
                return expired_watch();
            }
            if line.contains("resourceVersion=0") {
                json(200, &cm_list("10", &["a", "b"]))
            } else if line.contains("limit=") {
                json(200, "{}")
            } else {
                json(200, status_200)
            }
        })
        .await;

        // The client itself refuses both.
        let api: Api<Obj> = Api::all_with(server.client(), &configmaps());
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(matches!(err, Error::Api(_)), "{err}");
        assert!(err.to_string().contains("proxy says no"), "{err}");
        let err = api.list(&ListParams::default().limit(5)).await.unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err}");
        assert!(err.to_string().contains("is not a list"), "{err}");

        // An informer that synced keeps its cache through relists answered with them.
        let (inf, rec, heard, stop) = start(server.config(), options(20));
        wait_until("synced", || inf.has_synced()).await;
        wait_until("several failed relists", || {
            heard
                .lock()
                .iter()
                .filter(|e| e.starts_with("list failed"))
                .count()
                >= 4
        })
        .await;
        let mut keys: Vec<String> = inf.get_indexer().list_keys();
        keys.sort();
        assert_eq!(keys, ["default/a", "default/b"]);
        assert!(
            rec.heard()
                .iter()
                .all(|h| !matches!(h, Heard::Delete { .. })),
            "{:?}",
            rec.heard()
        );
        // No watch ever went out without the version the cache holds.
        for line in server.requests().iter().filter(|l| is_watch(l)) {
            assert!(line.contains("resourceVersion=10"), "{line}");
        }
        stop.cancel();
    });
}

// 2. No reconnect storm: a watch that breaks after an event backs off and is reported.

#[test]
fn a_watch_that_breaks_after_an_event_backs_off_and_reports_its_cause() {
    bounded_for(Duration::from_secs(20), async {
        let server = RawServer::start(|n, line| {
            if !is_watch(line) {
                return json(200, &cm_list("1", &[]));
            }
            let rv = (n + 1).to_string();
            vec![
                chunked_head(),
                chunk(&event("ADDED", &format!("c{n}"), &rv)),
                chunk("{this is not json\n"),
                Step::Hang,
            ]
        })
        .await;
        let (inf, _rec, heard, stop) = start(server.config(), options(100));
        wait_until("synced", || inf.has_synced()).await;
        let since = Instant::now();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let watches = server.count("watch=true");
        let elapsed = since.elapsed();
        stop.cancel();
        // With waits of 100, 200, 400, 400, ... ms, at most a handful of watches fit.
        assert!(
            (2..=8).contains(&watches),
            "{watches} watches in {elapsed:?}; heard {:?}",
            heard.lock()
        );
        let heard = heard.lock().clone();
        assert!(heard.len() >= watches - 1, "{heard:?}");
        for e in &heard {
            assert!(e.contains("malformed watch event"), "{e}");
        }
        assert_eq!(inf.metrics().reflector.relists, 0);
    });
}

// 3. No silent hang: watches have an idle timeout, other requests a read timeout.

#[test]
fn a_silent_watch_is_reopened_after_the_idle_timeout() {
    bounded_for(Duration::from_secs(20), async {
        // Watch 1 stalls after its headers, watch 2 is never answered, watch 3 works.
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server = RawServer::start({
            let count = count.clone();
            move |_, line| {
                if !is_watch(line) {
                    return json(200, &cm_list("1", &[]));
                }
                match count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                    0 => vec![chunked_head(), Step::Hang],
                    1 => vec![Step::Hang],
                    _ => vec![
                        chunked_head(),
                        chunk(&event("ADDED", "late", "2")),
                        Step::Hang,
                    ],
                }
            }
        })
        .await;
        let mut opts = options(20);
        opts.reflector.watch_idle_timeout = Duration::from_millis(300);
        let (inf, _rec, heard, stop) = start(server.config(), opts);
        wait_until("the third watch delivered", || {
            inf.get_indexer().get_by_key("default/late").is_some()
        })
        .await;
        let heard = heard.lock().clone();
        stop.cancel();
        // (A fourth error may follow: the third watch goes silent after its event.)
        assert!(heard.len() >= 2, "{heard:?}");
        assert!(
            heard[0].contains("sent nothing, not even a bookmark"),
            "{heard:?}"
        );
        assert!(heard[1].contains("request got no answer"), "{heard:?}");
        assert!(heard[0].contains("watch_idle_timeout"), "{heard:?}");
    });
}

#[test]
fn a_list_that_stalls_mid_body_fails_after_the_read_timeout() {
    bounded_for(Duration::from_secs(20), async {
        let server = RawServer::start(|_, _| {
            vec![
                chunked_head(),
                chunk(r#"{"kind":"ConfigMapList","metadata":{"resourceVersion":"1"},"items":["#),
                Step::Hang,
            ]
        })
        .await;
        let mut config = server.config();
        config.read_timeout = Some(Duration::from_millis(300));
        let client = informer::client::RestClient::new(config.clone()).expect("client");
        let api: Api<Obj> = Api::all_with(client, &configmaps());
        let started = Instant::now();
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(err.is_transport(), "{err}");
        assert!(err.to_string().contains("stalled"), "{err}");
        assert!(err.to_string().contains("read_timeout"), "{err}");

        // An informer hears of it instead of hanging unsynced.
        let (inf, _rec, heard, stop) = start(config, options(20));
        wait_until("a failed list reported", || {
            heard.lock().iter().any(|e| e.contains("stalled"))
        })
        .await;
        assert!(!inf.has_synced());
        stop.cancel();
    });
}

// 4. Bounded memory for every body.

#[test]
fn every_answer_is_capped() {
    bounded_for(Duration::from_secs(20), async {
        let server = RawServer::start(|_, line| {
            if line.contains("/configmaps/big") {
                // One object, larger than the cap, announced by its length.
                let body = format!(r#"{{"data":{{"x":"{}"}}}}"#, "x".repeat(300 << 10));
                return json(200, &body);
            }
            if line.contains("/configmaps/error") {
                // An error body without end.
                let mut steps = vec![Step::Write(
                    b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        .to_vec(),
                )];
                steps.push(raw::chunks(&"e".repeat(16 << 10), 10_000));
                return steps;
            }
            // A list with an item that never ends.
            let mut steps = vec![
                chunked_head(),
                chunk(r#"{"kind":"ConfigMapList","metadata":{"resourceVersion":"1"},"items":[{"data":{"x":""#),
            ];
            steps.push(raw::chunks(&"x".repeat(16 << 10), 10_000));
            steps
        })
        .await;
        let mut config = server.config();
        config.max_object_size = 256 << 10;
        let client = informer::client::RestClient::new(config).expect("client");
        let api: Api<Obj> = Api::namespaced_with(client, "default", &configmaps());

        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(
            matches!(err, Error::TooLarge { limit, .. } if limit == 256 << 10),
            "{err}"
        );
        assert!(err.to_string().contains("max_object_size"), "{err}");

        let err = api.get("big").await.unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");

        // An error body is read only up to the cap: the error comes, with its code.
        let err = api.get("error").await.unwrap_err();
        assert_eq!(err.code(), Some(500), "{err}");
        let Error::Api(status) = &err else {
            panic!("{err}")
        };
        assert!(status.message.len() < 4096);
    });
}

// 5. Errors that say what happened.

#[test]
fn a_watch_event_over_the_cap_is_reported_as_such_not_as_a_short_watch() {
    bounded_for(Duration::from_secs(20), async {
        let server = RawServer::start(|_, line| {
            if !is_watch(line) {
                return json(200, &cm_list("1", &[]));
            }
            vec![chunked_head(), chunk(&"x".repeat(4096)), Step::Hang]
        })
        .await;
        let mut config = server.config();
        config.max_watch_event_size = 1024;
        let (inf, _rec, heard, stop) = start(config, options(50));
        wait_until("synced", || inf.has_synced()).await;
        wait_until("a failed watch reported", || !heard.lock().is_empty()).await;
        stop.cancel();
        let first = heard.lock()[0].clone();
        assert!(first.contains("exceeded 1024 bytes"), "{first}");
        assert!(!first.contains("very short watch"), "{first}");
    });
}

#[test]
fn transport_errors_show_their_cause_and_are_not_called_decoding() {
    bounded_for(Duration::from_secs(20), async {
        // Nothing listens here.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut config = Config::new(&format!("http://127.0.0.1:{port}")).unwrap();
        config.rate_limit = None;
        config.retry = informer::client::RetryPolicy::none();
        let api: Api<Obj> = Api::all_with(
            informer::client::RestClient::new(config).unwrap(),
            &configmaps(),
        );
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(
            err.to_string().to_lowercase().contains("refused"),
            "the cause is missing: {err}"
        );

        // A list whose body breaks off is a transport failure, not a decoding one.
        let server = RawServer::start(|_, _| {
            vec![
                chunked_head(),
                Step::Write(b"400\r\n{\"kind\":\"ConfigMapList\",\"items\":[".to_vec()),
            ]
        })
        .await;
        let api: Api<Obj> = Api::all_with(server.client(), &configmaps());
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(err.is_transport(), "{err}");
        assert!(!err.to_string().contains("decoding"), "{err}");
        assert!(err.to_string().contains("broke off"), "{err}");
    });
}

#[test]
fn decode_errors_give_the_offset_in_the_whole_body() {
    bounded_for(Duration::from_secs(20), async {
        let head = r#"{"kind":"ConfigMapList","metadata":{"resourceVersion":"1"},"items":[{"a":1},{"b":2},"#;
        let offset = head.len();
        let server = RawServer::start(move |_, _| {
            let mut steps = vec![chunked_head()];
            for piece in head.as_bytes().chunks(7) {
                steps.push(chunk(std::str::from_utf8(piece).unwrap()));
            }
            steps.push(chunk("42]}"));
            steps.push(last_chunk());
            steps
        })
        .await;
        let api: Api<Obj> = Api::all_with(server.client(), &configmaps());
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(
            err.to_string().contains(&format!("at byte {offset} ")),
            "want byte {offset}: {err}"
        );
    });
}

#[test]
fn a_redirect_says_it_is_not_followed() {
    bounded_for(Duration::from_secs(20), async {
        let server = RawServer::start(|_, _| {
            vec![Step::Write(
                b"HTTP/1.1 302 Found\r\nLocation: https://elsewhere.example/api\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            )]
        })
        .await;
        let api: Api<Obj> = Api::all_with(server.client(), &configmaps());
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert_eq!(err.code(), Some(302));
        let text = err.to_string();
        assert!(text.contains("redirects are not followed"), "{text}");
        assert!(text.contains("https://elsewhere.example/api"), "{text}");
    });
}

#[test]
fn a_server_url_without_a_host_says_so() {
    for url in [
        "https://",
        "https:///",
        "http://",
        "https://:6443",
        "https:// x",
    ] {
        let err = Config::new(url).unwrap_err().to_string();
        assert!(
            err.contains("has no host") || err.contains("not a valid URL"),
            "{url}: {err}"
        );
        assert!(!err.contains("must start with"), "{url}: {err}");
    }
    assert!(Config::new("https://10.0.0.1:6443/").is_ok());
}

// 4 (files and plugins). An exec plugin's output and a kubeconfig's files are capped.

/// An exec plugin running `script` with `sh -c`.
fn plugin(script: &str, timeout: Option<Duration>) -> informer::client::ExecConfig {
    informer::client::ExecConfig {
        api_version: "client.authentication.k8s.io/v1".into(),
        command: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        timeout,
        ..Default::default()
    }
}

/// The error of the first request through a client whose only credential is `exec`.
async fn first_request_error(server: &RawServer, exec: informer::client::ExecConfig) -> Error {
    let mut config = server.config();
    config.auth.exec = Some(exec);
    let api: Api<Obj> = Api::all_with(
        informer::client::RestClient::new(config).unwrap(),
        &configmaps(),
    );
    api.list(&ListParams::default()).await.unwrap_err()
}

#[test]
fn an_exec_plugin_printing_without_end_is_cut_off() {
    bounded_for(Duration::from_secs(20), async {
        let server = RawServer::start(|_, _| json(200, &cm_list("1", &[]))).await;
        let err = first_request_error(&server, plugin("yes", None)).await;
        assert!(
            matches!(err, Error::TooLarge { limit, .. } if limit == informer::client::MAX_EXEC_OUTPUT),
            "{err}"
        );
        assert_eq!(server.requests().len(), 0);
    });
}

#[test]
fn a_huge_kubeconfig_file_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(informer::client::MAX_FILE_SIZE as u64 + 1)
        .unwrap();
    let err = Config::from_kubeconfig_file(&path).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");

    // So is a certificate file it points at.
    let ca = dir.path().join("ca.crt");
    std::fs::File::create(&ca)
        .unwrap()
        .set_len(informer::client::MAX_FILE_SIZE as u64 + 1)
        .unwrap();
    let kubeconfig = dir.path().join("small");
    std::fs::write(
        &kubeconfig,
        kubeconfig_text(&format!("certificate-authority: {}", ca.display()), "{}"),
    )
    .unwrap();
    let err = Config::from_kubeconfig_file(&kubeconfig).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}

/// A kubeconfig with one cluster (with `cluster_extra` lines) and one user.
fn kubeconfig_text(cluster_extra: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    \
         server: https://127.0.0.1:1\n    {cluster_extra}\nusers:\n- name: u\n  user: {user}\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
    )
}

// 6. Secrets.

#[test]
fn exec_plugin_args_and_env_never_show_in_debug() {
    let mut config = Config::new("https://127.0.0.1:1").unwrap();
    let mut exec = plugin("--token=s3cret-arg", None);
    exec.env = vec![informer::client::ExecEnvVar {
        name: "TOKEN".into(),
        value: "s3cret-env".into(),
    }];
    config.auth.exec = Some(exec.clone());
    for dump in [
        format!("{exec:?}"),
        format!("{:?}", config.auth),
        format!("{config:#?}"),
    ] {
        assert!(!dump.contains("s3cret"), "{dump}");
        assert!(dump.contains("/bin/sh"), "{dump}");
    }
}

#[test]
fn a_malformed_plugin_credential_is_not_echoed() {
    bounded_for(Duration::from_secs(20), async {
        let server = RawServer::start(|_, _| json(200, &cm_list("1", &[]))).await;
        let cred = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":"s3cret-token-value"}"#;
        let err = first_request_error(&server, plugin(&format!("echo '{cred}'"), None)).await;
        let text = err.to_string();
        assert!(text.contains("did not print an ExecCredential"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    });
}

/// Counts `WARN` events; a minimal subscriber (the crate logs through `tracing`).
#[derive(Default)]
struct Warnings(std::sync::atomic::AtomicUsize);

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// How many warnings building a client for `url` with `auth` logs.
fn warnings_building(url: &str, auth: impl FnOnce(&mut informer::client::AuthInfo)) -> usize {
    let warnings = Arc::new(Warnings::default());
    let mut config = Config::new(url).unwrap();
    auth(&mut config.auth);
    tracing::subscriber::with_default(warnings.clone(), || {
        informer::client::RestClient::new(config).unwrap();
    });
    warnings.0.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn credentials_over_plain_http_to_another_host_warn_once() {
    let token = |a: &mut informer::client::AuthInfo| a.token = Some("t".to_owned().into());
    let basic = |a: &mut informer::client::AuthInfo| {
        a.username = Some("u".into());
        a.password = Some("p".to_owned().into());
    };
    assert_eq!(warnings_building("http://10.1.2.3:8080", token), 1);
    assert_eq!(warnings_building("http://apiserver.example", basic), 1);
    // This machine, https, or nothing to leak: no warning.
    assert_eq!(warnings_building("http://127.0.0.1:8080", token), 0);
    assert_eq!(warnings_building("http://localhost:8080", basic), 0);
    assert_eq!(warnings_building("http://[::1]:8080", token), 0);
    assert_eq!(warnings_building("https://10.1.2.3:6443", token), 0);
    assert_eq!(warnings_building("http://10.1.2.3:8080", |_| {}), 0);
}

// 7. Files and plugins never block the runtime or linger.

/// Makes a FIFO at `path` (no writer will ever open it).
fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

#[test]
fn fifo_paths_are_refused_at_once() {
    bounded_for(Duration::from_secs(10), async {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let started = Instant::now();

        let kubeconfig = dir.path().join("ca");
        std::fs::write(
            &kubeconfig,
            kubeconfig_text(&format!("certificate-authority: {}", fifo.display()), "{}"),
        )
        .unwrap();
        let err = Config::from_kubeconfig_file(&kubeconfig).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let kubeconfig = dir.path().join("token");
        std::fs::write(
            &kubeconfig,
            kubeconfig_text("", &format!("{{tokenFile: {}}}", fifo.display())),
        )
        .unwrap();
        let config = Config::from_kubeconfig_file(&kubeconfig).unwrap();
        let err = informer::client::RestClient::new(config).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");

        assert!(Config::from_kubeconfig_file(&fifo).is_err());

        // In cluster: a CA that is a FIFO.
        let sa = dir.path().join("sa");
        std::fs::create_dir(&sa).unwrap();
        std::fs::write(sa.join("token"), "t").unwrap();
        mkfifo(&sa.join("ca.crt"));
        let env = |k: &str| match k {
            "KUBERNETES_SERVICE_HOST" => Some("10.0.0.1".to_owned()),
            "KUBERNETES_SERVICE_PORT" => Some("443".to_owned()),
            _ => None,
        };
        let err = Config::incluster_from(&env, &sa).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    });
}

#[cfg(target_os = "linux")]
#[test]
fn a_hanging_exec_plugin_is_killed_with_its_children() {
    bounded_for(Duration::from_secs(20), async {
        let server = RawServer::start(|_, _| json(200, &cm_list("1", &[]))).await;
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let started = Instant::now();
        let err =
            first_request_error(&server, plugin(&script, Some(Duration::from_millis(500)))).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(err.to_string().contains("did not finish within"), "{err}");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let proc = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
        // The orphaned `sleep` is killed with the group (then reaped by init).
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(&proc) {
            assert!(
                Instant::now() < deadline,
                "the plugin's child {pid} still runs"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// Whether the process at `/proc/<pid>` exists and is not a zombie.
#[cfg(target_os = "linux")]
fn alive(proc: &std::path::Path) -> bool {
    match std::fs::read_to_string(proc.join("stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

// 8. Handler buffers: `pending()` is 0 once stopped; an opt-in bound per handler.

#[test]
fn a_bounded_slow_handler_drops_its_backlog_and_converges_from_the_cache() {
    bounded_for(Duration::from_secs(40), async {
        let server = informer::testing::ApiServer::start().await.unwrap();
        for i in 0..20 {
            create(&server, "default", &format!("c{i}"), "0");
        }
        let api: Api<Obj> = Api::all_with(client(&server), &configmaps());
        let inf = SharedIndexInformer::new(ListWatch::new(api), fast_options("configmaps"));
        let bounded = Recorder::slow(Duration::from_millis(50));
        let unbounded = Recorder::slow(Duration::from_millis(50));
        let max = 20;
        let bounded_reg = inf
            .add_event_handler_with_options(
                bounded.clone(),
                informer::cache::HandlerOptions::default().max_pending(max),
            )
            .unwrap();
        let unbounded_reg = inf.add_event_handler(unbounded.clone()).unwrap();
        let stop = CancellationToken::new();
        let run = tokio::spawn({
            let (inf, stop) = (inf.clone(), stop.clone());
            async move { inf.run(stop).await }
        });
        wait_until("synced", || inf.has_synced()).await;

        // 200 updates a second for two seconds, with a few deletions and creations.
        let mut most_pending = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        for n in 0..400 {
            tick.tick().await;
            let name = format!("c{}", n % 20);
            match n {
                // c0 goes and comes back; c10 and c5 go for good.
                100 | 250 | 305 => delete(&server, "default", &name),
                _ if n > 100 && n < 200 && n % 20 == 0 => {}
                200 => {
                    create(&server, "default", "c0", "again");
                }
                _ if n > 250 && n % 20 == 10 => {}
                _ if n > 305 && n % 20 == 5 => {}
                _ => {
                    update(&server, "default", &name, &n.to_string());
                }
            }
            most_pending = most_pending.max(bounded_reg.pending());
        }
        assert!(
            most_pending <= max + 1,
            "bounded backlog reached {most_pending}"
        );
        assert!(bounded_reg.overflows() >= 1, "the bound was never reached");
        // The unbounded one, as slow, holds hundreds.
        assert!(unbounded_reg.pending() > 100, "{}", unbounded_reg.pending());

        // Once the updates stop, the bounded handler converges on the server's state,
        // with every event consistent with what it saw before.
        let want = server_state(&server);
        wait_until("the bounded handler converged", || bounded.state() == want).await;
        assert_eq!(bounded.anomalies(), Vec::<String>::new());
        assert!(
            unbounded.state() != want,
            "the unbounded handler cannot have caught up"
        );

        // After stop, no backlog is reported.
        stop.cancel();
        run.await.unwrap().unwrap();
        unbounded_reg.stopped().await;
        assert_eq!(unbounded_reg.pending(), 0);
        bounded_reg.stopped().await;
        assert_eq!(bounded_reg.pending(), 0);
        server.shutdown().await;
    });
}

#[test]
fn a_bound_smaller_than_the_initial_list_still_syncs_the_handler() {
    bounded_for(Duration::from_secs(30), async {
        let server = informer::testing::ApiServer::start().await.unwrap();
        for i in 0..30 {
            create(&server, "default", &format!("c{i}"), "0");
        }
        let api: Api<Obj> = Api::all_with(client(&server), &configmaps());
        let inf = SharedIndexInformer::new(ListWatch::new(api), fast_options("configmaps"));
        let rec = Recorder::slow(Duration::from_millis(5));
        let reg = inf
            .add_event_handler_with_options(
                rec.clone(),
                informer::cache::HandlerOptions::default().max_pending(4),
            )
            .unwrap();
        let stop = CancellationToken::new();
        tokio::spawn({
            let (inf, stop) = (inf.clone(), stop.clone());
            async move { inf.run(stop).await }
        });
        wait_until("the handler synced", || reg.has_synced()).await;
        let want = server_state(&server);
        wait_until("the handler holds everything", || rec.state() == want).await;
        assert!(reg.overflows() >= 1);
        assert_eq!(rec.anomalies(), Vec::<String>::new());
        // Every add it heard belongs to the initial list.
        assert!(rec
            .heard()
            .iter()
            .all(|h| matches!(h, Heard::Add { initial: true, .. })));
        stop.cancel();
        server.shutdown().await;
    });
}
