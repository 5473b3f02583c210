//! JSON decoding that leaves no spare capacity in the vectors it builds.
//!
//! `serde_json::from_slice` cannot tell a `Vec` how many elements an array holds before
//! reading them, so every vector grows by doubling and keeps what it did not use: a
//! fixture pod decoded into k8s-openapi types asks for about 35 KB where a clone of it
//! (exact capacity everywhere) takes 29 KB, most of the gap being slots for a fourth
//! 3.3 KB `Volume` and a second 2.3 KB `Container` nobody will fill. An informer keeps
//! what it decodes for as long as the object lives, so that spare capacity is paid for
//! every cached object.
//!
//! [`from_slice_exact`] first scans the bytes once for the length of every array, in the
//! order their `[` appear (a scan of the structure only, a fraction of the cost of
//! decoding), then decodes with `serde_json` through a thin layer that hands each array's
//! length to the type being decoded as its size hint. serde's `Vec` (and every other
//! collection that reads hints) then allocates exactly once, at its final size. Strings
//! need nothing: serde_json already allocates them at their exact length.
//!
//! The lengths are only hints: the decoded value is always what `serde_json::from_slice`
//! gives. Whenever the layer cannot be sure that the next length belongs to the array in
//! hand (a value was consumed without being visited, or an array held a different number
//! of elements than was scanned), it stops hinting for the rest of the input, and
//! decoding goes on as plain serde_json.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::Deserialize;

/// Decodes `json` as `T` like `serde_json::from_slice`, giving every array's length to
/// `T`'s collections as their size hint, so that vectors are allocated once at their
/// final size and keep no spare capacity.
///
/// The informer's list and watch decoding use it for every object they cache; use it
/// for objects you keep yourself.
///
/// ```
/// use informer::client::from_slice_exact;
///
/// let rows: Vec<Vec<u32>> = from_slice_exact(br#"[[1, 2, 3], [4, 5, 6, 7, 8]]"#)?;
/// assert_eq!(rows, [vec![1, 2, 3], vec![4, 5, 6, 7, 8]]);
/// assert_eq!(rows[1].capacity(), 5); // serde_json::from_slice leaves a capacity of 8
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// # Errors
///
/// What `serde_json::from_slice` would return for the same input.
pub fn from_slice_exact<'de, T: Deserialize<'de>>(json: &'de [u8]) -> serde_json::Result<T> {
    let hints = Hints::new(array_lengths(json));
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = T::deserialize(Hinted {
        de: &mut de,
        hints: &hints,
    })?;
    de.end()?;
    Ok(value)
}

/// The element counts of the arrays in `json`, in the order of their opening `[`.
///
/// A scan of the structure: strings are skipped, and nothing is validated (malformed
/// input gives meaningless counts, and serde_json then reports the error). An array
/// left open counts the elements seen so far.
fn array_lengths(json: &[u8]) -> Vec<u32> {
    /// A container being scanned: for an array, where its count goes in `lengths`,
    /// its commas so far and whether anything has appeared in it.
    struct Open {
        slot: Option<usize>,
        commas: u32,
        filled: bool,
    }
    let mut lengths = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut i = 0;
    while let Some(&b) = json.get(i) {
        i += 1;
        match b {
            b' ' | b'\n' | b'\r' | b'\t' | b':' => continue,
            b',' => {
                if let Some(top) = open.last_mut() {
                    top.commas = top.commas.saturating_add(1);
                }
                continue;
            }
            b']' | b'}' => {
                if let Some(closed) = open.pop() {
                    if let Some(slot) = closed.slot {
                        lengths[slot] = closed.commas.saturating_add(u32::from(closed.filled));
                    }
                }
                continue;
            }
            _ => {}
        }
        // Any other byte begins a value inside the innermost container.
        if let Some(top) = open.last_mut() {
            top.filled = true;
        }
        match b {
            b'"' => i = string_end(json, i),
            b'[' => {
                open.push(Open {
                    slot: Some(lengths.len()),
                    commas: 0,
                    filled: false,
                });
                lengths.push(0);
            }
            b'{' => open.push(Open {
                slot: None,
                commas: 0,
                filled: false,
            }),
            _ => {}
        }
    }
    // Arrays left open (truncated input) keep what was counted.
    for closed in open {
        if let Some(slot) = closed.slot {
            lengths[slot] = closed.commas.saturating_add(u32::from(closed.filled));
        }
    }
    lengths
}

