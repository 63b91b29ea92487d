//! The synthetic workload B1 (`pipeline.rs`) and B4 (`lambda_sweep.rs`) share: N mixed
//! notifications built from the fixture events, interleaved as events arrive. Included by
//! each bench with `#[path = "common/workload.rs"] mod workload;`.

use crm_testkit::hubspot::FakeHubSpot;
use serde_json::{Value, json};
use thiscovery_crm::events::Envelope;

use thiscovery_crm::testing::fixtures::{
    AUTH0_LOGIN as LOGIN, AUTH0_REGISTRATION as REGISTRATION, EMAIL_TO_ADDRESS as EMAIL,
    TASK_SIGNUP,
};

/// How many notifications of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub registrations: usize,
    pub logins: usize,
    pub signups: usize,
    pub emails: usize,
}

impl Counts {
    /// All of them.
    pub fn total(&self) -> usize {
        self.registrations + self.logins + self.signups + self.emails
    }
}

/// A UUID-shaped id, distinct per `kind` and `i`.
fn uuid(kind: u32, i: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{i:012x}")
}

/// The synthetic EventBridge events, interleaved, and what they need to exist: each
/// registration's user is passed to `add_user(user_id, email)` (registrations write their
/// crm_id back to the user directory), and task signups' contacts are seeded in `hubspot`
/// (a signup is a timeline event on an existing contact, `crm_id` set).
pub fn workload(
    counts: Counts,
    hubspot: &FakeHubSpot,
    mut add_user: impl FnMut(&str, &str),
) -> Vec<Envelope> {
    let registration: Value = serde_json::from_str(REGISTRATION).unwrap();
    let login: Value = serde_json::from_str(LOGIN).unwrap();
    let signup: Value = serde_json::from_str(TASK_SIGNUP).unwrap();
    let email: Value = serde_json::from_str(EMAIL).unwrap();
    let mut by_kind: Vec<Vec<Value>> = vec![Vec::new(); 4];
    for i in 0..counts.registrations {
        let user_id = uuid(1, i);
        let address = format!("registration{i}@bench.example.org");
        add_user(&user_id, &address);
        let mut event = registration.clone();
        event["id"] = json!(uuid(0x11, i));
        let body = &mut event["detail"]["data"]["details"]["body"];
        body["email"] = json!(address);
        body["user_metadata"]["citsci_uuid"] = json!(user_id);
        by_kind[0].push(event);
    }
    for i in 0..counts.logins {
        // A user who logs in has registered: thiscovery-core and HubSpot know them (a login
        // never creates a contact).
        let address = format!("login{i}@bench.example.org");
        add_user(&uuid(2, i), &address);
        hubspot.seed_contact(&address, [("firstname", "Altha")]);
        let mut event = login.clone();
        event["id"] = json!(uuid(0x12, i));
        event["detail"]["data"]["user_name"] = json!(address);
        by_kind[1].push(event);
    }
    for i in 0..counts.signups {
        let crm_id = hubspot.seed_contact(
            &format!("signup{i}@bench.example.org"),
            [("firstname", "Steven")],
        );
        let mut event = signup.clone();
        event["id"] = json!(uuid(0x13, i));
        let detail = &mut event["detail"];
        detail["id"] = json!(uuid(3, i));
        detail["user_id"] = json!(uuid(4, i));
        detail["extra_data"]["crm_id"] = json!(crm_id);
        by_kind[2].push(event);
    }
    for i in 0..counts.emails {
        let mut event = email.clone();
        event["id"] = json!(uuid(0x14, i));
        event["detail"]["to_recipient_email"] = json!(format!("email{i}@bench.example.org"));
        by_kind[3].push(event);
    }
    // Interleave the kinds in proportion, as events arrive.
    let total = counts.total();
    let mut next = [0usize; 4];
    let mut out = Vec::with_capacity(total);
    for _ in 0..total {
        // The kind furthest behind its share of the first k events goes next.
        let kind = (0..4)
            .filter(|&j| next[j] < by_kind[j].len())
            .min_by(|&a, &b| {
                let lag = |j: usize| next[j] as f64 / by_kind[j].len() as f64;
                lag(a).total_cmp(&lag(b))
            })
            .unwrap();
        out.push(Envelope::from_value(std::mem::take(&mut by_kind[kind][next[kind]])).unwrap());
        next[kind] += 1;
    }
    out
}
