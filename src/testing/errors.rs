//! The `Status` bodies the embedded server answers with, one constructor per reason.
//!
//! Every failure of the server goes through one of these functions, so that reasons,
//! codes and messages match what a real kube-apiserver writes. The HTTP layer turns the
//! returned [`Status`] into a response whose HTTP code is `Status::code`.

use crate::meta::{ApiResource, Status, StatusCause, StatusDetails};

fn with_details(mut status: Status, name: &str, res: &ApiResource) -> Status {
    status.details = Some(StatusDetails {
        name: Some(name.to_owned()),
        group: if res.group.is_empty() {
            None
        } else {
            Some(res.group.clone())
        },
        kind: Some(res.plural.clone()),
        ..StatusDetails::default()
    });
    status
}

/// `pods "name"` or `deployments.apps "name"`: how a real server names an object.
pub(crate) fn qualified(res: &ApiResource, name: &str) -> String {
    if res.group.is_empty() {
        format!("{} \"{name}\"", res.plural)
    } else {
        format!("{}.{} \"{name}\"", res.plural, res.group)
    }
}

/// `404 NotFound` for a missing object.
pub(crate) fn not_found(res: &ApiResource, name: &str) -> Status {
    let status = Status::failure(
        404,
        "NotFound",
        format!("{} not found", qualified(res, name)),
    );
    with_details(status, name, res)
}

/// `404 NotFound` for a missing namespace.
pub(crate) fn namespace_not_found(namespace: &str) -> Status {
    let ns = ApiResource::new("", "v1", "Namespace", "namespaces", false);
    not_found(&ns, namespace)
}

/// `404 NotFound` for a path that names nothing.
pub(crate) fn path_not_found() -> Status {
    let mut status = Status::failure(
        404,
        "NotFound",
        "the server could not find the requested resource",
    );
    status.details = Some(StatusDetails::default());
    status
}

/// `409 AlreadyExists`.
pub(crate) fn already_exists(res: &ApiResource, name: &str) -> Status {
    let status = Status::failure(
        409,
        "AlreadyExists",
        format!("{} already exists", qualified(res, name)),
    );
    with_details(status, name, res)
}

/// `409 Conflict` with the real "Operation cannot be fulfilled" message.
pub(crate) fn conflict(res: &ApiResource, name: &str, why: &str) -> Status {
    let status = Status::failure(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {}: {why}",
            qualified(res, name)
        ),
    );
    with_details(status, name, res)
}

/// The message of a `409 Conflict` for a stale resourceVersion.
pub(crate) const STALE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// One field error of a `422 Invalid`, rendered as apimachinery's `field.Error` renders
/// it: a reason (the cause type), the field path and the message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// `FieldValueInvalid`, `FieldValueRequired`, ...
    pub reason: &'static str,
    /// The field path, for example `metadata.labels`.
    pub field: String,
    /// The message without the field, for example `Invalid value: "x": ...`.
    pub detail: String,
}

impl FieldError {
    /// A value that breaks a rule (`FieldValueInvalid`); `value` is shown quoted.
    pub(crate) fn invalid(field: &str, value: &str, detail: &str) -> FieldError {
        FieldError::raw_invalid(field, &format!("{value:?}"), detail)
    }

    /// A value that breaks a rule, shown as `value` is written (unquoted).
    pub(crate) fn raw_invalid(field: &str, value: &str, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueInvalid",
            field: field.to_owned(),
            detail: format!("Invalid value: {value}: {detail}"),
        }
    }

    /// A missing value (`FieldValueRequired`).
    pub(crate) fn required(field: &str, detail: &str) -> FieldError {
        let detail = if detail.is_empty() {
            "Required value".to_owned()
        } else {
            format!("Required value: {detail}")
        };
        FieldError {
            reason: "FieldValueRequired",
            field: field.to_owned(),
            detail,
        }
    }

    /// A value that may not be set (`FieldValueForbidden`).
    pub(crate) fn forbidden(field: &str, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueForbidden",
            field: field.to_owned(),
            detail: format!("Forbidden: {detail}"),
        }
    }

    /// A value longer than `limit` bytes (`FieldValueTooLong`).
    pub(crate) fn too_long(field: &str, limit: usize) -> FieldError {
        FieldError {
            reason: "FieldValueTooLong",
            field: field.to_owned(),
            detail: format!("Too long: may not be more than {limit} bytes"),
        }
    }

    /// A value outside a fixed set (`FieldValueNotSupported`); `value` is shown as
    /// written.
    pub(crate) fn not_supported(field: &str, value: &str, supported: &[&str]) -> FieldError {
        let supported: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            reason: "FieldValueNotSupported",
            field: field.to_owned(),
            detail: format!(
                "Unsupported value: {value}: supported values: {}",
                supported.join(", ")
            ),
        }
    }

    /// `field: detail`, as the error prints.
    fn render(&self) -> String {
        format!("{}: {}", self.field, self.detail)
    }
}

