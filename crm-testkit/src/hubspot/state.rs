//! The fake's mutable state behind one mutex, and what every handler shares: configuration,
//! tokens, the rolling-window limiter, the journal and the armed faults.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::model::{Contact, JournalEntry, Seed, SentEmail, TimelineEvent, TokenSet};
use super::util::{IdGen, iso8601, normalize_email, string_map};
use super::{Endpoint, FakeHubSpot, Fault, RateLimitPolicy};

/// Settings fixed when the fake starts.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub rate_limit: Option<(u32, Duration)>,
    pub daily_limit: Option<u64>,
    pub token_ttl: Duration,
    pub rotate_refresh_tokens: bool,
    pub require_auth: bool,
    pub accept_any_template: bool,
    pub single_send_pending: bool,
    pub admin_api: bool,
    pub seed: Seed,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub app: String,
    pub expires_at: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshToken {
    pub client_id: String,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct SendStatus {
    pub status_id: String,
    pub send_result: &'static str,
    pub requested_at: SystemTime,
    pub event_id: String,
    /// Answered `PENDING` once; the status endpoint then reports `COMPLETE`.
    pub pending_first: bool,
}

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct State {
    pub config: Config,
    pub ids: IdGen,
    pub contacts: BTreeMap<u64, Contact>,
    pub email_index: HashMap<String, u64>,
    pub next_contact_id: u64,
    pub templates: BTreeSet<String>,
    pub events: Vec<TimelineEvent>,
    pub event_index: HashMap<(String, String), usize>,
    pub emails: Vec<SentEmail>,
    pub send_keys: HashMap<(u64, String), String>,
    pub statuses: HashMap<String, SendStatus>,
    pub clients: HashMap<String, String>,
    pub static_tokens: HashSet<String>,
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, RefreshToken>,
    pub tokens_issued: u64,
    pub windows: HashMap<String, VecDeque<Instant>>,
    pub daily: HashMap<String, u64>,
    pub journal: Vec<JournalEntry>,
    pub faults: Vec<(Endpoint, Fault)>,
}

/// Response headers as name/value pairs.
pub(crate) type Headers = Vec<(String, String)>;

/// The first contact id handed out.
pub(crate) const FIRST_CONTACT_ID: u64 = 1001;

impl State {
    pub(crate) fn new(config: Config) -> Self {
        let mut state = State {
            config,
            ids: IdGen::new(),
            contacts: BTreeMap::new(),
            email_index: HashMap::new(),
            next_contact_id: FIRST_CONTACT_ID,
            templates: BTreeSet::new(),
            events: Vec::new(),
            event_index: HashMap::new(),
            emails: Vec::new(),
            send_keys: HashMap::new(),
            statuses: HashMap::new(),
            clients: HashMap::new(),
            static_tokens: HashSet::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            tokens_issued: 0,
            windows: HashMap::new(),
            daily: HashMap::new(),
            journal: Vec::new(),
            faults: Vec::new(),
        };
        state.clients.insert(
            FakeHubSpot::CLIENT_ID.into(),
            FakeHubSpot::CLIENT_SECRET.into(),
        );
        state.static_tokens.insert(FakeHubSpot::STATIC_TOKEN.into());
        state
            .templates
            .insert(FakeHubSpot::TIMELINE_TEMPLATE_ID.into());
        let seed = state.config.seed.clone();
        for c in &seed.oauth_clients {
            state
                .clients
                .insert(c.client_id.clone(), c.client_secret.clone());
        }
        let owner = seed
            .oauth_clients
            .first()
            .map_or(FakeHubSpot::CLIENT_ID.to_owned(), |c| c.client_id.clone());
        for rt in &seed.refresh_tokens {
            state.refresh.insert(
                rt.clone(),
                RefreshToken {
                    client_id: owner.clone(),
                    revoked: false,
                },
            );
        }
        state
            .static_tokens
            .extend(seed.static_tokens.iter().cloned());
        state
            .templates
            .extend(seed.timeline_templates.iter().cloned());
        state.seed_contacts();
        state
    }

    fn seed_contacts(&mut self) {
        let contacts = self.config.seed.contacts.clone();
        for c in contacts {
            let props = string_map(&c.properties);
            self.upsert_contact_by_email(&c.email, props);
        }
    }

    /// Back to the seeded data: contacts, events, emails, journal, faults and rate-limit
    /// counts are cleared; tokens, clients and templates are kept.
    pub(crate) fn reset(&mut self) {
        self.contacts.clear();
        self.email_index.clear();
        self.next_contact_id = FIRST_CONTACT_ID;
        self.events.clear();
        self.event_index.clear();
        self.emails.clear();
        self.send_keys.clear();
        self.statuses.clear();
        self.tokens_issued = 0;
        self.windows.clear();
        self.daily.clear();
        self.journal.clear();
        self.faults.clear();
        self.seed_contacts();
    }

    // ----- contacts -------------------------------------------------------------------------

    pub(crate) fn active_contact(&self, id: u64) -> Option<&Contact> {
        self.contacts.get(&id).filter(|c| !c.archived)
    }

    pub(crate) fn contact_id_by_email(&self, email: &str) -> Option<u64> {
        self.email_index.get(&normalize_email(email)).copied()
    }

    /// Creates a contact (the email, if any, must be free and normalized by the caller).
    pub(crate) fn create_contact(&mut self, mut props: BTreeMap<String, String>) -> u64 {
        let id = self.next_contact_id;
        self.next_contact_id += 1;
        let now = SystemTime::now();
        let stamp = iso8601(now);
        if let Some(email) = props.get_mut("email") {
            *email = normalize_email(email);
            self.email_index.insert(email.clone(), id);
        }
        props.insert("hs_object_id".into(), id.to_string());
        props.insert("createdate".into(), stamp.clone());
        props.insert("lastmodifieddate".into(), stamp);
        self.contacts.insert(
            id,
            Contact {
                id: id.to_string(),
                properties: props,
                created_at: now,
                updated_at: now,
                archived: false,
            },
        );
        id
    }

    /// Merges properties into a contact (email changes are the caller's to validate).
    pub(crate) fn update_contact(&mut self, id: u64, props: BTreeMap<String, String>) {
        let now = SystemTime::now();
        let Some(contact) = self.contacts.get_mut(&id) else {
            return;
        };
        for (k, v) in props {
            if matches!(
                k.as_str(),
                "hs_object_id" | "createdate" | "lastmodifieddate"
            ) {
                continue;
            }
            if k == "email" {
                let new = normalize_email(&v);
                if let Some(old) = contact.properties.get("email") {
                    self.email_index.remove(old);
                }
                if !new.is_empty() {
                    self.email_index.insert(new.clone(), id);
                }
                contact.properties.insert(k, new);
            } else {
                contact.properties.insert(k, v);
            }
        }
        contact.updated_at = now;
        contact
            .properties
            .insert("lastmodifieddate".into(), iso8601(now));
    }

    /// Creates or updates by email; returns `(id, created)`.
    pub(crate) fn upsert_contact_by_email(
        &mut self,
        email: &str,
        mut props: BTreeMap<String, String>,
    ) -> (u64, bool) {
        let email = normalize_email(email);
        props.insert("email".into(), email.clone());
        match self.email_index.get(&email).copied() {
            Some(id) => {
                self.update_contact(id, props);
                (id, false)
            }
            None => (self.create_contact(props), true),
        }
    }

    // ----- tokens ---------------------------------------------------------------------------

    /// Mints an access token for an OAuth client.
    pub(crate) fn mint_access_token(&mut self, client_id: &str) -> String {
        let token = self.ids.token("fake-at");
        self.access.insert(
            token.clone(),
            AccessToken {
                app: format!("oauth:{client_id}"),
                expires_at: Instant::now() + self.config.token_ttl,
            },
        );
        token
    }

    pub(crate) fn mint_refresh_token(&mut self, client_id: &str) -> String {
        let token = self.ids.token("fake-rt");
        self.refresh.insert(
            token.clone(),
            RefreshToken {
                client_id: client_id.to_owned(),
                revoked: false,
            },
        );
        token
    }

    pub(crate) fn issue_token_set(&mut self) -> TokenSet {
        self.issue_token_set_for(FakeHubSpot::CLIENT_ID)
    }

    pub(crate) fn issue_token_set_for(&mut self, client_id: &str) -> TokenSet {
        TokenSet {
            refresh_token: self.mint_refresh_token(client_id),
            access_token: self.mint_access_token(client_id),
            expires_in: self.config.token_ttl.as_secs(),
            token_type: "bearer".into(),
            client_id: client_id.into(),
        }
    }

    pub(crate) fn expire_access_tokens(&mut self) {
        let now = Instant::now();
        for t in self.access.values_mut() {
            t.expires_at = t.expires_at.min(now);
        }
    }

    // ----- rate limits ----------------------------------------------------------------------

    /// Counts one request for `app` if both windows allow it; else the policy that refused.
    /// Refused requests are not counted.
    pub(crate) fn admit(
        &mut self,
        app: &str,
        now: Instant,
    ) -> Result<Headers, (RateLimitPolicy, Headers)> {
        self.prune(app, now);
        let used_today = self.daily.get(app).copied().unwrap_or(0);
        if let Some(daily) = self.config.daily_limit
            && used_today >= daily
        {
            return Err((RateLimitPolicy::Daily, self.rate_headers(app, now)));
        }
        if let Some((max, _)) = self.config.rate_limit {
            let in_window = self.windows.get(app).map_or(0, VecDeque::len);
            if in_window >= max as usize {
                return Err((
                    RateLimitPolicy::TenSecondlyRolling,
                    self.rate_headers(app, now),
                ));
            }
            self.windows
                .entry(app.to_owned())
                .or_default()
                .push_back(now);
        }
        *self.daily.entry(app.to_owned()).or_default() += 1;
        Ok(self.rate_headers(app, now))
    }

    fn prune(&mut self, app: &str, now: Instant) {
        if let (Some((_, window)), Some(q)) = (self.config.rate_limit, self.windows.get_mut(app)) {
            while q
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= window)
            {
                q.pop_front();
            }
        }
    }

    /// The rate-limit headers for `app` as things stand (nothing is counted).
    pub(crate) fn rate_headers(&mut self, app: &str, now: Instant) -> Headers {
        self.prune(app, now);
        let mut h = Vec::new();
        if let Some((max, window)) = self.config.rate_limit {
            let used = self.windows.get(app).map_or(0, VecDeque::len);
            h.push(("X-HubSpot-RateLimit-Max".into(), max.to_string()));
            h.push((
                "X-HubSpot-RateLimit-Remaining".into(),
                (max as usize).saturating_sub(used).to_string(),
            ));
            h.push((
                "X-HubSpot-RateLimit-Interval-Milliseconds".into(),
                window.as_millis().to_string(),
            ));
        }
        if let Some(daily) = self.config.daily_limit {
            let used = self.daily.get(app).copied().unwrap_or(0);
            h.push(("X-HubSpot-RateLimit-Daily".into(), daily.to_string()));
            h.push((
                "X-HubSpot-RateLimit-Daily-Remaining".into(),
                daily.saturating_sub(used).to_string(),
            ));
        }
        h
    }

    // ----- journal ------------------------------------------------------------------------

    /// Journals one request.
    pub(crate) fn record(
        &mut self,
        endpoint: Endpoint,
        method: &str,
        path: &str,
        status: Option<u16>,
        faulted: bool,
        app: Option<String>,
    ) {
        self.journal.push(JournalEntry {
            endpoint,
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            faulted,
            app,
            version: super::endpoint::version_of(path),
            at: SystemTime::now(),
        });
    }
}

/// The state plus its lock.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            state: Mutex::new(State::new(config)),
        }
    }

    /// Locks the state; a test that panicked while holding the lock does not poison others.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
