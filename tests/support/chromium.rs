//! Headless Chromium opening one URL with a fresh profile, for the tests that need a real
//! browser (cookies' HttpOnly, `postMessage` origins). A missing binary fails the test and
//! names the package; the browser is killed when the handle is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use tempfile::TempDir;

pub struct Chromium {
    child: Child,
    _profile: TempDir,
}

impl Chromium {
    /// Starts Chromium on `url`. Popups are allowed: the tests' pages open windows from script.
    pub fn open(url: &str) -> Chromium {
        let profile = tempfile::tempdir().expect("chromium profile dir");
        let child = Command::new(binary())
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-popup-blocking",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        Chromium {
            child,
            _profile: profile,
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Chromium binary on PATH; panics naming the package when there is none.
pub fn binary() -> PathBuf {
    const NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| NAMES.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "this test needs Chromium: none of {NAMES:?} is on PATH. Install the `chromium` \
                 package (apt-get install -y chromium; `make test` and .ci/run do it)"
            )
        })
}
