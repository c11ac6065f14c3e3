//! Real `orderhub run` processes for the scale-out and chaos tests: a config
//! file, a process started (and SIGKILLed) by the test, its log in a file the
//! test can read afterwards, and the queue's record of who ran which job.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_orderhub");

/// A temporary directory holding a test's config and the processes' logs.
pub struct ProcDir {
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl ProcDir {
    pub fn new(prefix: &str, config_toml: &str) -> ProcDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("orderhub.toml");
        std::fs::write(&config, config_toml).unwrap();
        ProcDir { dir, config }
    }

    /// `orderhub migrate` with this config (so the test sees the schema at once).
    pub fn migrate(&self, env: &[(String, String)]) {
        let status = Command::new(BIN)
            .args(["--config", self.config.to_str().unwrap(), "migrate"])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "orderhub migrate");
    }

    /// Start `orderhub run`; its stderr (the log) goes to `{name}.log`,
    /// appended across restarts.
    pub fn spawn(&self, name: &str, env: &[(String, String)], log: &str) -> Child {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(name))
            .unwrap();
        Command::new(BIN)
            .args(["--config", self.config.to_str().unwrap(), "run"])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("ORDERHUB_LOG", log)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap()
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }
}

/// SIGKILL (what `Child::kill` sends on Unix) and reap.
pub fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A port free right now on 127.0.0.1 (for a server that restarts on the
/// same address).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Jobs done per process and queue, from apalis-postgres' own record
/// (`lock_by` is the worker's name: `orderhub-{pid}-{uuid}-{queue}`).
/// Returns `(pid, queue, done)` rows.
pub async fn jobs_done_by_process(db: &sea_orm::DatabaseConnection) -> Vec<(u32, String, i64)> {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT lock_by, CAST(COUNT(*) AS BIGINT) AS n FROM apalis.jobs \
             WHERE status = 'Done' AND lock_by IS NOT NULL GROUP BY lock_by",
        ))
        .await
        .unwrap();
    let mut out = Vec::new();
    for r in rows {
        let by: String = r.try_get("", "lock_by").unwrap();
        let n: i64 = r.try_get("", "n").unwrap();
        // orderhub-<pid>-<uuid>-<queue>
        let mut parts = by.splitn(4, '-');
        let _ = parts.next();
        let pid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let _ = parts.next();
        let queue = parts.next().unwrap_or("?").to_string();
        out.push((pid, queue, n));
    }
    out
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
