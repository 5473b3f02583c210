//! A raw HTTP/1.1 server on 127.0.0.1, for answers that no well-behaved server gives:
//! bodies that are not lists, broken or stalled streams, endless items, redirects.
//!
//! Each connection carries one request: the server reads its head, asks the script what
//! to do with it (by the request's number and its request line), plays those steps and
//! closes the connection. It stops when dropped, and in any case after a minute, so that
//! no test can leave it running.

use std::sync::Arc;
use std::time::Duration;

use informer::client::{Config, RestClient, RetryPolicy};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One thing the server does on a connection.
#[derive(Clone, Debug)]
pub enum Step {
    /// Writes these bytes.
    Write(Vec<u8>),
    /// Writes these bytes this many times (an endless body, without holding it).
    Repeat(Vec<u8>, usize),
    /// Waits.
    Sleep(Duration),
    /// Keeps the connection open, silent, until the server stops.
    Hang,
}

type Script = dyn Fn(usize, &str) -> Vec<Step> + Send + Sync;

/// The server; see the module docs.
pub struct RawServer {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
}

impl RawServer {
    /// Starts a server that answers request number `n` (from 0), whose request line is
    /// `line` (`GET /api/v1/... HTTP/1.1`), with `script(n, line)`.
    pub async fn start(
        script: impl Fn(usize, &str) -> Vec<Step> + Send + Sync + 'static,
    ) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = CancellationToken::new();
        let script: Arc<Script> = Arc::new(script);
        let (reqs, token) = (requests.clone(), stop.clone());
        tokio::spawn(async move {
            let lifetime = tokio::time::sleep(Duration::from_secs(60));
            tokio::pin!(lifetime);
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    () = token.cancelled() => return,
                    () = &mut lifetime => { token.cancel(); return }
                };
                let Ok((mut conn, _)) = accepted else {
                    continue;
                };
                let (reqs, script, token) = (reqs.clone(), script.clone(), token.clone());
                tokio::spawn(async move {
                    let play = async {
                        let Some(line) = read_head(&mut conn).await else {
                            return;
                        };
                        let n = {
                            let mut r = reqs.lock();
                            r.push(line.clone());
                            r.len() - 1
                        };
                        for step in script(n, &line) {
                            match step {
                                Step::Write(b) => {
                                    if conn.write_all(&b).await.is_err() {
                                        return;
                                    }
                                    let _ = conn.flush().await;
                                }
                                Step::Repeat(b, n) => {
                                    for _ in 0..n {
                                        if conn.write_all(&b).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                                Step::Sleep(d) => tokio::time::sleep(d).await,
                                Step::Hang => std::future::pending::<()>().await,
                            }
                        }
                        let _ = conn.shutdown().await;
                    };
                    tokio::select! {
                        () = play => {}
                        () = token.cancelled() => {}
                    }
                });
            }
        });
        RawServer {
            url,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The request lines received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().clone()
    }

    /// How many requests so far had `part` in their request line.
    pub fn count(&self, part: &str) -> usize {
        self.requests
            .lock()
            .iter()
            .filter(|l| l.contains(part))
            .count()
    }

    /// A client for it, without rate limit or retries.
    pub fn client(&self) -> RestClient {
        RestClient::new(self.config()).expect("client")
    }

    /// A config for it, without rate limit or retries.
    pub fn config(&self) -> Config {
        let mut config = Config::new(&self.url).expect("config");
        config.rate_limit = None;
        config.retry = RetryPolicy::none();
        config
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Reads a request head; its first line.
async fn read_head(conn: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 || head.len() > 64 << 10 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    text.lines().next().map(str::to_owned)
}

/// A whole answer with this code and JSON body.
pub fn json(code: u16, body: &str) -> Vec<Step> {
    vec![Step::Write(
        format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )]
}

/// The head of a `200` answer with a chunked body.
pub fn chunked_head() -> Step {
    Step::Write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
          Connection: close\r\n\r\n"
            .to_vec(),
    )
}

/// One chunk of a chunked body.
pub fn chunk(data: &str) -> Step {
    Step::Write(format!("{:x}\r\n{data}\r\n", data.len()).into_bytes())
}

/// `n` chunks of `data` in a chunked body.
pub fn chunks(data: &str, n: usize) -> Step {
    Step::Repeat(format!("{:x}\r\n{data}\r\n", data.len()).into_bytes(), n)
}

/// The end of a chunked body.
pub fn last_chunk() -> Step {
    Step::Write(b"0\r\n\r\n".to_vec())
}

/// A ConfigMap list at `rv` with these names, as one line of JSON.
pub fn cm_list(rv: &str, names: &[&str]) -> String {
    let items: Vec<String> = names.iter().map(|n| cm_json(n, rv)).collect();
    format!(
        r#"{{"kind":"ConfigMapList","apiVersion":"v1","metadata":{{"resourceVersion":"{rv}"}},"items":[{}]}}"#,
        items.join(",")
    )
}

/// A ConfigMap in namespace `default`, as one line of JSON.
pub fn cm_json(name: &str, rv: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"default","resourceVersion":"{rv}"}}}}"#
    )
}

/// A watch event line (with its newline) of a ConfigMap.
pub fn event(kind: &str, name: &str, rv: &str) -> String {
    format!(r#"{{"type":"{kind}","object":{}}}"#, cm_json(name, rv)) + "\n"
}
