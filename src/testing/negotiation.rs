//! Content negotiation as a real API server does it for the media types this server
//! speaks: request bodies in JSON or YAML (`415 UnsupportedMediaType` otherwise), and
//! answers in JSON or YAML as the `Accept` header asks (`406 NotAcceptable` when it
//! asks only for what the server cannot produce, such as protobuf or XML).
//!
//! Metadata-only (`as=PartialObjectMetadata`) and `as=Table` renderings are not
//! produced: such a media range is passed over, so that the plain JSON clients list
//! after it (as kubectl does) is chosen.

use bytes::Bytes;
use serde_json::Value;

use super::errors;
use crate::meta::Status;

/// The media types request bodies and answers may be in.
const MEDIA_TYPES: [&str; 2] = ["application/json", "application/yaml"];

/// What an answer is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// JSON, the default.
    Json,
    /// YAML (not for watches, which stream JSON).
    Yaml,
}

/// The output an `Accept` header asks for: the first media range the server can
/// produce, JSON when there is no header; `406` when none can be produced.
pub(crate) fn output(accept: Option<&str>, watch: bool) -> Result<Output, Status> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Output::Json);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut refused = false;
        for param in parts {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            match k.trim() {
                // A rendering (`Table`, `PartialObjectMetadata`) this server has not.
                "as" => refused = true,
                "q" => refused |= v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0),
                _ => {}
            }
        }
        if refused {
            continue;
        }
        match media.as_str() {
            "application/json" | "application/*" | "*/*" => return Ok(Output::Json),
            "application/yaml" if !watch => return Ok(Output::Yaml),
            _ => {}
        }
    }
    let accepted = if watch {
        &MEDIA_TYPES[..1]
    } else {
        &MEDIA_TYPES[..]
    };
    Err(errors::not_acceptable(accepted))
}

/// Decodes a request body in its `Content-Type` (JSON when unset); `415` for a type the
/// server does not read, `400` for a body that does not decode.
pub(crate) fn input(content_type: Option<&str>, body: &[u8]) -> Result<Value, Status> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "" | "application/json" => serde_json::from_slice(body).map_err(|e| {
            errors::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        }),
        "application/yaml" => serde_yaml_ng::from_slice(body).map_err(|e| {
            errors::bad_request(format!(
                "the body of the request could not be decoded as YAML: {e}"
            ))
        }),
        _ => Err(errors::unsupported_media_type(
            content_type.unwrap_or_default(),
            &MEDIA_TYPES,
        )),
    }
}

/// `json` (an answer) in `output`: as is, or converted to YAML.
pub(crate) fn encode(output: Output, json: Bytes) -> Result<(Bytes, &'static str), Status> {
    match output {
        Output::Json => Ok((json, "application/json")),
        Output::Yaml => {
            let value: Value =
                serde_json::from_slice(&json).map_err(|e| errors::internal(e.to_string()))?;
            let yaml =
                serde_yaml_ng::to_string(&value).map_err(|e| errors::internal(e.to_string()))?;
            Ok((Bytes::from(yaml), "application/yaml"))
        }
    }
}
