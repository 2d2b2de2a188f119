//! Compiles the rule files under `rules/` into the binary, so the configuration travels inside
//! the deployment package whichever way it is built: SAM's `rust-cargolambda` build method
//! copies only the `bootstrap` executable into the package.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=rules");
    let mut files: Vec<String> = std::fs::read_dir("rules")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.ends_with(".toml").then_some(name)
        })
        .collect();
    files.sort();

    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut code = String::from("/// Rule files compiled in from `rules/`: (path, contents).\n");
    code.push_str("pub static EMBEDDED_RULES: &[(&str, &str)] = &[\n");
    for name in files {
        let path = Path::new(&root).join("rules").join(&name);
        let _ = writeln!(
            code,
            "    (\"rules/{name}\", include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_rules.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
