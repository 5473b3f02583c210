//! A plain hyper client for the embedded server (not this crate's client), and a reader
//! of watch streams as newline-delimited JSON.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use informer::testing::ApiServer;
use serde_json::Value;

/// Requests to one server.
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    /// The bearer token sent with every request (the server's, if it wants one).
    pub token: Option<String>,
    /// The `User-Agent` sent with every request, if any.
    pub user_agent: Option<String>,
}

impl Http {
    /// A client for `server`.
    pub fn new(server: &ApiServer) -> Http {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: server.url().to_owned(),
            token: server.token().map(str::to_owned),
            user_agent: None,
        }
    }

    /// A request to `path` with the token, if any.
    fn request(&self, method: Method, path: &str) -> hyper::http::request::Builder {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(ua) = &self.user_agent {
            req = req.header("user-agent", ua.as_str());
        }
        match &self.token {
            Some(t) => req.header("authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    /// Sends a request with a body of this content type.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> Response<Incoming> {
        let req = self
            .request(method, path)
            .header("content-type", content_type);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.client
            .request(req.body(Full::new(Bytes::from(body))).expect("request"))
            .await
            .expect("response")
    }

    /// Sends a raw body with these `Content-Type` and `Accept` headers; the answer's
    /// code, `Content-Type` and body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        accept: &str,
        body: &str,
    ) -> (u16, String, String) {
        let req = self
            .request(method, path)
            .header("content-type", content_type)
            .header("accept", accept);
        let resp = self
            .client
            .request(
                req.body(Full::new(Bytes::from(body.to_owned())))
                    .expect("request"),
            )
            .await
            .expect("response");
        let code = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (code, ct, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Sends a body-less request with this `Accept` header.
    pub async fn send_accept(
        &self,
        method: Method,
        path: &str,
        accept: &str,
    ) -> Response<Incoming> {
        let req = self.request(method, path).header("accept", accept);
        self.client
            .request(req.body(Full::new(Bytes::new())).expect("request"))
            .await
            .expect("response")
    }

    /// Sends a request with a JSON body; the answer's code and JSON (`null` if none).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(method, path, "application/json", body).await
    }

    /// Sends a request with a body of this content type; the answer's code and JSON.
    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let resp = self.send(method, path, content_type, body).await;
        let code = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (code, value)
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    /// Opens a watch, which must answer `200`.
    pub async fn watch(&self, path: &str) -> Lines {
        let resp = self.send(Method::GET, path, "application/json", None).await;
        assert_eq!(resp.status().as_u16(), 200, "watch {path}");
        Lines {
            body: resp.into_body(),
            buf: Vec::new(),
        }
    }
}

/// Newline-delimited JSON from a streaming body.
pub struct Lines {
    body: Incoming,
    buf: Vec<u8>,
}

impl Lines {
    /// The lines of a streaming answer.
    pub fn new(resp: Response<Incoming>) -> Lines {
        Lines {
            body: resp.into_body(),
            buf: Vec::new(),
        }
    }

    /// The next line, or `None` at the end of the stream. Panics after 10 s.
    pub async fn next_raw(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("no watch line within 10 s");
            match frame {
                None | Some(Err(_)) => return None,
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The next event, or `None` at the end of the stream. Panics after 10 s.
    pub async fn next(&mut self) -> Option<Value> {
        let line = self.next_raw().await?;
        Some(serde_json::from_str(&line).expect("a JSON line"))
    }

    /// The next event's type and object; panics at the end of the stream.
    pub async fn expect(&mut self) -> (String, Value) {
        let e = self.next().await.expect("another event");
        (
            e["type"].as_str().unwrap_or_default().to_owned(),
            e["object"].clone(),
        )
    }

    /// Whether nothing arrives within `d`.
    pub async fn silent_for(&mut self, d: Duration) -> bool {
        if self.buf.contains(&b'\n') {
            return false;
        }
        tokio::time::timeout(d, self.body.frame()).await.is_err()
    }
}
