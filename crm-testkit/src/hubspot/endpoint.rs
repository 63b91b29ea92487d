//! The HubSpot endpoints the fake serves, named so tests never match on path strings.

use std::fmt;
use std::str::FromStr;

/// One HubSpot endpoint the fake knows (or the catch-alls [`Endpoint::Any`] and
/// [`Endpoint::Unmatched`]). Faults are injected and the journal is filtered by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /oauth/v1/token` and `POST /oauth/v3/token`.
    OAuthToken,
    /// `POST /crm/v3/objects/contacts`.
    ContactsCreate,
    /// `GET /crm/v3/objects/contacts/{id}` (also `?idProperty=email`).
    ContactsGet,
    /// `PATCH /crm/v3/objects/contacts/{id}` (also `?idProperty=email`).
    ContactsUpdate,
    /// `DELETE /crm/v3/objects/contacts/{id}`.
    ContactsArchive,
    /// `POST /crm/v3/objects/contacts/batch/upsert`.
    ContactsBatchUpsert,
    /// `POST /crm/v3/objects/contacts/batch/read` (by id, or `"idProperty": "email"`).
    ContactsBatchRead,
    /// `POST /integrators/timeline/v3/events`.
    TimelineEvent,
    /// `POST /integrators/timeline/v3/events/batch/create`.
    TimelineBatch,
    /// `GET /integrators/timeline/v3/events/{templateId}/{eventId}`.
    TimelineGet,
    /// `POST /marketing/v3/transactional/single-email/send`.
    SingleSend,
    /// `GET /marketing/v3/email/send-statuses/{statusId}`.
    SendStatus,
    /// A request that matches no HubSpot route the fake serves (answered with 501).
    Unmatched,
    /// For fault injection only: every request except the fake's own `/__fake/` admin API.
    Any,
}

impl Endpoint {
    /// Every endpoint name, for error messages and docs.
    pub const ALL: [Endpoint; 14] = [
        Endpoint::OAuthToken,
        Endpoint::ContactsCreate,
        Endpoint::ContactsGet,
        Endpoint::ContactsUpdate,
        Endpoint::ContactsArchive,
        Endpoint::ContactsBatchUpsert,
        Endpoint::ContactsBatchRead,
        Endpoint::TimelineEvent,
        Endpoint::TimelineBatch,
        Endpoint::TimelineGet,
        Endpoint::SingleSend,
        Endpoint::SendStatus,
        Endpoint::Unmatched,
        Endpoint::Any,
    ];

