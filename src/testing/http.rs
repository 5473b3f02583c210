//! Response plumbing: the body type every handler returns, JSON and `Status` responses,
//! and the channel-fed body that carries a watch stream.
//!
//! A watch task writes whole lines (one or more events) into a bounded channel; hyper
//! polls [`ChannelBody`] and writes each message as one chunk of the chunked response.
//! When the client goes away hyper drops the body, the channel closes and the watch task
//! ends.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as HttpBody, Frame};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use crate::meta::Status;

/// The body of every response.
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A complete body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON response with this HTTP code.
pub(crate) fn json(code: u16, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A JSON response of a serialisable value.
pub(crate) fn json_value(code: u16, value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => json(code, bytes),
        Err(e) => status(&super::errors::internal(e.to_string())),
    }
}

/// A `Status` response; the HTTP code is the status' code.
pub(crate) fn status(status: &Status) -> Response<Body> {
    let mut resp = json_value(status.code, status);
    if let Some(secs) = status.retry_after_seconds() {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert("Retry-After", v);
        }
    }
    resp
}

/// A body fed by a channel of chunks, for watch streams.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    /// A body that yields what is sent on the other end of `rx`, and ends when it closes.
    pub(crate) fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        ChannelBody { rx }
    }
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// A streaming JSON response fed by `rx`.
pub(crate) fn stream(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut resp = Response::new(ChannelBody::new(rx).boxed());
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
