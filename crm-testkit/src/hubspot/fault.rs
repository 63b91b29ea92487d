//! Faults a test arms on an [`Endpoint`](super::Endpoint): they answer the next `times`
//! matching requests, then requests fall through to the stateful fake again.

use std::time::Duration;

/// Which HubSpot rate-limit policy a 429 names in its `policyName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum RateLimitPolicy {
    /// The burst limit: `"policyName":"TEN_SECONDLY_ROLLING"`, retry after a few seconds.
    TenSecondlyRolling,
    /// The daily limit: `"policyName":"DAILY"`, retry tomorrow.
    Daily,
}

impl RateLimitPolicy {
    /// HubSpot's `policyName` value.
    pub fn policy_name(self) -> &'static str {
        match self {
            RateLimitPolicy::TenSecondlyRolling => "TEN_SECONDLY_ROLLING",
            RateLimitPolicy::Daily => "DAILY",
        }
    }
}

/// What a fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Answer with this status and a HubSpot-shaped JSON error body (`status`, `message`,
    /// `correlationId`, `category` chosen from the status). Nothing is changed in the fake.
    Status(u16),
    /// Answer 429 with HubSpot's rate-limit body for `policy` and the rate-limit headers
    /// (remaining 0); with `Retry-After` if set. Nothing is changed in the fake.
    RateLimited {
        /// The `policyName` in the body.
        policy: RateLimitPolicy,
        /// Whole seconds for a `Retry-After` header, if any.
        retry_after: Option<u64>,
    },
    /// Handle the request normally (state changes happen at once), then hold the response
    /// back for this long before sending it. A client that times out earlier still caused
    /// the write: the case an idempotent retry must survive.
    Latency(Duration),
    /// Close the connection without answering: the client sees a connection error
    /// ("connection closed before message completed"). Nothing is changed in the fake.
    DropConnection,
    /// Answer with this status, content type and raw body, e.g. a proxy's HTML 502 page.
    Body {
        /// HTTP status.
        status: u16,
        /// `Content-Type` header value.
        content_type: String,
        /// Raw body text.
        body: String,
    },
}

/// A fault and how many matching requests it answers before falling through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub(crate) kind: FaultKind,
    pub(crate) times: u64,
    pub(crate) delay: Option<Duration>,
    pub(crate) headers: Vec<(String, String)>,
}

impl Fault {
    /// A fault of this kind answering once.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            times: 1,
            delay: None,
            headers: Vec::new(),
        }
    }

    /// `status` with a HubSpot-shaped JSON error body.
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status(status))
    }

    /// A 429 with the `TEN_SECONDLY_ROLLING` body and headers.
    pub fn rate_limited() -> Self {
        Self::new(FaultKind::RateLimited {
            policy: RateLimitPolicy::TenSecondlyRolling,
            retry_after: None,
        })
    }

    /// A 429 with the `DAILY` body and headers.
    pub fn daily_limited() -> Self {
        Self::new(FaultKind::RateLimited {
            policy: RateLimitPolicy::Daily,
            retry_after: None,
        })
    }

    /// The normal stateful response, sent after `delay`.
    pub fn latency(delay: Duration) -> Self {
        Self::new(FaultKind::Latency(delay))
    }

    /// Close the connection without an answer.
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::DropConnection)
    }

    /// A raw body with this status and content type.
    pub fn body(status: u16, content_type: impl Into<String>, body: impl Into<String>) -> Self {
        Self::new(FaultKind::Body {
            status,
            content_type: content_type.into(),
            body: body.into(),
        })
    }

    /// The HTML 502 page a load balancer in front of HubSpot answers with.
    pub fn html_bad_gateway() -> Self {
        Self::body(
            502,
            "text/html",
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
             <center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
        )
    }

    /// Answer the next `n` matching requests (default 1; 0 means the fault never fires).
    pub fn times(mut self, n: u64) -> Self {
        self.times = n;
        self
    }

    /// Add a `Retry-After: secs` header (only meaningful for [`FaultKind::RateLimited`]).
    pub fn retry_after(mut self, secs: u64) -> Self {
        if let FaultKind::RateLimited { retry_after, .. } = &mut self.kind {
            *retry_after = Some(secs);
        }
        self
    }

    /// Sets a header on the canned response, replacing one of that name the fault would
    /// send: e.g. `Fault::rate_limited().header("Retry-After", "1e300")` for a value
    /// [`retry_after`](Self::retry_after) cannot express. No effect on
    /// [`FaultKind::Latency`] (the normal response) or [`FaultKind::DropConnection`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Also hold a canned fault response back for `delay` (no effect on
    /// [`FaultKind::DropConnection`]; [`FaultKind::Latency`] has its own delay).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// What the fault does.
    pub fn kind(&self) -> &FaultKind {
        &self.kind
    }

    /// How many requests it answers.
    pub fn remaining(&self) -> u64 {
        self.times
    }
}

