//! `--cleanup N`: N processed notifications written straight into DynamoDB Local, one
//! `{"action": "cleanup"}`, the peak RSS while it deletes them, and the checks on what is left.

use super::*;

/// How old the cleanup mode's items are: past [`thiscovery_crm::RETENTION`] (7 days).
pub(super) const CLEANUP_AGE: time::Duration = time::Duration::days(10);
/// How long after its `created` a cleanup item was processed (its `modified`).
pub(super) const PROCESSED_AFTER: time::Duration = time::Duration::seconds(30);
/// `BatchWriteItem`'s limit: items per request.
pub(super) const BATCH_WRITE: usize = 25;
/// `BatchWriteItem` requests in flight while seeding the cleanup items.
pub(super) const SEED_CONCURRENCY: usize = 8;
/// How often a request's unprocessed items are sent again before seeding gives up.
pub(super) const SEED_RETRIES: u32 = 20;

/// The kinds of the cleanup items in the order they were created, repeated every 20 items:
/// 7 registrations, 6 logins, 3 task signups and 4 emails (35/30/15/20%), interleaved.
/// Indices into [`prototypes`].
pub(super) const CLEANUP_CYCLE: [usize; 20] =
    [0, 1, 0, 3, 2, 1, 0, 1, 3, 0, 2, 1, 0, 3, 1, 0, 2, 1, 3, 0];
/// Where [`CLEANUP_CYCLE`] names transactional emails.
pub(super) const EMAIL_KIND: usize = 3;

/// The kind of the cleanup item at position `j` (oldest first).
pub(super) fn cleanup_kind(j: usize) -> usize {
    CLEANUP_CYCLE[j % CLEANUP_CYCLE.len()]
}

/// How many of `n` cleanup items are transactional emails.
pub(super) fn cleanup_emails(n: usize) -> usize {
    (0..n).filter(|&j| cleanup_kind(j) == EMAIL_KIND).count()
}

