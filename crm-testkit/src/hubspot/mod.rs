//! A stateful, in-process fake HubSpot on a real socket (wiremock), for tests of anything that
//! talks to HubSpot over HTTP.
//!
//! ```no_run
//! # async fn demo() {
//! use crm_testkit::hubspot::{Endpoint, Fault, FakeHubSpot};
//!
//! let fake = FakeHubSpot::start().await;
//! fake.inject(Endpoint::ContactsBatchUpsert, Fault::status(503).times(2));
//! // point a client at fake.base_url() with bearer token FakeHubSpot::STATIC_TOKEN ...
//! assert_eq!(fake.requests_to(Endpoint::OAuthToken), 0);
//! # }
//! ```
//!
//! How it is built: one low-priority wiremock mock (the *router*) serves every request from
//! the fake's state; two higher-priority mocks match only while a fault is armed for the
//! request's [`Endpoint`], answer it, and count the fault down, after which requests fall
//! through to the router again. Faults live in the fake's state rather than as one wiremock
//! mock per fault so they can be armed synchronously and over HTTP (the binary's admin API).
//! Routes the fake does not know answer 501 naming the method and path.
//!
//! See the crate README ("fake-hubspot") for the behaviour of each endpoint.

mod endpoint;
mod fault;
mod handlers;
mod model;
mod state;
mod util;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use wiremock::{Mock, MockServer};

pub use endpoint::{Endpoint, UnknownEndpoint};
pub use fault::{Fault, FaultKind, RateLimitPolicy};
pub use model::{
    Contact, JournalEntry, Seed, SeedClient, SeedContact, SentEmail, TimelineEvent, TokenSet,
};

use handlers::{FaultArmed, FaultResponder, Router};
use state::{Config, Shared};
use util::property_string;

/// Priority of the fault mocks (wiremock: lower is tried first).
const FAULT_PRIORITY: u8 = 1;
/// Priority of the stateful router: tried last.
const ROUTER_PRIORITY: u8 = u8::MAX;

/// A running fake HubSpot. Each value owns its own server and state, so tests can run in
/// parallel; the server stops when the value is dropped. All methods are thread-safe.
#[derive(Debug)]
pub struct FakeHubSpot {
    server: MockServer,
    shared: Arc<Shared>,
}

impl FakeHubSpot {
    /// A private-app token every fake accepts (unless [`FakeHubSpotBuilder::require_auth`] is
    /// off, in which case everything is accepted).
    pub const STATIC_TOKEN: &'static str = "test-token";
    /// The OAuth client id every fake registers.
    pub const CLIENT_ID: &'static str = "test-client-id";
    /// The secret of [`FakeHubSpot::CLIENT_ID`].
    pub const CLIENT_SECRET: &'static str = "test-client-secret";
    /// A timeline event template every fake registers.
    pub const TIMELINE_TEMPLATE_ID: &'static str = "1234567";
    /// The default access-token lifetime.
    pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(1800);

    /// Starts a fake with the defaults: no rate limit, 1800 s tokens, auth required.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A builder for a fake with non-default settings.
    pub fn builder() -> FakeHubSpotBuilder {
        FakeHubSpotBuilder::default()
    }