/// The number of arrays in `json`: its `[` outside strings.
fn count_arrays(json: &[u8]) -> usize {
    let mut count = 0;
    let mut i = 0;
    while let Some(at) = json
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'"', b'[', rest))
    {
        i += at + 1;
        if json[i - 1] == b'[' {
            count += 1;
        } else {
            i = string_end(json, i);
        }
    }
    count
}

/// The index just past the closing quote of the string whose contents begin at `from`
/// (the end of `json` if it is not closed).
fn string_end(json: &[u8], mut from: usize) -> usize {
    loop {
        let Some(rest) = json.get(from..) else {
            return json.len();
        };
        match memchr::memchr2(b'"', b'\\', rest) {
            None => return json.len(),
            Some(at) if rest[at] == b'"' => return from + at + 1,
            // A backslash escapes the byte after it.
            Some(at) => from += at + 2,
        }
    }
}

/// The scanned lengths and how far decoding has used them.
struct Hints {
    lengths: Vec<u32>,
    next: Cell<usize>,
    /// False once a length may not belong to the array it would be given to.
    trusted: Cell<bool>,
    /// Inside a `serde_json::value::RawValue`: its text arrives as a string, and the
    /// arrays in it are skipped.
    in_raw: Cell<u32>,
}

impl Hints {
    fn new(lengths: Vec<u32>) -> Self {
        Hints {
            lengths,
            next: Cell::new(0),
            trusted: Cell::new(true),
            in_raw: Cell::new(0),
        }
    }

    /// The length of the array being entered, if it can be trusted.
    fn take(&self) -> Option<usize> {
        let i = self.next.get();
        self.next.set(i + 1);
        match self.lengths.get(i) {
            Some(&n) if self.trusted.get() => Some(n as usize),
            Some(_) => None,
            None => {
                self.trusted.set(false);
                None
            }
        }
    }

    /// Steps over the arrays of a piece of JSON that was consumed without being visited.
    fn skip_arrays_in(&self, json: &str) {
        self.next
            .set(self.next.get() + count_arrays(json.as_bytes()));
    }

    fn distrust(&self) {
        self.trusted.set(false);
    }
}

/// serde_json's name for the newtype through which it hands over raw JSON text.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// A deserializer that passes every call to `de`, wrapping what it hands back so that
/// arrays found anywhere below receive their lengths.
struct Hinted<'h, D> {
    de: D,
    hints: &'h Hints,
}

/// Wraps a visitor, a seed or an access in the hinting layer.
macro_rules! hinted {
    ($inner:expr, $hints:expr) => {
        Hinted {
            de: $inner,
            hints: $hints,
        }
    };
}

macro_rules! forward_deserialize {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.de.$method(hinted!(visitor, self.hints))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Hinted<'_, D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
    );

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // serde_json would skip the value without visiting it, arrays and all; visiting
        // it keeps the count of arrays in step.
        self.de.deserialize_any(hinted!(visitor, self.hints))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_unit_struct(name, hinted!(visitor, self.hints))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        if name != RAW_VALUE_TOKEN {
            return self
                .de
                .deserialize_newtype_struct(name, hinted!(visitor, self.hints));
        }
        let hints = self.hints;
        hints.in_raw.set(hints.in_raw.get() + 1);
        let value = self
            .de
            .deserialize_newtype_struct(name, hinted!(visitor, hints));
        hints.in_raw.set(hints.in_raw.get() - 1);
        value
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_tuple(len, hinted!(visitor, self.hints))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_tuple_struct(name, len, hinted!(visitor, self.hints))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_struct(name, fields, hinted!(visitor, self.hints))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de
            .deserialize_enum(name, variants, hinted!(visitor, self.hints))
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<E: serde::de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.de.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Hinted<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.de.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<V::Value, E> {
        if self.hints.in_raw.get() > 0 {
            self.hints.skip_arrays_in(v);
        }
        self.de.visit_str(v)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        if self.hints.in_raw.get() > 0 {
            self.hints.skip_arrays_in(v);
        }
        self.de.visit_borrowed_str(v)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.de.visit_none()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.de.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.de.visit_some(hinted!(d, self.hints))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.de.visit_newtype_struct(hinted!(d, self.hints))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let length = self.hints.take();
        self.de.visit_seq(HintedSeq {
            seq,
            hints: self.hints,
            length,
            seen: 0,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.de.visit_map(hinted!(map, self.hints))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.de.visit_enum(hinted!(data, self.hints))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Hinted<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.de.deserialize(hinted!(d, self.hints))
    }
}

/// An array's elements, with the array's scanned length as the size hint.
struct HintedSeq<'h, A> {
    seq: A,
    hints: &'h Hints,
    length: Option<usize>,
    seen: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for HintedSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let element = self.seq.next_element_seed(hinted!(seed, self.hints))?;
        match element {
            Some(_) => self.seen += 1,
            // The scan and the decoding disagree: later lengths may be out of step.
            None if self.length.is_some_and(|n| n != self.seen) => self.hints.distrust(),
            None => {}
        }
        Ok(element)
    }

    fn size_hint(&self) -> Option<usize> {
        match self.length {
            Some(n) => Some(n.saturating_sub(self.seen)),
            None => self.seq.size_hint(),
        }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Hinted<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.de.next_key_seed(hinted!(seed, self.hints))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.de.next_value_seed(hinted!(seed, self.hints))
    }

    fn size_hint(&self) -> Option<usize> {
        self.de.size_hint()
    }
}

