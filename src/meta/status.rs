//! `Status`: the body the API server sends for every failure (and some successes).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ListMeta;

/// A `Status` object as the API server writes it.
///
/// ```
/// use informer::meta::Status;
/// let s: Status = serde_json::from_str(
///     r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
///         "message":"too old resource version: 1 (2)","reason":"Expired","code":410}"#,
/// ).unwrap();
/// assert_eq!(s.code, 410);
/// assert!(s.is_reason("Expired"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Always `Status` on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Always `v1` on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// List metadata; empty in practice.
    #[serde(default)]
    pub metadata: ListMeta,
    /// `Success` or `Failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Human-readable description.
    #[serde(default)]
    pub message: String,
    /// Machine-readable reason, for example `NotFound` or `Expired`.
    #[serde(default)]
    pub reason: String,
    /// Extra data about the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// HTTP status code, 0 when unset.
    #[serde(default)]
    pub code: u16,
}

impl Status {
    /// A `Failure` status with the given code, reason and message, as a server sends it.
    pub fn failure(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Status {
            kind: Some("Status".to_owned()),
            api_version: Some("v1".to_owned()),
            metadata: ListMeta::default(),
            status: Some("Failure".to_owned()),
            message: message.into(),
            reason: reason.to_owned(),
            details: None,
            code,
        }
    }

    /// Whether `reason` equals the given reason.
    pub fn is_reason(&self, reason: &str) -> bool {
        self.reason == reason
    }

    /// `details.retryAfterSeconds`, if the server asked for a delay.
    pub fn retry_after_seconds(&self) -> Option<i32> {
        self.details.as_ref().and_then(|d| d.retry_after_seconds)
    }

    /// How long the server asked the client to wait (`details.retryAfterSeconds`, which
    /// the client fills from a `Retry-After` header), if it asked for a positive delay.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after_seconds()
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s.unsigned_abs().into()))
    }

    /// Whether the reason is `reason` or, when the server gave no reason, the code is
    /// `code` (as apimachinery's `ReasonForError` falls back to the code).
    pub(crate) fn reason_or_code(&self, reason: &str, code: u16) -> bool {
        if self.reason.is_empty() {
            self.code == code
        } else {
            self.reason == reason
        }
    }

    /// `410`: the requested resourceVersion (or continue token) is no longer available,
    /// whether the reason is `Gone` or `Expired`. A reflector relists.
    pub fn is_gone(&self) -> bool {
        self.code == 410 || self.reason == "Gone" || self.reason == "Expired"
    }

    /// Reason `Expired`: a resourceVersion or continue token was compacted away (client-go's
    /// `IsResourceExpired`).
    pub fn is_expired(&self) -> bool {
        self.reason == "Expired"
    }

    /// `429 TooManyRequests`: the server is shedding load; see [`Status::retry_after`].
    pub fn is_too_many_requests(&self) -> bool {
        self.reason_or_code("TooManyRequests", 429)
    }

    /// `504` with cause `ResourceVersionTooLarge`: the requested resourceVersion is newer
    /// than the server's (client-go's `IsTooLargeResourceVersion`).
    pub fn is_too_large_resource_version(&self) -> bool {
        let cause = self.details.as_ref().is_some_and(|d| {
            d.causes
                .iter()
                .any(|c| c.reason.as_deref() == Some("ResourceVersionTooLarge"))
        });
        cause || self.message.contains("Too large resource version")
    }
}

/// A `Status` is what the server says went wrong, so it can travel as an error.
impl std::error::Error for Status {}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

/// `Status.details`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// Name of the object concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Group of the object concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind (or resource) of the object concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Uid of the object concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Individual causes, for example one per invalid field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds the client should wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i32>,
}

/// One cause within `Status.details`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    /// Machine-readable cause, for example `FieldValueInvalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Path of the field concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
