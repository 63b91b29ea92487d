//! The Lambda process under measurement: its memory read from /proc, the Runtime API stub
//! that hands it one event, and one invocation from spawn to answer.

#![allow(clippy::wildcard_imports)]

use super::*;

/// Resident-set figures of a process, KiB.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mem {
    /// `VmHWM`: the peak resident set so far.
    pub(super) hwm_kib: u64,
    /// `VmRSS`: the resident set now.
    pub(super) rss_kib: u64,
}

pub(super) fn proc_mem(pid: u32) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Mem {
        hwm_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
    })
}

pub(super) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The Lambda's memory at the Runtime API calls that tell, each read while the process waits
/// on that call being answered (`None`: /proc could not be read).
#[derive(Debug, Default)]
pub(super) struct MemLog {
    /// At the first poll: init done.
    pub(super) init_done: Option<Mem>,
    /// At the first answer posted: the peak of the whole sweep.
    pub(super) answer: Option<Mem>,
    /// At the second poll: idle after the sweep.
    pub(super) idle_after: Option<Mem>,
}

/// The memory of the process whose pid is stored in `pid` (stored right after spawn; init takes
/// far longer, but do not race it).
pub(super) fn lambda_mem(pid: &AtomicU32) -> Option<Mem> {
    let started = Instant::now();
    loop {
        match pid.load(Ordering::Acquire) {
            0 if started.elapsed() < Duration::from_secs(1) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            0 => return None,
            pid => return proc_mem(pid),
        }
    }
}

/// A Runtime API whose first poll gets `event` and whose later polls are held, so the process
/// idles; it reads the Lambda's memory into `mems` at the calls [`MemLog`] keeps.
pub(super) async fn runtime(
    pid: Arc<AtomicU32>,
    mems: Arc<Mutex<MemLog>>,
    event: Value,
) -> LambdaRuntime {
    let runtime = LambdaRuntime::builder()
        .deadline(Deadline::After(DEADLINE))
        .on_call(move |call| {
            let mut mems = mems.lock().unwrap();
            match call {
                Call::Next { poll: 1 } => mems.init_done = lambda_mem(&pid),
                Call::Next { poll: 2 } => mems.idle_after = lambda_mem(&pid),
                Call::Answer(_) if mems.answer.is_none() => mems.answer = lambda_mem(&pid),
                _ => {}
            }
        })
        .start()
        .await;
    // The request id names the work: `sweep` for `process_notifications`, else the action.
    let request_id = match event["action"].as_str() {
        Some("process_notifications") | None => "sweep".to_owned(),
        Some(action) => action.to_owned(),
    };
    runtime.push(request_id, event);
    runtime
}

/// One run's figures.
#[derive(Debug)]
pub(super) struct Measured {
    pub(super) notifications: usize,
    pub(super) seeding: Duration,
    /// Spawn to the first runtime poll.
    pub(super) init: Duration,
    /// Spawn to the posted response.
    pub(super) wall: Duration,
    pub(super) idle: Mem,
    pub(super) peak: Mem,
    pub(super) idle_after: Option<Mem>,
    pub(super) hubspot_requests: usize,
    pub(super) response: String,
}

/// The last bytes of the Lambda's output, for error messages.
pub(super) fn output_tail(log: &Path) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let start = text.len().saturating_sub(4000);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// What one invocation of the Lambda measured.
#[derive(Debug)]
pub(super) struct Invocation {
    /// Spawn to the first runtime poll.
    pub(super) init: Duration,
    /// Spawn to the posted answer.
    pub(super) wall: Duration,
    /// At the first poll (idle after init).
    pub(super) idle: Mem,
    /// When the answer was posted (the peak of the whole invocation).
    pub(super) peak: Mem,
    /// At the next poll, if it came within 5 s.
    pub(super) idle_after: Option<Mem>,
    /// The largest `VmHWM` and `VmRSS` read while waiting for the answer (every 20 ms).
    /// Linux updates the high-water mark only at some points (unmapping, exit) and otherwise
    /// shows max(mark, current RSS), so a short peak between updates can be missing from a
    /// later `VmHWM`; the samples catch what lasted 20 ms.
    pub(super) sampled: Option<Mem>,
    /// Whether the answer was a response (not an error).
    pub(super) ok: bool,
    /// The answer's body as posted.
    pub(super) body: String,
    /// The body as compact JSON, if it is JSON.
    pub(super) response: String,
    /// The Lambda's output (stdout and stderr).
    pub(super) log_path: PathBuf,
}

