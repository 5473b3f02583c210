//! Response plumbing: the body type every handler returns, JSON and `Status` responses,
//! and the channel-fed body that carries a watch stream.
//!
//! A watch task sends batches of whole lines (one event each) into a bounded channel;
//! hyper polls [`ChannelBody`], which hands out each batch as one chunk of the chunked
//! response. A chunk is a [`Pieces`]: the lines stay the buffers they are (shared with
//! the storage and with other watches) and hyper writes them with one vectored write, so
//! they are never copied together. One chunk per batch rather than per line also spares
//! clients a chunk header and a body frame per event. When the client goes away hyper
//! drops the body, the channel closes and the watch task ends.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as HttpBody, Frame};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use crate::meta::Status;

/// The body of every response.
pub(crate) type Body = http_body_util::combinators::BoxBody<Pieces, Infallible>;

/// Bytes sent as one piece of a response body (one chunk of a chunked one), held as the
/// buffers they came in.
#[derive(Debug, Default)]
pub(crate) struct Pieces {
    /// Never holds an empty buffer.
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl From<Bytes> for Pieces {
    fn from(bytes: Bytes) -> Pieces {
        Pieces::from(vec![bytes])
    }
}

impl From<Vec<Bytes>> for Pieces {
    fn from(parts: Vec<Bytes>) -> Pieces {
        let parts: VecDeque<Bytes> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let remaining = parts.iter().map(Bytes::len).sum();
        Pieces { parts, remaining }
    }
}

impl Buf for Pieces {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |p| p.as_ref())
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of the pieces");
        self.remaining -= cnt;
        while let Some(front) = self.parts.front_mut() {
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }
}

/// A complete body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(Pieces::from(bytes.into())).boxed()
}

/// A JSON response with this HTTP code.
pub(crate) fn json(code: u16, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A response with this HTTP code, body and `Content-Type`.
pub(crate) fn typed(
    code: u16,
    bytes: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Body> {
    let mut resp = json(code, bytes);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
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

/// A body fed by a channel of batches of buffers, for watch streams.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Vec<Bytes>>,
}

impl ChannelBody {
    /// A body that yields each batch sent on the other end of `rx` as one chunk, and ends
    /// when it closes.
    pub(crate) fn new(rx: mpsc::Receiver<Vec<Bytes>>) -> Self {
        ChannelBody { rx }
    }
}

impl HttpBody for ChannelBody {
    type Data = Pieces;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Pieces>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|batch| batch.map(|b| Ok(Frame::data(Pieces::from(b)))))
    }
}

/// A streaming JSON response fed by `rx`.
pub(crate) fn stream(rx: mpsc::Receiver<Vec<Bytes>>) -> Response<Body> {
    let mut resp = Response::new(ChannelBody::new(rx).boxed());
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_read_as_one_buffer() {
        let parts = vec![
            Bytes::from_static(b"abc"),
            Bytes::new(),
            Bytes::from_static(b"de"),
            Bytes::from_static(b"fghi"),
        ];
        let mut p = Pieces::from(parts);
        assert_eq!(p.remaining(), 9);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(
            p.chunks_vectored(&mut slices),
            3,
            "empty buffers are dropped"
        );
        let mut two = [IoSlice::new(&[]); 2];
        assert_eq!(p.chunks_vectored(&mut two), 2);
        assert_eq!(&*two[1], b"de");
        p.advance(4);
        assert_eq!(p.chunk(), b"e");
        p.advance(1);
        assert_eq!(p.chunk(), b"fghi");
        assert_eq!(p.copy_to_bytes(4), Bytes::from_static(b"fghi"));
        assert_eq!((p.remaining(), p.chunk()), (0, &b""[..]));
        let whole = Pieces::from(vec![Bytes::from_static(b"xy"), Bytes::from_static(b"z")]);
        assert_eq!(whole.chunk(), b"xy");
        let mut flat = Vec::new();
        flat.extend_from_slice(&Pieces::from(Bytes::from_static(b"one")).copy_to_bytes(3));
        assert_eq!(flat, b"one");
    }
}