/// `422 Invalid` for the object `name` of `kind` in `group`, with one cause per field
/// error (the message lists them in brackets when there are several).
pub(crate) fn invalid_fields(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> Status {
    let qualified = if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    };
    let list = match errs {
        [one] => one.render(),
        many => format!(
            "[{}]",
            many.iter()
                .map(FieldError::render)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut status = Status::failure(
        422,
        "Invalid",
        format!("{qualified} {name:?} is invalid: {list}"),
    );
    status.details = Some(StatusDetails {
        name: (!name.is_empty()).then(|| name.to_owned()),
        group: (!group.is_empty()).then(|| group.to_owned()),
        kind: Some(kind.to_owned()),
        causes: errs
            .iter()
            .map(|e| StatusCause {
                reason: Some(e.reason.to_owned()),
                message: Some(e.detail.clone()),
                field: Some(e.field.clone()),
            })
            .collect(),
        ..StatusDetails::default()
    });
    status
}

/// `422 Invalid` for an object of `res`, named by its kind as validation names it.
pub(crate) fn invalid(res: &ApiResource, name: &str, errs: &[FieldError]) -> Status {
    invalid_fields(&res.group, &res.kind, name, errs)
}

/// `422 Invalid` for bad request options of `kind` (`ListOptions`, `CreateOptions`, ...).
pub(crate) fn invalid_options(kind: &str, err: FieldError) -> Status {
    invalid_fields("meta.k8s.io", kind, "", &[err])
}

/// `500` for a create whose body carries a resourceVersion: the storage's refusal, which
/// a real server passes on without a reason.
pub(crate) fn rv_set_on_create() -> Status {
    Status::failure(
        500,
        "",
        "resourceVersion should not be set on objects to be created",
    )
}

/// `400 BadRequest`.
pub(crate) fn bad_request(message: impl Into<String>) -> Status {
    Status::failure(400, "BadRequest", message)
}

/// `410 Expired` for a list at a compacted resourceVersion.
pub(crate) fn list_expired() -> Status {
    Status::failure(
        410,
        "Expired",
        "The resourceVersion for the provided list is too old.",
    )
}

/// `410 Expired` for a continue token whose version is compacted; carries a fresh token.
pub(crate) fn continue_expired(fresh_token: String) -> Status {
    let mut status = Status::failure(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. \
         You can start a new list without the continue parameter, or use the continue token \
         in this response to retrieve the remainder of the results. Continuing with the \
         provided token results in an inconsistent list - objects that were created, \
         modified, or deleted between the time the first chunk was returned and now may show \
         up in the list.",
    );
    status.metadata.continue_ = Some(fresh_token);
    status
}

/// `410 Expired` as the `ERROR` event of a watch from a compacted resourceVersion.
pub(crate) fn watch_expired(requested: u64, oldest: u64) -> Status {
    Status::failure(
        410,
        "Expired",
        format!("too old resource version: {requested} ({oldest})"),
    )
}

/// `410 Gone`.
pub(crate) fn gone(message: impl Into<String>) -> Status {
    Status::failure(410, "Gone", message)
}

/// `504 Timeout` for a resourceVersion the server has not reached.
pub(crate) fn too_large_resource_version(requested: u64, current: u64) -> Status {
    let mut status = Status::failure(
        504,
        "Timeout",
        format!("Too large resource version: {requested}, current: {current}"),
    );
    status.details = Some(StatusDetails {
        causes: vec![StatusCause {
            reason: Some("ResourceVersionTooLarge".to_owned()),
            message: Some("Too large resource version".to_owned()),
            field: None,
        }],
        retry_after_seconds: Some(1),
        ..StatusDetails::default()
    });
    status
}

/// `429 TooManyRequests` asking the client to wait `retry_after` seconds.
pub(crate) fn too_many_requests(retry_after: u32) -> Status {
    let mut status = Status::failure(
        429,
        "TooManyRequests",
        "The server has received too many requests and has asked us to try again later",
    );
    status.details = Some(StatusDetails {
        retry_after_seconds: Some(i32::try_from(retry_after).unwrap_or(i32::MAX)),
        ..StatusDetails::default()
    });
    status
}

/// `500 InternalError`.
pub(crate) fn internal(message: impl Into<String>) -> Status {
    let message = message.into();
    let mut status = Status::failure(
        500,
        "InternalError",
        format!("Internal error occurred: {message}"),
    );
    status.details = Some(StatusDetails {
        causes: vec![StatusCause {
            message: Some(message),
            ..StatusCause::default()
        }],
        ..StatusDetails::default()
    });
    status
}

/// `503 ServiceUnavailable`.
pub(crate) fn unavailable(message: impl Into<String>) -> Status {
    Status::failure(503, "ServiceUnavailable", message)
}

/// `405 MethodNotAllowed`.
pub(crate) fn method_not_allowed(method: &str) -> Status {
    Status::failure(
        405,
        "MethodNotAllowed",
        format!("the server does not allow this method on the requested resource ({method})"),
    )
}

/// `415 UnsupportedMediaType` for a patch the server cannot apply.
pub(crate) fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Status {
    Status::failure(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format ({content_type:?}) - accepted media types include: {}",
            accepted.join(", ")
        ),
    )
}

/// `406 NotAcceptable` for an `Accept` header the server cannot answer.
pub(crate) fn not_acceptable(accepted: &[&str]) -> Status {
    Status::failure(
        406,
        "NotAcceptable",
        format!(
            "only the following media types are accepted: {}",
            accepted.join(", ")
        ),
    )
}

/// `401 Unauthorized`.
pub(crate) fn unauthorized() -> Status {
    Status::failure(401, "Unauthorized", "Unauthorized")
}

/// The status for an injected fault with this HTTP code; a 410 is `Expired` for lists
/// and watches (as a compacted version would give) and `Gone` for other requests.
pub(crate) fn for_code(code: u16, retry_after: Option<u32>, list_or_watch: bool) -> Status {
    match code {
        410 if !list_or_watch => gone("injected fault"),
        400 => bad_request("injected fault"),
        401 => unauthorized(),
        404 => path_not_found(),
        409 => Status::failure(409, "Conflict", "injected fault"),
        410 => Status::failure(410, "Expired", "too old resource version: injected fault"),
        429 => too_many_requests(retry_after.unwrap_or(1)),
        500 => internal("injected fault"),
        503 => unavailable("injected fault"),
        504 => Status::failure(504, "Timeout", "injected fault"),
        403 => Status::failure(403, "Forbidden", "injected fault"),
        405 => Status::failure(405, "MethodNotAllowed", "injected fault"),
        413 => Status::failure(413, "RequestEntityTooLarge", "injected fault"),
        415 => Status::failure(415, "UnsupportedMediaType", "injected fault"),
        422 => Status::failure(422, "Invalid", "injected fault"),
        other if other < 500 => Status::failure(other, "BadRequest", "injected fault"),
        other => Status::failure(other, "InternalError", "injected fault"),
    }
}

#[cfg(test)]
mod tests {
    use super::for_code;

    #[test]
    fn injected_faults_carry_the_reason_of_their_code() {
        for (code, reason) in [
            (403, "Forbidden"),
            (404, "NotFound"),
            (418, "BadRequest"),
            (422, "Invalid"),
            (429, "TooManyRequests"),
            (500, "InternalError"),
            (502, "InternalError"),
            (503, "ServiceUnavailable"),
        ] {
            let status = for_code(code, None, false);
            assert_eq!(
                (status.code, status.reason.as_str()),
                (code, reason),
                "{code}"
            );
        }
    }
}