/// Spawns the release Lambda against `world` with the stack's environment (plus `extra_env`),
/// hands it `event` through a Runtime API stub, waits for its answer and reads its memory at
/// the calls [`MemLog`] keeps; `doing` names the work in the progress lines.
#[allow(clippy::too_many_arguments)]
pub(super) async fn invoke(
    ddb: &DynamoDbLocal,
    world: &World,
    args: &Args,
    binary: &Path,
    run: usize,
    event: Value,
    extra_env: &[(&str, String)],
    doing: &str,
) -> Result<Invocation> {
    let pid = Arc::new(AtomicU32::new(0));
    let mems = Arc::new(Mutex::new(MemLog::default()));
    let runtime = runtime(Arc::clone(&pid), Arc::clone(&mems), event).await;
    let log_path =
        std::env::temp_dir().join(format!("lambda-sweep-{}-{run}.log", std::process::id()));
    let log = File::create(&log_path)?;
    let mut cmd = tokio::process::Command::new(binary);
    // tests/lambda.rs `lambda_env` + `World::configure`.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(runtime.function_env())
        .env("STACK_NAME", &world.stack)
        .env("CRM_ENV", ENV)
        .env("HUBSPOT_BASE_URL", world.hubspot.base_url())
        .env("HUBSPOT_ACCESS_TOKEN", FakeHubSpot::STATIC_TOKEN)
        .env("THISCOVERY_CORE_URL", world.core.base_url())
        .env("THISCOVERY_CORE_API_KEY", world.core.api_key())
        .env("AWS_ENDPOINT_URL_DYNAMODB", ddb.endpoint())
        // FakeHubSpot does not rate-limit here: pace the client only loosely.
        .env("HUBSPOT_RATE_LIMIT", "1000/1s")
        // The Lambda defaults to info, one line per notification.
        .env("RUST_LOG", &args.rust_log)
        .envs(extra_env.iter().map(|(k, v)| (*k, v)))
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true);

    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))?;
    pid.store(child.id().unwrap_or_default(), Ordering::Release);
    let mut last_tick = Instant::now();
    let mut sampled: Option<Mem> = None;
    loop {
        if let Some(mem) = child.id().and_then(proc_mem) {
            sampled = Some(sampled.map_or(mem, |max| Mem {
                hwm_kib: max.hwm_kib.max(mem.hwm_kib),
                rss_kib: max.rss_kib.max(mem.rss_kib),
            }));
        }
        if !runtime.answers().is_empty() {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the Lambda exited before answering ({status}); output:\n{}",
                output_tail(&log_path)
            );
        }
        if started.elapsed() > RUN_TIMEOUT {
            bail!(
                "the Lambda did not answer within {RUN_TIMEOUT:?}; output:\n{}",
                output_tail(&log_path)
            );
        }
        if last_tick.elapsed() >= Duration::from_secs(10) {
            last_tick = Instant::now();
            if let Some(mem) = child.id().and_then(proc_mem) {
                eprintln!(
                    "lambda_sweep: [run {run}]   {:>5.0} s: {doing}, VmRSS {:.1} MiB, VmHWM {:.1} MiB",
                    started.elapsed().as_secs_f64(),
                    mib(mem.rss_kib),
                    mib(mem.hwm_kib)
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next poll, a moment later: the memory the process keeps while idle afterwards.
    let wait_started = Instant::now();
    while runtime.polls().len() < 2 && wait_started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill()?;
    child.wait().await?;
    let init_at = *runtime
        .polls()
        .first()
        .context("no runtime poll recorded")?;
    let answer = runtime.answers().into_iter().next();
    let answer = answer.context("no answer recorded")?;
    drop(runtime);
    let (answer_at, ok, body) = (answer.at, answer.kind == AnswerKind::Response, answer.body);
    let (idle, peak, idle_after) = {
        let mems = mems.lock().unwrap();
        (mems.init_done, mems.answer, mems.idle_after)
    };
    let (Some(idle), Some(peak)) = (idle, peak) else {
        bail!("could not read /proc/<pid>/status of the Lambda (Linux only)");
    };
    let response = serde_json::from_str::<Value>(&body)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| body.clone());
    Ok(Invocation {
        init: init_at.duration_since(started),
        wall: answer_at.duration_since(started),
        idle,
        peak,
        idle_after,
        sampled,
        ok,
        body,
        response,
        log_path,
    })
}
