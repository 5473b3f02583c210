//! Watch decoding of a recorded stream cut at every byte boundary, in one-byte chunks,
//! and in random chunkings: every cut decodes to the same events; malformed lines, size
//! caps, blank lines, a missing final newline and broken connections behave as
//! documented.

use std::path::Path;

use bytes::Bytes;
use futures::executor::block_on;
use futures::StreamExt;
use informer::client::watch_stream::decode_watch;
use informer::client::{BoxError, Error};
use informer::meta::{DynamicObject, Status, WatchEvent};

fn recorded() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/watch_stream.jsonl"))
        .unwrap()
}

#[derive(Debug, PartialEq)]
enum Item {
    Event(WatchEvent<DynamicObject>),
    Api(Status),
    Other(String),
}

fn decode(chunks: Vec<Bytes>, max: usize) -> Vec<Item> {
    let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, BoxError>));
    block_on(
        decode_watch::<DynamicObject, _, _>(body, max, "test".into())
            .map(|r| match r {
                Ok(ev) => Item::Event(ev),
                Err(Error::Api(s)) => Item::Api(*s),
                Err(e) => Item::Other(e.to_string()),
            })
            .collect(),
    )
}

fn expected() -> Vec<Item> {
    let text = String::from_utf8(recorded()).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        match serde_json::from_str::<WatchEvent<DynamicObject>>(line).unwrap() {
            WatchEvent::Error(s) => out.push(Item::Api(s)),
            ev => out.push(Item::Event(ev)),
        }
    }
    out
}

#[test]
fn the_recording_has_every_kind_of_event() {
    let e = expected();
    assert_eq!(e.len(), 5);
    assert!(matches!(e[0], Item::Event(WatchEvent::Added(_))));
    assert!(matches!(e[1], Item::Event(WatchEvent::Modified(_))));
    assert!(matches!(&e[2], Item::Event(WatchEvent::Bookmark(b)) if b.is_initial_events_end()));
    assert!(matches!(e[3], Item::Event(WatchEvent::Deleted(_))));
    assert!(matches!(&e[4], Item::Api(s) if s.code == 410 && s.reason == "Expired"));
    assert_eq!(decode(vec![Bytes::from(recorded())], 1 << 20), e);
}

#[test]
fn cut_at_every_byte_boundary() {
    let data = Bytes::from(recorded());
    let want = expected();
    for i in 0..=data.len() {
        let got = decode(vec![data.slice(..i), data.slice(i..)], 1 << 20);
        assert_eq!(got, want, "cut at byte {i}");
    }
}

#[test]
fn one_byte_chunks_and_random_chunkings() {
    let data = Bytes::from(recorded());
    let want = expected();
    let ones: Vec<Bytes> = (0..data.len()).map(|i| data.slice(i..i + 1)).collect();
    assert_eq!(decode(ones, 1 << 20), want);
    // A deterministic pseudo-random sequence of cut points.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..200 {
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < data.len() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = 1 + (x % 3000) as usize;
            let end = (at + n).min(data.len());
            chunks.push(data.slice(at..end));
            at = end;
        }
        assert_eq!(decode(chunks, 1 << 20), want);
    }
}

#[test]
fn several_mebibyte_objects_decode() {
    let blob = "y".repeat(5 << 20);
    let line = format!(
        "{{\"type\":\"ADDED\",\"object\":{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"big\"}},\"data\":{{\"b\":\"{blob}\"}}}}}}\n"
    );
    let data = Bytes::from(line);
    let chunks: Vec<Bytes> = data.chunks(16 * 1024).map(Bytes::copy_from_slice).collect();
    let got = decode(chunks, 64 << 20);
    match &got[..] {
        [Item::Event(WatchEvent::Added(o))] => {
            assert_eq!(o.data["data"]["b"].as_str().map(str::len), Some(5 << 20))
        }
        other => panic!("{:?}", other.len()),
    }
    // The same over a 1 MiB cap: an error, not an allocation of the whole line.
    let chunks: Vec<Bytes> = data.chunks(16 * 1024).map(Bytes::copy_from_slice).collect();
    let got = decode(chunks, 1 << 20);
    assert!(
        matches!(&got[..], [Item::Other(m)] if m.contains("exceeded")),
        "{got:?}"
    );
}

#[test]
fn malformed_line_ends_the_stream_after_the_good_ones() {
    let text = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n{not json\n{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}\n";
    let got = decode(vec![Bytes::from(text)], 1 << 20);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(got[0], Item::Event(WatchEvent::Added(_))));
    assert!(matches!(&got[1], Item::Other(m) if m.contains("malformed watch event")));
    // An unknown event type is malformed too.
    let got = decode(
        vec![Bytes::from("{\"type\":\"WAT\",\"object\":{}}\n")],
        1 << 20,
    );
    assert!(matches!(&got[..], [Item::Other(_)]), "{got:?}");
}

#[test]
fn blank_lines_and_missing_final_newline() {
    let text = "\n\r\n{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n\n{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}";
    let got = decode(vec![Bytes::from(text)], 1 << 20);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(got[1], Item::Event(WatchEvent::Deleted(_))));
    // A clean close with nothing: no items.
    assert!(decode(vec![], 1 << 20).is_empty());
    // A truncated last line is an error.
    let got = decode(vec![Bytes::from("{\"type\":\"ADDED\",\"obj")], 1 << 20);
    assert!(matches!(&got[..], [Item::Other(_)]), "{got:?}");
}

#[test]
fn broken_connection_is_an_error_after_the_complete_events() {
    let good =
        Bytes::from("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n{\"type\":");
    let body = futures::stream::iter(vec![
        Ok(good),
        Err::<Bytes, BoxError>("connection reset".into()),
    ]);
    let got: Vec<_> =
        block_on(decode_watch::<DynamicObject, _, _>(body, 1 << 20, "w".into()).collect());
    assert_eq!(got.len(), 2);
    assert!(got[0].is_ok());
    let err = got[1].as_ref().unwrap_err();
    assert!(
        err.is_transport() && err.to_string().contains("connection reset"),
        "{err}"
    );
}
