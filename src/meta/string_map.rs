//! `StringMap`, the compact sorted map of strings that holds labels and annotations, and
//! `StringMapRef`, the borrowed view through which the rest of the crate reads either it
//! or a `BTreeMap<String, String>` (k8s-openapi's metadata).
//!
//! How data passes through it: decoding reads a JSON object's entries, sorts them by key
//! (a repeated key keeps its last value, as a `BTreeMap` would), and copies every key
//! and value into one string, with the end offset of each kept beside it. Lookups binary
//! search the keys; iteration yields them in order. A change (`insert`, `remove`)
//! rebuilds the two buffers: metadata maps are small and are read far more often than
//! they are written.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Index;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A map from string keys to string values, sorted by key and held in two allocations:
/// what [`ObjectMeta`](super::ObjectMeta) keeps its labels and annotations in.
///
/// A `BTreeMap<String, String>` spends a node of eleven slots (over 500 bytes) on even
/// one entry, and an allocation per key and value; this map holds the fixture pod's four
/// labels in about 100 bytes. It reads like a `BTreeMap` (`get`, `contains_key`, `iter`
/// in key order, `map["key"]`), converts from and into one, and serialises as a JSON
/// object. Each change rebuilds the map, so build a large map with `collect` or `from`
/// rather than with repeated `insert`s.
///
/// The keys and values together must stay under 4 GiB: decoding a larger map is an
/// error, and building one in the program panics.
///
/// ```
/// use informer::meta::StringMap;
///
/// let mut labels = StringMap::from([("tier", "web"), ("app", "shop")]);
/// assert_eq!(labels.get("app"), Some("shop"));
/// assert_eq!(&labels["tier"], "web");
/// assert_eq!(labels.insert("tier", "db").as_deref(), Some("web"));
/// let keys: Vec<&str> = labels.keys().collect();
/// assert_eq!(keys, ["app", "tier"]);
/// assert_eq!(serde_json::to_string(&labels)?, r#"{"app":"shop","tier":"db"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct StringMap {
    /// Every key followed by its value, entry after entry, in key order.
    text: Box<str>,
    /// The end offset in `text` of each key and each value: two per entry.
    ends: Box<[u32]>,
}

impl StringMap {
    /// An empty map; allocates nothing.
    pub fn new() -> Self {
        StringMap::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).ok().map(|i| self.entry(i).1)
    }

    /// Whether the map has an entry for `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// The entries, in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(IterRepr::Compact {
            map: self,
            next: 0,
            end: self.len(),
        })
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.iter().map(|(k, _)| k)
    }

    /// The values, in the order of their keys.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.iter().map(|(_, v)| v)
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let (key, value) = (key.into(), value.into());
        let (replaced, at) = match self.position(&key) {
            Ok(i) => (Some(self.entry(i).1.to_owned()), i),
            Err(i) => (None, i),
        };
        let skip = usize::from(replaced.is_some());
        let entries: Vec<(&str, &str)> = self
            .iter()
            .take(at)
            .chain(std::iter::once((key.as_str(), value.as_str())))
            .chain(self.iter().skip(at + skip))
            .collect();
        *self = StringMap::from_sorted(&entries).expect(TOO_LARGE);
        replaced
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let at = self.position(key).ok()?;
        let value = self.entry(at).1.to_owned();
        let entries: Vec<(&str, &str)> = self
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, e)| e)
            .collect();
        *self = StringMap::from_sorted(&entries).expect(TOO_LARGE);
        Some(value)
    }

    /// A borrowed view, the form [`MetaAccessor`](super::MetaAccessor) hands out.
    pub fn view(&self) -> StringMapRef<'_> {
        StringMapRef(RefRepr::Compact(self))
    }

    /// Entry `i`: its key and value.
    fn entry(&self, i: usize) -> (&str, &str) {
        let start = if i == 0 {
            0
        } else {
            self.ends[2 * i - 1] as usize
        };
        let key_end = self.ends[2 * i] as usize;
        let value_end = self.ends[2 * i + 1] as usize;
        (&self.text[start..key_end], &self.text[key_end..value_end])
    }

    /// Where `key` is (`Ok`) or would be inserted (`Err`).
    fn position(&self, key: &str) -> Result<usize, usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.entry(mid).0.cmp(key) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(low)
    }

    /// Builds the map from entries sorted by key with no key repeated; `None` when the
    /// text would not fit the `u32` offsets.
    fn from_sorted<K: AsRef<str>, V: AsRef<str>>(entries: &[(K, V)]) -> Option<StringMap> {
        let total: usize = entries
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len())
            .sum();
        u32::try_from(total).ok()?;
        let mut text = String::with_capacity(total);
        let mut ends = Vec::with_capacity(2 * entries.len());
        for (k, v) in entries {
            for part in [k.as_ref(), v.as_ref()] {
                text.push_str(part);
                // Cannot truncate: `text` is at most `total` bytes, checked above.
                ends.push(text.len() as u32);
            }
        }
        Some(StringMap {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        })
    }

    /// Builds the map from entries in any order; a repeated key keeps its last value.
    fn from_unsorted<K: AsRef<str>, V: AsRef<str>>(mut entries: Vec<(K, V)>) -> Option<Self> {
        // A stable sort keeps repeated keys in input order; keep the last of each run.
        entries.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut unique: Vec<(K, V)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match unique.last_mut() {
                Some(last) if last.0.as_ref() == entry.0.as_ref() => *last = entry,
                _ => unique.push(entry),
            }
        }
        StringMap::from_sorted(&unique)
    }
}