impl<'de, 'h, A: EnumAccess<'de>> EnumAccess<'de> for Hinted<'h, A> {
    type Error = A::Error;
    type Variant = Hinted<'h, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.de.variant_seed(hinted!(seed, self.hints))?;
        Ok((value, hinted!(variant, self.hints)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Hinted<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.de.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.de.newtype_variant_seed(hinted!(seed, self.hints))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.de.tuple_variant(len, hinted!(visitor, self.hints))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.de.struct_variant(fields, hinted!(visitor, self.hints))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;
    use std::collections::BTreeMap;

    /// The lengths of the arrays of `v` in document order, from the decoded tree.
    fn lengths_of(v: &Value, out: &mut Vec<u32>) {
        match v {
            Value::Array(items) => {
                out.push(items.len() as u32);
                items.iter().for_each(|item| lengths_of(item, out));
            }
            Value::Object(map) => map.values().for_each(|item| lengths_of(item, out)),
            _ => {}
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            // Strings with brackets, quotes, backslashes and commas in them.
            "[\\[\\]{},:\"\\\\a é\n]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\\[\\]\"]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Any JSON, through serde's buffering of untagged enums.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(untagged)]
    enum Tree {
        Leaf(Option<String>),
        Number(f64),
        Flag(bool),
        List(Vec<Tree>),
        Map(BTreeMap<String, Tree>),
    }

    #[derive(Debug, Deserialize)]
    struct Rows {
        rows: Vec<Vec<u32>>,
        #[serde(default)]
        tail: Vec<String>,
    }

    fn tight(rows: &Rows) -> bool {
        rows.rows.capacity() == rows.rows.len()
            && rows.rows.iter().all(|r| r.capacity() == r.len())
            && rows.tail.capacity() == rows.tail.len()
    }

    #[test]
    fn vectors_get_exact_capacity() {
        let json = br#"{"rows": [[1], [1, 2, 3], [], [4, 5, 6, 7, 8]], "tail": ["a", "b", "c"]}"#;
        let rows: Rows = from_slice_exact(json).unwrap();
        assert!(
            tight(&rows),
            "{:?}",
            rows.rows.iter().map(Vec::capacity).collect::<Vec<_>>()
        );
        assert_eq!(rows.rows[3], [4, 5, 6, 7, 8]);
        // The reason for all this: plain serde_json leaves spare room.
        let plain: Rows = serde_json::from_slice(json).unwrap();
        assert!(!tight(&plain));
    }

    #[test]
    fn ignored_fields_keep_the_lengths_in_step() {
        // The unknown field holds arrays; the vectors after it must still fit exactly.
        let json = br#"{"unknown": {"a": [[1, 2], [3]], "b": "[not, an, array]"},
                        "rows": [[1, 2, 3]], "tail": ["x", "y", "z"]}"#;
        let rows: Rows = from_slice_exact(json).unwrap();
        assert!(tight(&rows));
    }

    #[test]
    fn raw_values_keep_the_lengths_in_step() {
        #[derive(Deserialize)]
        struct WithRaw {
            raw: Box<serde_json::value::RawValue>,
            borrowed: Vec<Vec<u32>>,
            #[serde(flatten)]
            rows: Rows,
        }
        let json = br#"{"raw": [[1, "]"], [2, 3], {"x": [4]}], "borrowed": [[1, 2, 3]],
                        "rows": [[1, 2, 3, 4, 5]], "tail": ["a", "b", "c"]}"#;
        let decoded: WithRaw = from_slice_exact(json).unwrap();
        assert_eq!(decoded.raw.get(), r#"[[1, "]"], [2, 3], {"x": [4]}]"#);
        assert_eq!(decoded.borrowed[0].capacity(), 3);
        assert_eq!(decoded.rows.rows[0], [1, 2, 3, 4, 5]);
        assert!(tight(&decoded.rows));
    }

    #[test]
    fn errors_are_serde_jsons() {
        for bad in [
            &b"[1, 2"[..],
            b"[1, 2]]",
            b"{\"rows\": [[1, x]]}",
            b"",
            b"[\"\\",
        ] {
            let ours = from_slice_exact::<Value>(bad).unwrap_err();
            let theirs = serde_json::from_slice::<Value>(bad).unwrap_err();
            assert_eq!(ours.to_string(), theirs.to_string());
        }
    }

    #[test]
    fn a_wrong_length_stops_the_hints() {
        let hints = Hints::new(vec![1, 5]);
        let mut de = serde_json::Deserializer::from_slice(b"[[1, 2], [3, 4, 5, 6, 7]]");
        let rows: Vec<Vec<u32>> = Deserialize::deserialize(Hinted {
            de: &mut de,
            hints: &hints,
        })
        .unwrap();
        assert_eq!(rows, [vec![1, 2], vec![3, 4, 5, 6, 7]]);
        assert!(!hints.trusted.get());
    }

    #[test]
    fn the_fixture_pod_decodes_as_serde_json_does_and_stays_in_step() {
        let json = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/pod.json"
        ))
        .unwrap();
        let hints = Hints::new(array_lengths(&json));
        let mut de = serde_json::Deserializer::from_slice(&json);
        let ours = Value::deserialize(Hinted {
            de: &mut de,
            hints: &hints,
        })
        .unwrap();
        assert_eq!(ours, serde_json::from_slice::<Value>(&json).unwrap());
        assert!(hints.trusted.get());
        assert_eq!(hints.next.get(), hints.lengths.len());
    }

    #[cfg(feature = "k8s-openapi")]
    #[test]
    fn a_typed_pod_keeps_no_spare_capacity() {
        use k8s_openapi::api::core::v1::Pod;
        let json = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/pod.json"
        ))
        .unwrap();
        let pod: Pod = from_slice_exact(&json).unwrap();
        assert_eq!(pod, serde_json::from_slice::<Pod>(&json).unwrap());
        let spec = pod.spec.as_ref().unwrap();
        let status = pod.status.as_ref().unwrap();
        let fits = |cap: usize, len: usize| cap == len && len > 0;
        assert!(fits(spec.containers.capacity(), spec.containers.len()));
        let volumes = spec.volumes.as_ref().unwrap();
        assert!(fits(volumes.capacity(), volumes.len()));
        for c in &spec.containers {
            if let Some(mounts) = &c.volume_mounts {
                assert!(fits(mounts.capacity(), mounts.len()));
            }
        }
        let conditions = status.conditions.as_ref().unwrap();
        assert!(fits(conditions.capacity(), conditions.len()));
        let managed = pod.metadata.managed_fields.as_ref().unwrap();
        assert!(fits(managed.capacity(), managed.len()));
    }

    proptest! {
        #[test]
        fn scanned_lengths_are_the_decoded_ones(v in json_value(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_vec_pretty(&v).unwrap()
            } else {
                serde_json::to_vec(&v).unwrap()
            };
            let mut expected = Vec::new();
            lengths_of(&v, &mut expected);
            prop_assert_eq!(array_lengths(&text), expected.clone());
            prop_assert_eq!(count_arrays(&text), expected.len());
        }

        #[test]
        fn decoding_is_serde_jsons(v in json_value()) {
            let text = serde_json::to_vec(&v).unwrap();
            let ours: Tree = from_slice_exact(&text).unwrap();
            let theirs: Tree = serde_json::from_slice(&text).unwrap();
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(from_slice_exact::<Value>(&text).unwrap(), v);
        }

        #[test]
        fn any_bytes_give_serde_jsons_answer(bytes in prop::collection::vec(
            prop::sample::select(b"[]{},:\"\\ 1a".to_vec()), 0..40)) {
            let ours = from_slice_exact::<Value>(&bytes).map_err(|e| e.to_string());
            let theirs = serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string());
            prop_assert_eq!(ours, theirs);
        }
    }
}
