//! Every committed fuzz input (`fuzz/corpus/<target>/`, and `fuzz/regressions/<target>/` for
//! inputs that once broke a property) replayed through the harness its fuzz target runs, on the
//! stable toolchain: CI never runs the fuzzer, so this is what keeps those inputs passing.

use gatehouse::fuzzing::TARGETS;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_fuzz_input_still_passes() {
    let mut failures = Vec::new();
    for (name, harness) in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ has no seeds");
        let regressions = files(&fuzz_dir().join("regressions").join(name));
        for file in corpus.iter().chain(&regressions) {
            let data = std::fs::read(file).unwrap();
            if let Err(e) = panic::catch_unwind(AssertUnwindSafe(|| harness(&data))) {
                let message = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {message}", file.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The committed folders, the fuzz targets and the harness table name the same targets, so an
/// input cannot sit in a folder nothing replays.
#[test]
fn folders_targets_and_harnesses_agree() {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(folder)) else {
            continue;
        };
        for entry in entries.map(|e| e.unwrap()) {
            let name = entry.file_name().into_string().unwrap();
            if entry.path().is_dir() {
                assert!(names.contains(&name.as_str()), "fuzz/{folder}/{name}/");
            }
        }
    }
    let mut targets: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    targets.sort();
    let mut want: Vec<String> = names.iter().map(|n| format!("{n}.rs")).collect();
    want.sort();
    assert_eq!(targets, want);
}