const TOO_LARGE: &str = "a StringMap's keys and values exceed 4 GiB";

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for StringMap {
    /// Collects entries in any order; a repeated key keeps its last value.
    ///
    /// # Panics
    /// If the keys and values together exceed 4 GiB.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        StringMap::from_unsorted(iter.into_iter().collect()).expect(TOO_LARGE)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for StringMap {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for StringMap {
    fn from(map: BTreeMap<String, String>) -> Self {
        StringMap::from(&map)
    }
}

impl From<&BTreeMap<String, String>> for StringMap {
    fn from(map: &BTreeMap<String, String>) -> Self {
        let entries: Vec<(&String, &String)> = map.iter().collect();
        StringMap::from_sorted(&entries).expect(TOO_LARGE)
    }
}

impl From<StringMap> for BTreeMap<String, String> {
    fn from(map: StringMap) -> Self {
        map.view().to_btree_map()
    }
}

impl<'a> IntoIterator for &'a StringMap {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl Index<&str> for StringMap {
    type Output = str;

    /// The value of `key`.
    ///
    /// # Panics
    /// If the map has no entry for `key`.
    fn index(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("no entry for key {key:?} in the map"))
    }
}

impl fmt::Debug for StringMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq<BTreeMap<String, String>> for StringMap {
    fn eq(&self, other: &BTreeMap<String, String>) -> bool {
        self.view() == StringMapRef::from(other)
    }
}

impl Serialize for StringMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StringMapVisitor)
    }
}

struct StringMapVisitor;

impl<'de> Visitor<'de> for StringMapVisitor {
    type Value = StringMap;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of strings to strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StringMap, A::Error> {
        let mut entries: Vec<(Text<'de>, Text<'de>)> =
            Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
        while let Some(entry) = access.next_entry()? {
            entries.push(entry);
        }
        StringMap::from_unsorted(entries)
            .ok_or_else(|| de::Error::custom("the map's keys and values exceed 4 GiB"))
    }
}

