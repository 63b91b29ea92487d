//! The bench's command line: its options and where the Lambda binary is.

use super::*;

pub(super) const USAGE: &str = "\
B4 under load: the release Lambda's peak RSS while one invocation sweeps N notifications.

USAGE:
    cargo build --release -p thiscovery-crm-lambda
    cargo bench -p thiscovery-crm-stack --bench lambda_sweep -- [OPTIONS]

OPTIONS:
    --binary <PATH>         The release Lambda binary (default: env LAMBDA_BINARY, else
                            <target dir>/release/lambda)
    --notifications <N>     Notifications recorded before the sweep (default 10000)
    --cleanup <N>           Measure `{\"action\": \"cleanup\"}` instead of the sweep: N processed
                            notifications created 10 days ago (20% emails, kept) are written
                            into the table first; --notifications is then unused
    --runs <R>              Runs, each from fresh tables and fakes (default 1)
    --rust-log <FILTER>     The Lambda's RUST_LOG (default warn; info logs every notification)
    -h, --help              Show this help

Needs DynamoDB Local: export DYNAMODB_LOCAL_DIR=\"$(scripts/install-dynamodb-local.sh)\"
(or DYNAMODB_ENDPOINT), and Linux (/proc).
";

#[derive(Debug)]
pub(super) struct Args {
    pub(super) binary: Option<PathBuf>,
    pub(super) notifications: usize,
    /// `--cleanup N`: the cleanup mode with N processed items, instead of the sweep.
    pub(super) cleanup: Option<usize>,
    pub(super) runs: usize,
    pub(super) rust_log: String,
    pub(super) bench_mode: bool,
}

pub(super) fn parse_args() -> Result<Option<Args>> {
    let mut args = Args {
        binary: std::env::var_os("LAMBDA_BINARY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        notifications: 10_000,
        cleanup: None,
        runs: 1,
        rust_log: "warn".to_owned(),
        bench_mode: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            // cargo bench passes --bench; cargo test --benches does not.
            "--bench" => args.bench_mode = true,
            "--binary" => args.binary = Some(PathBuf::from(value(&arg)?)),
            "--notifications" => args.notifications = value(&arg)?.parse()?,
            "--cleanup" => args.cleanup = Some(value(&arg)?.parse()?),
            "--runs" => args.runs = value(&arg)?.parse()?,
            "--rust-log" => args.rust_log = value(&arg)?,
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if args.notifications == 0 || args.runs == 0 || args.cleanup == Some(0) {
        bail!("--notifications, --cleanup and --runs must be at least 1");
    }
    if !args.bench_mode {
        eprintln!("lambda_sweep: not run by `cargo bench` (no --bench): a small smoke run only");
        args.notifications = args.notifications.min(200);
        args.cleanup = args.cleanup.map(|n| n.min(200));
        args.runs = 1;
    }
    Ok(Some(args))
}

/// `<target dir>/release/lambda`: `CARGO_TARGET_DIR`, else the target directory this
/// bench runs from (`<target>/<profile>/deps/lambda_sweep-<hash>`).
pub(super) fn default_binary() -> Result<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe()?;
            exe.ancestors()
                .nth(3)
                .context("cannot tell the target directory from this executable's path")?
                .to_path_buf()
        }
    };
    Ok(target.join("release").join("lambda"))
}