/// The JSON form of a fault in the admin API (`POST /__fake/faults`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultSpec {
    pub endpoint: super::Endpoint,
    /// `status` (default when `status` is given), `rate_limit`, `daily_limit`, `latency`,
    /// `drop`, `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default = "one")]
    pub times: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Headers set on the canned response ([`Fault::header`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
}

fn one() -> u64 {
    1
}

impl FaultSpec {
    pub(crate) fn into_fault(self) -> Result<(super::Endpoint, Fault), String> {
        let kind = match (self.kind.as_deref(), self.status) {
            (Some(k), _) => k.to_ascii_lowercase().replace('-', "_"),
            (None, Some(_)) => "status".to_owned(),
            (None, None) => return Err("a fault needs `kind` or `status`".to_owned()),
        };
        let fault = match kind.as_str() {
            "status" => Fault::status(self.status.ok_or("kind `status` needs `status`")?),
            "rate_limit" | "rate_limited" | "ten_secondly_rolling" => Fault::rate_limited(),
            "daily_limit" | "daily" => Fault::daily_limited(),
            "latency" => Fault::latency(Duration::from_millis(
                self.delay_ms.ok_or("kind `latency` needs `delay_ms`")?,
            )),
            "drop" | "drop_connection" => Fault::drop_connection(),
            "body" => Fault::body(
                self.status.unwrap_or(502),
                self.content_type.unwrap_or_else(|| "text/html".to_owned()),
                self.body.unwrap_or_default(),
            ),
            other => {
                return Err(format!(
                    "unknown fault kind {other:?}; expected status, rate_limit, daily_limit, \
                     latency, drop or body"
                ));
            }
        };
        let mut fault = fault.times(self.times);
        if let Some(secs) = self.retry_after_secs {
            fault = fault.retry_after(secs);
        }
        if let (Some(ms), false) = (self.delay_ms, kind == "latency") {
            fault = fault.delayed(Duration::from_millis(ms));
        }
        for (name, value) in self.headers {
            fault = fault.header(name, value);
        }
        Ok((self.endpoint, fault))
    }

    /// The JSON form of an armed fault: what `GET /__fake/faults` lists, and what `POST`
    /// accepts to arm it again.
    pub(crate) fn of(endpoint: super::Endpoint, fault: &Fault) -> FaultSpec {
        let mut spec = FaultSpec {
            endpoint,
            kind: None,
            status: None,
            times: fault.times,
            delay_ms: fault.delay.map(|d| d.as_millis() as u64),
            retry_after_secs: None,
            content_type: None,
            body: None,
            headers: fault.headers.iter().cloned().collect(),
        };
        let kind = match &fault.kind {
            FaultKind::Status(status) => {
                spec.status = Some(*status);
                "status"
            }
            FaultKind::RateLimited {
                policy,
                retry_after,
            } => {
                spec.retry_after_secs = *retry_after;
                match policy {
                    RateLimitPolicy::TenSecondlyRolling => "rate_limit",
                    RateLimitPolicy::Daily => "daily_limit",
                }
            }
            FaultKind::Latency(delay) => {
                spec.delay_ms = Some(delay.as_millis() as u64);
                "latency"
            }
            FaultKind::DropConnection => "drop",
            FaultKind::Body {
                status,
                content_type,
                body,
            } => {
                spec.status = Some(*status);
                spec.content_type = Some(content_type.clone());
                spec.body = Some(body.clone());
                "body"
            }
        };
        spec.kind = Some(kind.to_owned());
        spec
    }
}