/// A key or value while decoding: borrowed from the input where the deserializer can
/// (escaped text is copied), so that besides the map's two buffers only a temporary list
/// of entries is allocated.
struct Text<'de>(Cow<'de, str>);

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// A borrowed map of strings: labels or annotations as [`MetaAccessor`](super::MetaAccessor)
/// hands them out, over this crate's [`StringMap`] or a `BTreeMap<String, String>` (the
/// metadata of k8s-openapi types), read the same way.
///
/// ```
/// use std::collections::BTreeMap;
/// use informer::meta::{StringMap, StringMapRef};
///
/// let tree = BTreeMap::from([("app".to_string(), "web".to_string())]);
/// let compact = StringMap::from([("app", "web")]);
/// let (a, b) = (StringMapRef::from(&tree), compact.view());
/// assert_eq!(a.get("app"), Some("web"));
/// assert_eq!(a, b);
/// assert_eq!(b.to_btree_map(), tree);
/// ```
///
/// `get` returns text borrowed from the metadata, while `view["key"]` is borrowed from the
/// view, which in `obj.labels().unwrap()["key"]` is a temporary: use `get` for a value
/// kept beyond the expression.
#[derive(Clone, Copy)]
pub struct StringMapRef<'a>(RefRepr<'a>);

#[derive(Clone, Copy)]
enum RefRepr<'a> {
    Tree(&'a BTreeMap<String, String>),
    Compact(&'a StringMap),
}

impl<'a> StringMapRef<'a> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        match self.0 {
            RefRepr::Tree(m) => m.get(key).map(String::as_str),
            RefRepr::Compact(m) => m.get(key),
        }
    }

    /// Whether the map has an entry for `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match self.0 {
            RefRepr::Tree(m) => m.len(),
            RefRepr::Compact(m) => m.len(),
        }
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries, in key order.
    pub fn iter(&self) -> Iter<'a> {
        match self.0 {
            RefRepr::Tree(m) => Iter(IterRepr::Tree(m.iter())),
            RefRepr::Compact(m) => m.iter(),
        }
    }

    /// A copy as a `BTreeMap`.
    pub fn to_btree_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// A copy as a [`StringMap`].
    pub fn to_string_map(&self) -> StringMap {
        match self.0 {
            RefRepr::Tree(m) => StringMap::from(m),
            RefRepr::Compact(m) => m.clone(),
        }
    }
}

impl<'a> From<&'a BTreeMap<String, String>> for StringMapRef<'a> {
    fn from(map: &'a BTreeMap<String, String>) -> Self {
        StringMapRef(RefRepr::Tree(map))
    }
}

impl<'a> From<&'a StringMap> for StringMapRef<'a> {
    fn from(map: &'a StringMap) -> Self {
        map.view()
    }
}

impl<'a> IntoIterator for StringMapRef<'a> {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl Index<&str> for StringMapRef<'_> {
    type Output = str;

    /// The value of `key`.
    ///
    /// # Panics
    /// If the map has no entry for `key`.
    fn index(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("no entry for key {key:?} in the map"))
    }
}

impl PartialEq for StringMapRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for StringMapRef<'_> {}

impl fmt::Debug for StringMapRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The entries of a [`StringMap`] or [`StringMapRef`], in key order.
#[derive(Clone)]
pub struct Iter<'a>(IterRepr<'a>);

