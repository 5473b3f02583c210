//! The checks and defaults a real API server (1.35, with the WatchList feature on)
//! applies to list and watch options before serving them, as apimachinery's
//! `ValidateListOptions` and `SetListOptionsDefaults` do: every broken rule is one cause
//! of a `422 Invalid` on `ListOptions.meta.k8s.io`.

use super::errors::{self, FieldError};
use super::query::ListOptions;
use crate::meta::Status;

const RV_MATCH: &str = "resourceVersionMatch";

fn answer(errs: Vec<FieldError>) -> Result<(), Status> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errors::invalid_fields(
            "meta.k8s.io",
            "ListOptions",
            "",
            &errs,
        ))
    }
}

/// Checks the options of a list.
pub(crate) fn check_list(opts: &ListOptions) -> Result<(), Status> {
    let mut errs = Vec::new();
    if let Some(m) = opts.resource_version_match.as_deref() {
        if opts.resource_version.is_none() {
            errs.push(FieldError::forbidden(
                RV_MATCH,
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if opts.continue_.is_some() {
            errs.push(FieldError::forbidden(
                RV_MATCH,
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if m != "Exact" && m != "NotOlderThan" {
            errs.push(FieldError::not_supported(
                RV_MATCH,
                &format!("{m:?}"),
                &["Exact", "NotOlderThan", ""],
            ));
        }
        if m == "Exact" && opts.resource_version.as_deref() == Some("0") {
            errs.push(FieldError::forbidden(
                RV_MATCH,
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if opts.send_initial_events.is_some() {
        errs.push(FieldError::forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    answer(errs)
}

/// The `sendInitialEvents` and `resourceVersionMatch` a watch is served with: as asked
/// or, for a watch from no version or `"0"` that asks for neither, the streaming list
/// (`true`, `NotOlderThan`) that a server with WatchList defaults to.
pub(crate) fn watch_defaults(opts: &ListOptions) -> (Option<bool>, Option<&str>) {
    let rv_match = opts.resource_version_match.as_deref();
    let legacy = matches!(opts.resource_version.as_deref(), None | Some("0"));
    if opts.send_initial_events.is_none() && rv_match.is_none() && legacy {
        (Some(true), Some("NotOlderThan"))
    } else {
        (opts.send_initial_events, rv_match)
    }
}

/// Checks the options of a watch, with its `sendInitialEvents` and
/// `resourceVersionMatch` as [`watch_defaults`] gives them.
pub(crate) fn check_watch(
    opts: &ListOptions,
    send_initial_events: Option<bool>,
    rv_match: Option<&str>,
) -> Result<(), Status> {
    let mut errs = Vec::new();
    if send_initial_events.is_some() && rv_match != Some("NotOlderThan") {
        errs.push(FieldError::forbidden(
            RV_MATCH,
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    if let Some(m) = rv_match {
        if send_initial_events.is_none() {
            errs.push(FieldError::forbidden(
                RV_MATCH,
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if m != "NotOlderThan" {
            errs.push(FieldError::not_supported(
                RV_MATCH,
                &format!("{m:?}"),
                &["NotOlderThan"],
            ));
        }
        if opts.continue_.is_some() {
            errs.push(FieldError::forbidden(
                RV_MATCH,
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
    }
    answer(errs)
}