    /// The base URL to point a client at, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.server.uri()
    }

    /// Same as [`FakeHubSpot::base_url`].
    pub fn url(&self) -> String {
        self.base_url()
    }

    /// The socket address the fake listens on.
    pub fn address(&self) -> SocketAddr {
        *self.server.address()
    }

    // ----- tokens ---------------------------------------------------------------------------

    /// Mints a refresh token and a valid access token for [`FakeHubSpot::CLIENT_ID`], as if
    /// the app had just been installed. Not counted by [`FakeHubSpot::tokens_issued`].
    pub fn issue_token_set(&self) -> TokenSet {
        self.shared.lock().issue_token_set()
    }

    /// Like [`FakeHubSpot::issue_token_set`], for another OAuth client registered with
    /// [`FakeHubSpotBuilder::oauth_client`] (a second app, e.g. an emails app): its refresh
    /// token refreshes only with that client's id and secret.
    pub fn issue_token_set_for(&self, client_id: &str) -> TokenSet {
        self.shared.lock().issue_token_set_for(client_id)
    }

    /// Revokes a refresh token; the token endpoint then answers `BAD_REFRESH_TOKEN`.
    /// Returns whether the token was known.
    pub fn revoke_refresh_token(&self, refresh_token: &str) -> bool {
        let mut st = self.shared.lock();
        match st.refresh.get_mut(refresh_token) {
            Some(t) => {
                t.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Makes every access token issued so far expired (401 `EXPIRED_AUTHENTICATION`).
    pub fn expire_access_tokens(&self) {
        self.shared.lock().expire_access_tokens();
    }

    /// Accepts another private-app bearer token.
    pub fn add_static_token(&self, token: impl Into<String>) {
        self.shared.lock().static_tokens.insert(token.into());
    }

    /// How many access tokens the token endpoint issued (successful refreshes).
    pub fn tokens_issued(&self) -> u64 {
        self.shared.lock().tokens_issued
    }

    // ----- data -----------------------------------------------------------------------------

    /// Registers a timeline event template id.
    pub fn register_timeline_template(&self, id: impl Into<String>) {
        self.shared.lock().templates.insert(id.into());
    }

    /// Creates (or updates) a contact by email without going through HTTP; returns its id.
    pub fn seed_contact<K, V>(
        &self,
        email: &str,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> String
    where
        K: Into<String>,
        V: Into<serde_json::Value>,
    {
        let props = properties
            .into_iter()
            .map(|(k, v)| (k.into(), property_string(&v.into())))
            .collect();
        let (id, _) = self.shared.lock().upsert_contact_by_email(email, props);
        id.to_string()
    }

    /// Every contact, archived ones included (flagged), in id order.
    pub fn contacts(&self) -> Vec<Contact> {
        self.shared.lock().contacts.values().cloned().collect()
    }

    /// The active contact with this email (case-insensitive).
    pub fn contact_by_email(&self, email: &str) -> Option<Contact> {
        let st = self.shared.lock();
        st.contact_id_by_email(email)
            .and_then(|id| st.contacts.get(&id).cloned())
    }

    /// The contact with this id, archived or not.
    pub fn contact(&self, id: &str) -> Option<Contact> {
        let st = self.shared.lock();
        id.parse()
            .ok()
            .and_then(|id: u64| st.contacts.get(&id).cloned())
    }

    /// Every timeline event, in creation order.
    pub fn timeline_events(&self) -> Vec<TimelineEvent> {
        self.shared.lock().events.clone()
    }

    /// Every email actually sent (sends ignored as duplicates of a `sendId` are not listed).
    pub fn sent_emails(&self) -> Vec<SentEmail> {
        self.shared.lock().emails.clone()
    }

    // ----- journal and faults ---------------------------------------------------------------

    /// Every request received, in order (admin API requests excluded).
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.lock().journal.clone()
    }

    /// How many requests were for `endpoint` ([`Endpoint::Any`] counts all).
    pub fn requests_to(&self, endpoint: Endpoint) -> usize {
        self.shared
            .lock()
            .journal
            .iter()
            .filter(|e| endpoint.covers(e.endpoint))
            .count()
    }

    /// Forgets the journal.
    pub fn clear_journal(&self) {
        self.shared.lock().journal.clear();
    }

    /// Arms a fault: the next [`Fault::times`] requests to `endpoint` get it, then requests fall
    /// through to normal behaviour. Faults on the same endpoint fire in the order armed.
    /// Faults answer whether or not the request is authenticated, and do not count against
    /// the rate limit. Every faulted request is journaled with `faulted: true`.
    pub fn inject(&self, endpoint: Endpoint, fault: Fault) {
        if fault.times > 0 {
            self.shared.lock().faults.push((endpoint, fault));
        }
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// The faults still armed, with their remaining counts.
    pub fn armed_faults(&self) -> Vec<(Endpoint, Fault)> {
        self.shared.lock().faults.clone()
    }

    /// Back to the seeded state: contacts, events, emails, journal, faults, rate-limit counts
    /// and the issued-token count are cleared; tokens, clients and templates are kept.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }
}

/// Settings for a [`FakeHubSpot`]; see [`FakeHubSpot::builder`].
#[derive(Debug)]
pub struct FakeHubSpotBuilder {
    config: Config,
    listener: Option<std::net::TcpListener>,
}

impl Default for FakeHubSpotBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                rate_limit: None,
                daily_limit: None,
                token_ttl: FakeHubSpot::DEFAULT_TOKEN_TTL,
                rotate_refresh_tokens: false,
                require_auth: true,
                accept_any_template: false,
                single_send_pending: true,
                admin_api: true,
                seed: Seed::default(),
            },
            listener: None,
        }
    }
}

