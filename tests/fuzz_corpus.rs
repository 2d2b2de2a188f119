//! The fuzz targets' properties over every committed fuzz input, without a fuzzing engine: the
//! seed corpus in `fuzz/corpus/<target>/`, the fixture folders `fuzz/fixture-seeds` lists, and
//! the crashes fuzzing found, kept in `fuzz/regressions/<target>/`, so a crash once fixed stays
//! fixed. The checks themselves are
//! `fuzz/src/lib.rs`, included here as a module so the fuzz targets and this test share them.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Every file directly inside `fuzz/<kind>/<target>/`, sorted; none when the folder is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    files_in(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(kind)
            .join(target),
    )
}

/// The fixture files that also seed `target`, as `fuzz/fixture-seeds` lists their folders.
fn fixture_seeds(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list =
        std::fs::read_to_string(root.join("fuzz/fixture-seeds")).expect("fuzz/fixture-seeds");
    let mut files = Vec::new();
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (seeded, folder) = line.split_once(' ').expect("\"<target> <folder>\"");
        if seeded == target {
            let found = files_in(&root.join(folder));
            assert!(
                !found.is_empty(),
                "fuzz/fixture-seeds: {folder} has no files"
            );
            files.extend(found);
        }
    }
    files
}

/// Every file directly inside `dir`, sorted; none when the folder is absent.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs one target's check over `files`; returns a line per input that failed it.
fn failures(target: &str, check: fn(&[u8]), files: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for path in files {
        let data = std::fs::read(path).expect("a readable input");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            failed.push(format!("{target}: {}: {why}", path.display()));
        }
    }
    failed
}

fn run(target: &str) {
    let (_, check) = checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    // A target that shares another's seeds (request sends payloads) gets its regressions too.
    let seeds = checks::seed_corpus(target);
    let corpus = inputs("corpus", seeds);
    assert!(!corpus.is_empty(), "fuzz/corpus/{seeds} has no seeds");
    let mut files = corpus;
    files.extend(fixture_seeds(seeds));
    files.extend(inputs("regressions", seeds));
    if seeds != target {
        files.extend(inputs("regressions", target));
    }
    let failed = failures(target, *check, &files);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn every_payload_input_keeps_the_parser_properties() {
    run("payload");
}

#[test]
fn every_signature_header_input_keeps_the_auth_properties() {
    run("signature_header");
}

#[test]
fn every_config_input_keeps_the_validation_properties() {
    run("config");
}

#[test]
fn every_payload_input_gets_the_documented_answer_through_the_handler() {
    run("request");
}

#[test]
fn every_input_folder_belongs_to_a_target() {
    for kind in ["corpus", "regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let name = entry.expect("a readable folder").file_name();
            let name = name.to_string_lossy();
            assert!(
                checks::TARGETS.iter().any(|(target, _)| *target == name),
                "fuzz/{kind}/{name} is not a fuzz target, so nothing would check it"
            );
        }
    }
}