#[derive(Clone)]
enum IterRepr<'a> {
    Tree(std::collections::btree_map::Iter<'a, String, String>),
    Compact {
        map: &'a StringMap,
        next: usize,
        end: usize,
    },
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        match &mut self.0 {
            IterRepr::Tree(it) => it.next().map(|(k, v)| (k.as_str(), v.as_str())),
            IterRepr::Compact { map, next, end } => (*next < *end).then(|| {
                *next += 1;
                map.entry(*next - 1)
            }),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterRepr::Tree(it) => it.len(),
            IterRepr::Compact { next, end, .. } => end - next,
        };
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Tree(it) => it.next_back().map(|(k, v)| (k.as_str(), v.as_str())),
            IterRepr::Compact { map, next, end } => (*next < *end).then(|| {
                *end -= 1;
                map.entry(*end)
            }),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl std::iter::FusedIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_sorted_and_keeps_the_last_of_a_repeated_key() {
        let m: StringMap = serde_json::from_str(r#"{"b":"2","a":"1","b":"3","c":""}"#).unwrap();
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            [("a", "1"), ("b", "3"), ("c", "")]
        );
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"a":"1","b":"3","c":""}"#
        );
        let tree: BTreeMap<String, String> =
            serde_json::from_str(r#"{"b":"2","a":"1","b":"3","c":""}"#).unwrap();
        assert_eq!(m, tree);
    }

    #[test]
    fn escaped_and_non_ascii_text_round_trips() {
        let json = r#"{"k\"1":"v\n\u00e9","ünï":"☃"}"#;
        let m: StringMap = serde_json::from_str(json).unwrap();
        assert_eq!(m.get("k\"1"), Some("v\né"));
        assert_eq!(m["ünï"], *"☃");
        let from_value: StringMap =
            serde_json::from_value(serde_json::from_str(json).unwrap()).unwrap();
        assert_eq!(m, from_value);
    }

    #[test]
    fn refuses_what_is_not_a_map_of_strings() {
        assert!(serde_json::from_str::<StringMap>(r#"{"a":1}"#).is_err());
        assert!(serde_json::from_str::<StringMap>(r#"["a"]"#).is_err());
        assert!(serde_json::from_str::<StringMap>(r#"{"a":null}"#).is_err());
    }

    #[test]
    fn insert_and_remove_keep_the_order() {
        let mut m = StringMap::new();
        assert_eq!(m.insert("m", "1"), None);
        assert_eq!(m.insert("a", "2"), None);
        assert_eq!(m.insert("z", "3"), None);
        assert_eq!(m.insert("m", "4").as_deref(), Some("1"));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
        assert_eq!(m.values().rev().collect::<Vec<_>>(), ["3", "4", "2"]);
        assert_eq!(m.remove("a").as_deref(), Some("2"));
        assert_eq!(m.remove("a"), None);
        assert_eq!(m.remove("z").as_deref(), Some("3"));
        assert_eq!(m.remove("m").as_deref(), Some("4"));
        assert!(m.is_empty() && m == StringMap::new());
        assert_eq!(m.get(""), None);
    }

    #[test]
    fn views_of_either_map_agree() {
        let tree = BTreeMap::from([
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), String::new()),
        ]);
        let compact = StringMap::from(&tree);
        let (a, b) = (StringMapRef::from(&tree), compact.view());
        assert_eq!(a, b);
        assert_eq!((a.len(), b.len()), (2, 2));
        assert_eq!((a.get("tier"), b.get("tier")), (Some(""), Some("")));
        assert!(!a.contains_key("x") && !b.contains_key("x"));
        assert_eq!(b.to_btree_map(), tree);
        assert_eq!(a.to_string_map(), compact);
        assert_eq!(format!("{a:?}"), format!("{tree:?}"));
        assert_eq!(format!("{compact:?}"), format!("{tree:?}"));
        assert_ne!(a, StringMap::from([("app", "web")]).view());
    }

    proptest::proptest! {
        #[test]
        fn behaves_like_a_btree_map(
            entries in proptest::collection::vec(("[a-c]{0,3}", "\\PC{0,4}"), 0..12),
            removals in proptest::collection::vec("[a-c]{0,3}", 0..4),
        ) {
            let mut tree: BTreeMap<String, String> = BTreeMap::new();
            let mut map = StringMap::new();
            for (k, v) in &entries {
                proptest::prop_assert_eq!(map.insert(k.as_str(), v.as_str()), tree.insert(k.clone(), v.clone()));
            }
            proptest::prop_assert_eq!(&map, &entries.iter().cloned().collect::<StringMap>());
            for k in &removals {
                proptest::prop_assert_eq!(map.remove(k), tree.remove(k));
            }
            proptest::prop_assert_eq!(&map, &tree);
            for k in entries.iter().map(|(k, _)| k).chain(&removals) {
                proptest::prop_assert_eq!(map.get(k), tree.get(k).map(String::as_str));
            }
            let json = serde_json::to_string(&map).unwrap();
            proptest::prop_assert_eq!(&json, &serde_json::to_string(&tree).unwrap());
            proptest::prop_assert_eq!(serde_json::from_str::<StringMap>(&json).unwrap(), map);
        }
    }
}