    /// The endpoint's name as used in the admin API and [`FromStr`] (`"ContactsBatchUpsert"`).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::OAuthToken => "OAuthToken",
            Endpoint::ContactsCreate => "ContactsCreate",
            Endpoint::ContactsGet => "ContactsGet",
            Endpoint::ContactsUpdate => "ContactsUpdate",
            Endpoint::ContactsArchive => "ContactsArchive",
            Endpoint::ContactsBatchUpsert => "ContactsBatchUpsert",
            Endpoint::ContactsBatchRead => "ContactsBatchRead",
            Endpoint::TimelineEvent => "TimelineEvent",
            Endpoint::TimelineBatch => "TimelineBatch",
            Endpoint::TimelineGet => "TimelineGet",
            Endpoint::SingleSend => "SingleSend",
            Endpoint::SendStatus => "SendStatus",
            Endpoint::Unmatched => "Unmatched",
            Endpoint::Any => "Any",
        }
    }

    /// Whether a fault injected for `self` applies to a request classified as `request`.
    pub fn covers(self, request: Endpoint) -> bool {
        self == Endpoint::Any || self == request
    }

    /// Whether this is a HubSpot API endpoint (authenticated and rate limited), as opposed to
    /// the OAuth token endpoint or an unmatched route.
    pub fn is_api(self) -> bool {
        !matches!(
            self,
            Endpoint::OAuthToken | Endpoint::Unmatched | Endpoint::Any
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An endpoint name that is not one of [`Endpoint::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEndpoint(pub String);

impl fmt::Display for UnknownEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
        write!(
            f,
            "unknown endpoint {:?}; expected one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownEndpoint {}

impl FromStr for Endpoint {
    type Err = UnknownEndpoint;

    /// Case-insensitive, ignoring `_` and `-`: `ContactsBatchUpsert`, `contacts_batch_upsert`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted: String = s
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        Endpoint::ALL
            .into_iter()
            .find(|e| e.name().to_ascii_lowercase() == wanted)
            .ok_or_else(|| UnknownEndpoint(s.to_owned()))
    }
}

impl serde::Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a request is, by method and path.
pub(crate) enum Route {
    /// The fake's own admin API under `/__fake/`; the rest of the path is kept.
    Admin(String),
    /// A HubSpot endpoint, with path parameters already percent-decoded.
    Api(Endpoint, Vec<String>),
}

/// The date versions the fake serves (HubSpot's `/crm/objects/2026-09/contacts` paths).
pub(crate) const DATE_VERSIONS: [&str; 2] = ["2026-03", "2026-09"];

/// The API version a request's path names: `v1`, `v3`, or a date version (`2026-09`); `None`
/// for paths without one (the admin API, unknown routes).
pub(crate) fn version_of(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let v = match segs.as_slice() {
        ["crm", "objects", v, ..] | ["marketing", "transactional", v, ..] => *v,
        ["crm", v, ..] | ["marketing", v, ..] | ["oauth", v, ..] => *v,
        ["integrators", "timeline", v, ..] => *v,
        _ => return None,
    };
    (DATE_VERSIONS.contains(&v) || v == "v1" || v == "v3").then(|| v.to_owned())
}

/// A date-versioned path's segments in the legacy form the routes are written in
/// (`crm/objects/2026-09/contacts/batch/upsert` -> `crm/v3/objects/contacts/batch/upsert`),
/// for the APIs HubSpot publishes date versions of with the legacy shapes: contacts,
/// transactional single-send and the token endpoint. Other paths are kept as they are.
fn legacy_segments(path: &str) -> Vec<String> {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let is_date = |s: &String| DATE_VERSIONS.contains(&s.as_str());
    let mut out = segs.clone();
    match segs.as_slice() {
        [crm, objects, v, rest @ ..] if crm == "crm" && objects == "objects" && is_date(v) => {
            out = vec!["crm".into(), "v3".into(), "objects".into()];
            out.extend(rest.iter().cloned());
        }
        [m, t, v, rest @ ..] if m == "marketing" && t == "transactional" && is_date(v) => {
            out = vec!["marketing".into(), "v3".into(), "transactional".into()];
            out.extend(rest.iter().cloned());
        }
        [o, v, token] if o == "oauth" && token == "token" && is_date(v) => {
            out = vec!["oauth".into(), "v3".into(), "token".into()];
        }
        _ => {}
    }
    out
}

/// Classifies a request. Paths are matched exactly (no trailing-slash leniency), so a wrong
/// path ends as [`Endpoint::Unmatched`] and a loud 501.
pub(crate) fn classify(method: &str, path: &str) -> Route {
    if let Some(rest) = path.strip_prefix("/__fake/") {
        return Route::Admin(rest.to_owned());
    }
    let segs = legacy_segments(path);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let param = |s: &str| super::util::percent_decode(s);
    let (endpoint, params) = match (method, segs.as_slice()) {
        ("POST", ["oauth", "v1" | "v3", "token"]) => (Endpoint::OAuthToken, vec![]),
        ("POST", ["crm", "v3", "objects", "contacts"]) => (Endpoint::ContactsCreate, vec![]),
        ("POST", ["crm", "v3", "objects", "contacts", "batch", "upsert"]) => {
            (Endpoint::ContactsBatchUpsert, vec![])
        }
        ("POST", ["crm", "v3", "objects", "contacts", "batch", "read"]) => {
            (Endpoint::ContactsBatchRead, vec![])
        }
        ("GET", ["crm", "v3", "objects", "contacts", id]) if !id.is_empty() => {
            (Endpoint::ContactsGet, vec![param(id)])
        }
        ("PATCH", ["crm", "v3", "objects", "contacts", id]) if !id.is_empty() => {
            (Endpoint::ContactsUpdate, vec![param(id)])
        }
        ("DELETE", ["crm", "v3", "objects", "contacts", id]) if !id.is_empty() => {
            (Endpoint::ContactsArchive, vec![param(id)])
        }
        ("POST", ["integrators", "timeline", "v3", "events"]) => (Endpoint::TimelineEvent, vec![]),
        ("POST", ["integrators", "timeline", "v3", "events", "batch", "create"]) => {
            (Endpoint::TimelineBatch, vec![])
        }
        ("GET", ["integrators", "timeline", "v3", "events", template, id])
            if !template.is_empty() && !id.is_empty() =>
        {
            (Endpoint::TimelineGet, vec![param(template), param(id)])
        }
        ("POST", ["marketing", "v3", "transactional", "single-email", "send"]) => {
            (Endpoint::SingleSend, vec![])
        }
        ("GET", ["marketing", "v3", "email", "send-statuses", id]) if !id.is_empty() => {
            (Endpoint::SendStatus, vec![param(id)])
        }
        _ => (Endpoint::Unmatched, vec![]),
    };
    Route::Api(endpoint, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(method: &str, path: &str) -> Option<Endpoint> {
        match classify(method, path) {
            Route::Api(e, _) => Some(e),
            Route::Admin(_) => None,
        }
    }

    #[test]
    fn classifies_paths_exactly() {
        assert_eq!(
            endpoint("POST", "/crm/v3/objects/contacts/batch/upsert"),
            Some(Endpoint::ContactsBatchUpsert)
        );
        assert_eq!(
            endpoint("GET", "/crm/v3/objects/contacts/a%40b.com"),
            Some(Endpoint::ContactsGet)
        );
        assert_eq!(
            endpoint("GET", "/crm/v3/objects/contacts/"),
            Some(Endpoint::Unmatched)
        );
        assert_eq!(
            endpoint("POST", "/oauth/v3/token"),
            Some(Endpoint::OAuthToken)
        );
        assert_eq!(endpoint("GET", "/__fake/journal"), None);
    }

    #[test]
    fn names_round_trip() {
        for e in Endpoint::ALL {
            assert_eq!(e.name().parse::<Endpoint>(), Ok(e));
        }
        assert_eq!(
            "contacts_batch_upsert".parse::<Endpoint>(),
            Ok(Endpoint::ContactsBatchUpsert)
        );
        assert!("nope".parse::<Endpoint>().is_err());
    }
}
