//! What a handler reads from a request.

use serde_json::Value;
use wiremock::Request;

use super::super::Endpoint;
use super::super::endpoint::{Route, classify};
use super::reply::ApiError;

/// A request, classified: the endpoint it is for and its path parameters.
pub(crate) struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub headers: &'a wiremock::http::HeaderMap,
    pub body: &'a [u8],
    /// `None` for the fake's own admin API.
    pub endpoint: Option<Endpoint>,
    /// The API version the path names (`v3`, `2026-09`, ...).
    pub version: Option<String>,
    /// Path parameters, percent-decoded; for the admin API, the path after `/__fake/`.
    params: Vec<String>,
}

impl<'a> Incoming<'a> {
    pub(crate) fn new(req: &'a Request) -> Self {
        let method = req.method.as_str();
        let path = req.url.path();
        let (endpoint, params) = match classify(method, path) {
            Route::Admin(rest) => (None, vec![rest]),
            Route::Api(endpoint, params) => (Some(endpoint), params),
        };
        Self {
            method,
            path,
            query: req.url.query_pairs().into_owned().collect(),
            headers: &req.headers,
            body: &req.body,
            endpoint,
            version: super::super::endpoint::version_of(path),
            params,
        }
    }

    /// The `i`th path parameter (`""` when absent).
    pub(crate) fn param(&self, i: usize) -> &str {
        self.params.get(i).map_or("", String::as_str)
    }

    /// The first value of a query parameter.
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (400 `VALIDATION_ERROR` when it is not).
    pub(crate) fn json(&self) -> Result<Value, ApiError> {
        parse_json(self.body)
    }
}

/// JSON, or HubSpot's 400 for invalid input JSON.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("Invalid input JSON: {e}")))
}