impl FakeHubSpotBuilder {
    /// A strict rolling window per app: a request at `t` is accepted iff fewer than `max`
    /// requests were accepted in `(t - window, t]`; refused requests answer 429
    /// `TEN_SECONDLY_ROLLING` and are not counted. Enables the `X-HubSpot-RateLimit-*` headers.
    pub fn rate_limit(mut self, max: u32, window: Duration) -> Self {
        self.config.rate_limit = Some((max, window));
        self
    }

    /// A limit on accepted requests per app over the fake's lifetime (until
    /// [`FakeHubSpot::reset`]); over it, 429 `DAILY`. Enables the `-Daily` headers.
    pub fn daily_limit(mut self, max: u64) -> Self {
        self.config.daily_limit = Some(max);
        self
    }

    /// Access-token lifetime (`expires_in`), measured in real time.
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.config.token_ttl = ttl;
        self
    }

    /// Registers another OAuth client (the default test client stays registered).
    pub fn oauth_client(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.config.seed.oauth_clients.push(SeedClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        });
        self
    }

    /// Accepts another private-app bearer token ([`FakeHubSpot::STATIC_TOKEN`] stays valid).
    pub fn static_token(mut self, token: impl Into<String>) -> Self {
        self.config.seed.static_tokens.push(token.into());
        self
    }

    /// Whether API requests need a valid bearer token (default true). When off, everything is
    /// accepted and counted against one anonymous app.
    pub fn require_auth(mut self, on: bool) -> Self {
        self.config.require_auth = on;
        self
    }

    /// Issue a new refresh token on every refresh and revoke the old one (default: keep it,
    /// as HubSpot does).
    pub fn rotate_refresh_tokens(mut self, on: bool) -> Self {
        self.config.rotate_refresh_tokens = on;
        self
    }

    /// Registers a timeline event template id ([`FakeHubSpot::TIMELINE_TEMPLATE_ID`] is always
    /// registered).
    pub fn timeline_template(mut self, id: impl Into<String>) -> Self {
        self.config.seed.timeline_templates.push(id.into());
        self
    }

    /// Accept events for any template id (default false: unknown templates answer 404).
    pub fn accept_any_template(mut self, on: bool) -> Self {
        self.config.accept_any_template = on;
        self
    }

    /// Answer single-sends with `"status":"PENDING"` and a `statusId` to poll, as HubSpot
    /// does (the send-status endpoint then reports `COMPLETE`). Default true; `false` answers
    /// `COMPLETE` with the `sendResult` at once.
    pub fn single_send_pending(mut self, on: bool) -> Self {
        self.config.single_send_pending = on;
        self
    }

    /// Serve the `/__fake/` admin API (default true).
    pub fn admin_api(mut self, on: bool) -> Self {
        self.config.admin_api = on;
        self
    }

    /// Contacts, tokens, templates and clients to start with (added to anything set so far).
    pub fn seed(mut self, seed: Seed) -> Self {
        let s = &mut self.config.seed;
        s.contacts.extend(seed.contacts);
        s.static_tokens.extend(seed.static_tokens);
        s.timeline_templates.extend(seed.timeline_templates);
        s.oauth_clients.extend(seed.oauth_clients);
        s.refresh_tokens.extend(seed.refresh_tokens);
        self
    }

    /// Serve on this listener instead of a fresh `127.0.0.1:0` one.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Starts the server.
    pub async fn start(self) -> FakeHubSpot {
        let shared = Arc::new(Shared::new(self.config));
        let mut builder = MockServer::builder().disable_request_recording();
        if let Some(listener) = self.listener {
            builder = builder.listener(listener);
        }
        let server = builder.start().await;
        let drops = Arc::clone(&shared);
        Mock::given(FaultArmed {
            shared: Arc::clone(&shared),
            drops: true,
        })
        .respond_with_err(move |req: &wiremock::Request| handlers::drop_connection(&drops, req))
        .with_priority(FAULT_PRIORITY)
        .named("fault: dropped connection")
        .mount(&server)
        .await;
        Mock::given(FaultArmed {
            shared: Arc::clone(&shared),
            drops: false,
        })
        .respond_with(FaultResponder(Arc::clone(&shared)))
        .with_priority(FAULT_PRIORITY)
        .named("fault")
        .mount(&server)
        .await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Router(Arc::clone(&shared)))
            .with_priority(ROUTER_PRIORITY)
            .named("fake-hubspot router")
            .mount(&server)
            .await;
        FakeHubSpot { server, shared }
    }
}