/// A field of a notification's `details` that differs between items: its JSON pointer and
/// the value of item `i`.
type Field = (&'static str, fn(usize) -> String);

/// One kind of cleanup item: a fixture event as `Crm::record` stores it, and the fields each
/// item sets (as benches/common/workload.rs varies the same fixtures).
pub(super) struct Prototype {
    /// Tells this kind's ids apart.
    pub(super) tag: u32,
    pub(super) notification: Notification,
    pub(super) fields: &'static [Field],
}

/// A UUID-shaped id, distinct per `tag` and `i` (benches/common/workload.rs's form).
pub(super) fn bench_uuid(tag: u32, i: usize) -> String {
    format!("{tag:08x}-0000-4000-8000-{i:012x}")
}

impl Prototype {
    /// Item `i` of this kind: the prototype with its own id, fields and label, `processed`,
    /// recorded at `created` and processed [`PROCESSED_AFTER`] later.
    fn item(&self, i: usize, created: OffsetDateTime) -> Notification {
        let mut n = self.notification.clone();
        n.id = bench_uuid(self.tag, i);
        for (pointer, value) in self.fields {
            let value = value(i);
            let slot = n.details.pointer_mut(pointer).unwrap();
            // The label is made of these fields (an email address, a user id, a recipient).
            if let Some(old) = slot.as_str() {
                n.label = n.label.replace(old, &value);
            }
            *slot = Value::String(value);
        }
        n.status = ProcessingStatus::Processed;
        n.created = timestamp::format(created);
        n.modified = timestamp::format(created + PROCESSED_AFTER);
        n
    }
}

/// The four kinds, in [`CLEANUP_CYCLE`]'s order: each fixture event recorded through
/// `Crm::record` into memory stores (no HubSpot call is made), read back as stored.
pub(super) async fn prototypes() -> Result<Vec<Prototype>> {
    let stores = Stores::memory();
    let notifications = Arc::clone(&stores.notifications);
    let crm = Crm::builder()
        .hubspot(
            Client::builder()
                .base_url("http://127.0.0.1:9")
                .static_token(FakeHubSpot::STATIC_TOKEN)
                .build()?,
        )
        .stores(stores)
        .directory(Arc::new(MemoryDirectory::new()))
        .config(CrmConfig::for_env(ENV))
        .build()?;
    let kinds: [(u32, &str, &'static [Field]); 4] = [
        (
            0x21,
            fixtures::AUTH0_REGISTRATION,
            &[
                ("/data/details/body/email", |i| {
                    format!("registration{i}@bench.example.org")
                }),
                ("/data/details/body/user_metadata/citsci_uuid", |i| {
                    bench_uuid(1, i)
                }),
            ],
        ),
        (
            0x22,
            fixtures::AUTH0_LOGIN,
            &[("/data/user_name", |i| format!("login{i}@bench.example.org"))],
        ),
        (
            0x23,
            fixtures::TASK_SIGNUP,
            &[
                ("/id", |i| bench_uuid(3, i)),
                ("/user_id", |i| bench_uuid(4, i)),
            ],
        ),
        (
            0x24,
            fixtures::EMAIL_TO_ADDRESS,
            &[("/to_recipient_email", |i| {
                format!("email{i}@bench.example.org")
            })],
        ),
    ];
    let mut out = Vec::with_capacity(kinds.len());
    for (tag, event, fields) in kinds {
        let id = match crm.record(&fixtures::envelope(event)).await? {
            Recorded::Created { id, .. } => id,
            other => bail!("a fixture event was not recorded as new: {other:?}"),
        };
        let notification = notifications
            .get(&id)
            .await?
            .context("the recorded fixture is missing")?;
        out.push(Prototype {
            tag,
            notification,
            fields,
        });
    }
    debug_assert_eq!(
        out[EMAIL_KIND].notification.kind,
        NotificationType::TransactionalEmail
    );
    Ok(out)
}

/// Writes `requests` to `table` with `BatchWriteItem`, sending unprocessed items again (with
/// a growing pause) until none are left.
pub(super) async fn batch_write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    mut requests: Vec<WriteRequest>,
) -> Result<()> {
    for attempt in 0..=SEED_RETRIES {
        if attempt > 0 {
            let pause = Duration::from_millis(10 << attempt.min(7));
            tokio::time::sleep(pause).await;
        }
        let out = client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .context("BatchWriteItem")?;
        requests = out
            .unprocessed_items
            .and_then(|mut unprocessed| unprocessed.remove(table))
            .unwrap_or_default();
        if requests.is_empty() {
            return Ok(());
        }
    }
    bail!(
        "BatchWriteItem: {} items still unprocessed after {SEED_RETRIES} retries",
        requests.len()
    )
}

/// Writes the `n` cleanup items into `table`, the oldest created `CLEANUP_AGE` before `now`,
/// each a millisecond after the one before; `BATCH_WRITE` a request, `SEED_CONCURRENCY`
/// requests at a time. Items are built as they are written, so the bench's own memory does
/// not grow with `n`.
pub(super) async fn seed_processed(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    n: usize,
    now: OffsetDateTime,
    run: usize,
) -> Result<()> {
    let prototypes = Arc::new(prototypes().await?);
    let oldest = now - CLEANUP_AGE;
    let sizes: Vec<String> = prototypes
        .iter()
        .map(|p| {
            let details = serde_json::to_string(&p.item(0, oldest).details).unwrap_or_default();
            format!("{} {} B", p.notification.kind, details.len())
        })
        .collect();
    eprintln!(
        "lambda_sweep: [run {run}]   details as JSON: {}",
        sizes.join(", ")
    );
    let chunks = n.div_ceil(BATCH_WRITE);
    let cursor = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..SEED_CONCURRENCY {
        let (client, table) = (client.clone(), table.to_owned());
        let (prototypes, cursor, written) = (prototypes.clone(), cursor.clone(), written.clone());
        workers.spawn(async move {
            loop {
                let chunk = cursor.fetch_add(1, Ordering::Relaxed) as usize;
                if chunk >= chunks {
                    return Ok::<_, anyhow::Error>(());
                }
                let range = chunk * BATCH_WRITE..((chunk + 1) * BATCH_WRITE).min(n);
                let len = range.len() as u64;
                let mut requests = Vec::with_capacity(BATCH_WRITE);
                for j in range {
                    let kind = cleanup_kind(j);
                    let prototype = &prototypes[kind];
                    // The item's number within its kind, for its id and fields.
                    let of_kind = |cycle: &[usize]| cycle.iter().filter(|&&k| k == kind).count();
                    let (cycles, at) = (j / CLEANUP_CYCLE.len(), j % CLEANUP_CYCLE.len());
                    let i = cycles * of_kind(&CLEANUP_CYCLE) + of_kind(&CLEANUP_CYCLE[..at]);
                    let created = oldest + time::Duration::milliseconds(j as i64);
                    let item = notification_to_item(&prototype.item(i, created));
                    requests.push(
                        WriteRequest::builder()
                            .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                            .build(),
                    );
                }
                batch_write(&client, &table, requests).await?;
                let before = written.fetch_add(len, Ordering::Relaxed);
                if (before + len) / 10_000 > before / 10_000 {
                    eprintln!("lambda_sweep: [run {run}]   wrote {} of {n}", before + len);
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(())
}

/// Every item of `table` (a scan, through all its pages), each decoded as a notification.
pub(super) async fn scan_notifications(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<Notification>> {
    let mut items = client
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(item) = items.try_next().await.context("scan")? {
        out.push(notification_from_item(table, &item)?);
    }
    Ok(out)
}

/// How many items `table` holds (a `COUNT` scan).
pub(super) async fn count_items(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<usize> {
    let mut pages = client
        .scan()
        .table_name(table)
        .select(Select::Count)
        .into_paginator()
        .send();
    let mut count = 0;
    while let Some(page) = pages.try_next().await.context("count scan")? {
        count += usize::try_from(page.count()).unwrap_or(0);
    }
    Ok(count)
}

/// One cleanup run's figures.
#[derive(Debug)]
pub(super) struct CleanupMeasured {
    pub(super) items: usize,
    pub(super) emails: usize,
    pub(super) seeding: Duration,
    /// Spawn to the first runtime poll.
    pub(super) init: Duration,
    /// Spawn to the posted answer.
    pub(super) wall: Duration,
    pub(super) idle: Mem,
    pub(super) peak: Mem,
    pub(super) idle_after: Option<Mem>,
    /// See [`Invocation::sampled`].
    pub(super) sampled: Option<Mem>,
    pub(super) response: String,
}

impl CleanupMeasured {
    /// The peak resident set, KiB: the larger of `VmHWM` at the answer and every `VmHWM` and
    /// `VmRSS` sampled before it.
    fn peak_kib(&self) -> u64 {
        let sampled = self.sampled.map_or(0, |m| m.hwm_kib.max(m.rss_kib));
        self.peak.hwm_kib.max(sampled)
    }

    /// The invocation alone: the event handed out (first poll) to the answer.
    fn cleanup(&self) -> Duration {
        self.wall.saturating_sub(self.init)
    }

    /// Items read per second of the invocation (all of them: deleted and kept).
    fn items_per_s(&self) -> f64 {
        self.items as f64 / self.cleanup().as_secs_f64()
    }
}

pub(super) async fn cleanup_once(
    ddb: &DynamoDbLocal,
    args: &Args,
    binary: &Path,
    run: usize,
    n: usize,
) -> Result<CleanupMeasured> {
    let emails = cleanup_emails(n);
    let others = n - emails;

    // Setup, not measured.
    let seeding_started = Instant::now();
    let world = world(ddb).await?;
    let client = ddb.client();
    let table = TableNames::for_stack(&world.stack).notifications;
    eprintln!(
        "lambda_sweep: [run {run}] writing {n} processed notifications created {} days ago ({others} registrations, logins and task signups, {emails} emails) into {table}...",
        CLEANUP_AGE.whole_days()
    );
    seed_processed(&client, &table, n, OffsetDateTime::now_utc(), run).await?;
    let seeded = count_items(&client, &table).await?;
    if seeded != n {
        bail!("run {run}: {table} holds {seeded} items after seeding, expected {n}");
    }
    let seeding = seeding_started.elapsed();
    eprintln!(
        "lambda_sweep: [run {run}] seeding took {:.1} s; spawning the Lambda...",
        seeding.as_secs_f64()
    );

    let Invocation {
        init,
        wall,
        idle,
        peak,
        idle_after,
        sampled,
        ok,
        body,
        response,
        log_path,
    } = invoke(
        ddb,
        &world,
        args,
        binary,
        run,
        json!({"action": "cleanup"}),
        &[],
        "cleaning up",
    )
    .await?;
    let measured = CleanupMeasured {
        items: n,
        emails,
        seeding,
        init,
        wall,
        idle,
        peak,
        idle_after,
        sampled,
        response,
    };
    eprintln!(
        "lambda_sweep: [run {run}] {} in {:.2} s: peak {:.1} MiB (VmHWM at the answer {:.1} MiB; idle after init {:.1} MiB); response {}",
        if ok { "answered" } else { "FAILED" },
        measured.wall.as_secs_f64(),
        mib(measured.peak_kib()),
        mib(peak.hwm_kib),
        mib(idle.hwm_kib),
        measured.response
    );

    // Every non-email deleted, every email kept?
    let mut problems = Vec::new();
    if !ok {
        problems.push(format!("the invocation failed: {body}"));
    } else {
        let response: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        for (field, expected) in [
            ("deleted", others),
            ("kept_emails", emails),
            ("kept_recent", 0),
        ] {
            let got = response[field].as_u64();
            if got != Some(expected as u64) {
                problems.push(format!("{field} {got:?}, expected {expected}"));
            }
        }
    }
    let left = scan_notifications(&client, &table).await?;
    let left_emails = left
        .iter()
        .filter(|n| {
            n.kind == NotificationType::TransactionalEmail
                && n.status == ProcessingStatus::Processed
        })
        .count();
    if left.len() != emails || left_emails != emails {
        let mut by_kind: Vec<(NotificationType, usize)> = Vec::new();
        for n in &left {
            match by_kind.iter_mut().find(|(k, _)| *k == n.kind) {
                Some((_, c)) => *c += 1,
                None => by_kind.push((n.kind, 1)),
            }
        }
        problems.push(format!(
            "the table holds {} items ({left_emails} processed emails; by type {by_kind:?}), expected exactly the {emails} emails",
            left.len()
        ));
    }
    if !problems.is_empty() {
        bail!(
            "run {run}: the cleanup was not as expected: {}\nLambda output (tail, RUST_LOG={}):\n{}",
            problems.join("; "),
            args.rust_log,
            output_tail(&log_path)
        );
    }
    let _ = std::fs::remove_file(&log_path);
    Ok(measured)
}

pub(super) fn cleanup_table(rows: &[CleanupMeasured], args: &Args, binary: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nB4 cleanup: {} (RUST_LOG={}), one `cleanup` invocation over N processed notifications created {} days ago in DynamoDB Local (emails kept)\n",
        binary.display(),
        args.rust_log,
        CLEANUP_AGE.whole_days()
    );
    let _ = writeln!(
        out,
        "| run | items | of them emails | seeding s (not measured) | init ms | wall s | cleanup s | items/s | idle VmHWM MiB | peak MiB | VmHWM at response MiB | VmRSS at response MiB | VmRSS idle after MiB | response |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for (i, m) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} | `{}` |",
            i + 1,
            m.items,
            m.emails,
            m.seeding.as_secs_f64(),
            m.init.as_secs_f64() * 1000.0,
            m.wall.as_secs_f64(),
            m.cleanup().as_secs_f64(),
            m.items_per_s(),
            mib(m.idle.hwm_kib),
            mib(m.peak_kib()),
            mib(m.peak.hwm_kib),
            mib(m.peak.rss_kib),
            m.idle_after
                .map_or_else(|| "-".to_owned(), |mem| format!("{:.1}", mib(mem.rss_kib))),
            m.response
        );
    }
    if rows.len() > 1 {
        let of = |f: &dyn Fn(&CleanupMeasured) -> f64| median(rows.iter().map(f).collect());
        let _ = writeln!(
            out,
            "| median of {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | | |",
            rows.len(),
            rows[0].items,
            rows[0].emails,
            of(&|m| m.seeding.as_secs_f64()),
            of(&|m| m.init.as_secs_f64() * 1000.0),
            of(&|m| m.wall.as_secs_f64()),
            of(&|m| m.cleanup().as_secs_f64()),
            of(&|m| m.items_per_s()),
            of(&|m| mib(m.idle.hwm_kib)),
            of(&|m| mib(m.peak_kib())),
            of(&|m| mib(m.peak.hwm_kib)),
            of(&|m| mib(m.peak.rss_kib)),
        );
    }
    let _ = writeln!(
        out,
        "\nidle VmHWM: peak RSS when the first runtime poll arrives (init done); peak: the larger of VmHWM when the response is posted and every VmHWM and VmRSS sampled every 20 ms before it (Linux updates the high-water mark lazily); wall: spawn to response; cleanup: first poll to response; items/s: items (deleted and kept) / cleanup s."
    );
    out
}
