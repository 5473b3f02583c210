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
use support::raw::{chunk, chunked_head, cm_list, event, json, last_chunk, RawServer, Step};
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
    server: &RawServer,
    config: Config,
    options: InformerOptions<Obj>,
) -> (
    SharedIndexInformer<Obj>,
    Recorder,
    Errors,
    CancellationToken,
) {
    let _ = server;
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
        let (inf, rec, heard, stop) = start(&server, server.config(), options(20));
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
        let (inf, _rec, heard, stop) = start(&server, server.config(), options(100));
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
        let (inf, _rec, heard, stop) = start(&server, server.config(), opts);
        wait_until("the third watch delivered", || {
            inf.get_indexer().get_by_key("default/late").is_some()
        })
        .await;
        let heard = heard.lock().clone();
        stop.cancel();
        assert_eq!(heard.len(), 2, "{heard:?}");
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
        let (inf, _rec, heard, stop) = start(&server, config, options(20));
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
                steps.extend((0..10_000).map(|_| chunk(&"e".repeat(16 << 10))));
                return steps;
            }
            // A list with an item that never ends.
            let mut steps = vec![
                chunked_head(),
                chunk(r#"{"kind":"ConfigMapList","metadata":{"resourceVersion":"1"},"items":[{"data":{"x":""#),
            ];
            steps.extend((0..10_000).map(|_| chunk(&"x".repeat(16 << 10))));
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
        let (inf, _rec, heard, stop) = start(&server, config, options(50));
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
