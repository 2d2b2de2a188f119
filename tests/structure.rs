//! The one-way module order of issue #13, checked from the source text of `src/`.
//!
//! Every top-level module (a file `src/<name>.rs` or a folder `src/<name>/`) has a place in
//! [`ORDER`] and may use only the modules listed before it. The checker drops comments, string
//! and char literals and test code, collects every `crate::<name>` path (each item of a
//! `use crate::{a::B, c}` group counts, and so does a `super::` chain that climbs to the crate
//! root), and reports each edge that does not point strictly earlier in the list. Because every
//! allowed edge does, no cycle can form. It also checks that only `src/execute/` names the
//! CodeDeploy and Lambda SDKs, and that `src/lib.rs`'s `//!` layout list follows the same order.

use std::collections::BTreeSet;
use std::path::Path;

/// The top-level modules of `src/`, lowest first: a module may use only those listed before it.
/// This is the one place the order is written; `src/lib.rs`'s layout list must say the same.
const ORDER: &[&str] = &[
    "duration",
    "text",
    "aws",
    "secret",
    "wavefront",
    "front_door",
    "auth",
    "alert",
    "actions",
    "ledger",
    "telemetry",
    "plan",
    "execute",
    "record",
    "announce",
    "config",
    "app",
    "commands",
];

/// The SDK crates that only files under `src/execute/` may name.
const EXECUTION_SDKS: &[&str] = &[
    "aws_sdk_appconfig",
    "aws_sdk_codedeploy",
    "aws_sdk_ecs",
    "aws_sdk_lambda",
];
/// The SDK crate that only the announcements (`src/announce/`) and the composition root
/// (`src/app/`, and `src/commands/serve.rs`, which builds the clients) may name: chat
/// notifications publish to SNS, and nothing else does.
const NOTIFY_SDK: &str = "aws_sdk_sns";

#[test]
fn src_follows_the_module_order() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut owned = Vec::new();
    read_rs_files(&src, "", &mut owned);
    owned.sort();
    let files: Vec<_> = owned
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let problems = check(&files, ORDER);
    assert!(
        problems.is_empty(),
        "src/ breaks the module order of tests/structure.rs:\n{}",
        problems.join("\n")
    );
}

/// Appends every `.rs` file under `dir` as (path relative to `src/` with `/` separators, text).
fn read_rs_files(dir: &Path, prefix: &str, files: &mut Vec<(String, String)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for path in entries.map(|entry| entry.expect("a directory entry").path()) {
        let relative = format!("{prefix}{}", path.file_name().unwrap().to_string_lossy());
        if path.is_dir() {
            read_rs_files(&path, &format!("{relative}/"), files);
        } else if relative.ends_with(".rs") {
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            files.push((relative, text));
        }
    }
}

/// Every way `files` (paths relative to `src/`) break `order`, one line each; empty when none.
/// Files named `tests.rs` hold unit tests moved out of their module and are not checked.
fn check(files: &[(&str, &str)], order: &[&str]) -> Vec<String> {
    let present: BTreeSet<&str> = files
        .iter()
        .filter_map(|(path, _)| top_module(path))
        .collect();
    // Unlisted modules rank last, together: nothing may use them.
    let rank = |name: &str| order.iter().position(|o| *o == name).unwrap_or(order.len());
    let mut problems = Vec::new();
    for name in present.iter().filter(|name| !order.contains(name)) {
        problems.push(format!("module `{name}` is not listed in ORDER"));
    }
    for name in order.iter().filter(|name| !present.contains(*name)) {
        problems.push(format!(
            "module `{name}` is listed in ORDER but src/{name}.rs and src/{name}/ do not exist"
        ));
    }
    for (path, text) in files.iter().filter(|(path, _)| !path.ends_with("tests.rs")) {
        let code = production_code(text);
        let tokens = tokens(&code);
        let from = top_module(path);
        for (line, to) in root_paths(&tokens, depth(path)) {
            if let Some(from) = from
                && present.contains(to)
                && to != from
                && rank(to) >= rank(from)
            {
                problems.push(format!(
                    "src/{path}:{line}: back-edge `{from}` -> `{to}`: ORDER does not put `{to}` before `{from}`"
                ));
            }
        }
        if !(path.starts_with("execute/") || *path == "execute.rs") {
            let sdks = tokens
                .iter()
                .filter(|(_, token)| EXECUTION_SDKS.contains(token));
            for (line, sdk) in sdks {
                problems.push(format!(
                    "src/{path}:{line}: names `{sdk}`; only src/execute/ may"
                ));
            }
        }
        let composition = path.starts_with("app/") || *path == "commands/serve.rs";
        if !(path.starts_with("announce/") || composition) {
            for (line, _) in tokens.iter().filter(|(_, token)| *token == NOTIFY_SDK) {
                problems.push(format!(
                    "src/{path}:{line}: names `{NOTIFY_SDK}`; only src/announce/, src/app/ and src/commands/serve.rs may"
                ));
            }
        }
    }
    if let Some((_, lib)) = files.iter().find(|(path, _)| *path == "lib.rs") {
        let listed = layout_list(lib);
        if listed != order {
            problems.push(format!(
                "src/lib.rs's `//!` layout list names {listed:?}; ORDER is {order:?}"
            ));
        }
    }
    problems
}

/// The top-level module a file belongs to (`alert/mod.rs` and `alert.rs`: `alert`; the children
/// of `main.rs`, like `commands/`, count too); `None` for the crate roots `lib.rs` and `main.rs`.
fn top_module(path: &str) -> Option<&str> {
    let head = path.split('/').next()?;
    (!matches!(head, "lib.rs" | "main.rs")).then(|| head.strip_suffix(".rs").unwrap_or(head))
}

/// How many `super::` lead from a file to the crate root: 1 from `x.rs` or `x/mod.rs`, 2 from
/// `x/y.rs`. Fewer stay inside the file's own top-level module.
fn depth(path: &str) -> usize {
    path.split('/').count() - usize::from(path.ends_with("/mod.rs"))
}

/// `text` without comments, string and char literals (newlines kept, so line numbers hold), cut
/// at the first `#[cfg(test)]` module with a body: test code may use any module.
fn production_code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let (mut code, mut i) = (String::new(), 0);
    while i < chars.len() {
        let end = literal_or_comment_end(&chars, i);
        if end == i {
            code.push(chars[i]);
            i += 1;
        } else {
            code.push(' ');
            code.extend(chars[i..end].iter().filter(|c| **c == '\n'));
            i = end;
        }
    }
    let test_module = code.match_indices("#[cfg(test)]").find_map(|(at, attr)| {
        let rest = &code[at + attr.len()..];
        let head = &rest[..rest.find(['{', ';']).unwrap_or(rest.len())];
        let is_mod = head.split_whitespace().rev().nth(1) == Some("mod");
        (is_mod && rest[head.len()..].starts_with('{')).then_some(at)
    });
    code.truncate(test_module.unwrap_or(code.len()));
    code
}

/// Where the comment or literal starting at `i` ends, or `i` when none starts there.
fn literal_or_comment_end(c: &[char], i: usize) -> usize {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let find = |from: usize, what: &[char]| (from..c.len()).find(|&k| c[k..].starts_with(what));
    let word_before = || -> String {
        let word = c[..i]
            .iter()
            .rev()
            .take_while(|ch| ch.is_alphanumeric() || **ch == '_');
        word.collect()
    };
    match (at(i), at(i + 1)) {
        ('/', '/') => find(i, &['\n']).unwrap_or(c.len()),
        ('/', '*') => {
            let (mut depth, mut k) = (0, i);
            while k < c.len() {
                match (at(k), at(k + 1)) {
                    ('/', '*') => (depth, k) = (depth + 1, k + 2),
                    ('*', '/') if depth == 1 => return k + 2,
                    ('*', '/') => (depth, k) = (depth - 1, k + 2),
                    _ => k += 1,
                }
            }
            c.len()
        }
        ('"', _) => {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            (k + 1).min(c.len())
        }
        ('r', '"' | '#') if matches!(word_before().as_str(), "" | "b") => {
            let hashes = c[i + 1..].iter().take_while(|ch| **ch == '#').count();
            if at(i + 1 + hashes) != '"' {
                return i; // a raw identifier such as r#type
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            find(i + 2 + hashes, &close).map_or(c.len(), |k| k + close.len())
        }
        ('\'', '\\') => find(i + 3, &['\'']).map_or(c.len(), |k| k + 1),
        ('\'', _) if at(i + 2) == '\'' => i + 3,
        _ => i,
    }
}

/// The code's tokens with their line numbers: identifiers, `::`, and single other characters.
fn tokens(code: &str) -> Vec<(usize, &str)> {
    let (mut tokens, mut line, mut i) = (Vec::new(), 1, 0);
    let is_word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    while let Some(c) = code[i..].chars().next() {
        let len = match code.as_bytes()[i] {
            b if is_word(&b) => code.as_bytes()[i..]
                .iter()
                .take_while(|b| is_word(b))
                .count(),
            b':' if code[i..].starts_with("::") => 2,
            _ => c.len_utf8(),
        };
        if c == '\n' {
            line += 1;
        } else if !c.is_whitespace() {
            tokens.push((line, &code[i..i + len]));
        }
        i += len;
    }
    tokens
}

/// The first name after every path that starts at the crate root (`crate::`, or `depth` times
/// `super::`), with its line; a `{a::B, c}` group gives each of its items.
fn root_paths<'a>(tokens: &[(usize, &'a str)], depth: usize) -> Vec<(usize, &'a str)> {
    let text = |k: usize| tokens.get(k).map_or("", |t| t.1);
    let is_name =
        |word: &str| word.starts_with(|c: char| c.is_alphabetic() || c == '_') && word != "self";
    let mut found = Vec::new();
    for i in (0..tokens.len()).filter(|&i| i == 0 || text(i - 1) != "::") {
        let supers = (0..)
            .take_while(|n| text(i + 2 * n) == "super" && text(i + 2 * n + 1) == "::")
            .count();
        let name_at = match supers {
            0 if text(i) == "crate" && text(i + 1) == "::" => i + 2,
            n if n > 0 && n == depth => i + 2 * n,
            _ => continue,
        };
        if text(name_at) != "{" {
            found.extend(is_name(text(name_at)).then(|| tokens[name_at]));
            continue;
        }
        let mut nesting = 0;
        for k in name_at..tokens.len() {
            nesting += match text(k) {
                "{" => 1,
                "}" => -1,
                _ => 0,
            };
            if nesting == 0 {
                break;
            }
            if nesting == 1 && matches!(text(k), "{" | ",") && is_name(text(k + 1)) {
                found.push(tokens[k + 1]);
            }
        }
    }
    found
}

/// The module names of `lib.rs`'s `//!` layout list: the first backticked name of each item
/// (`//! - [`front_door`]: HTTP in and out.`), in order.
fn layout_list(lib: &str) -> Vec<&str> {
    lib.lines()
        .filter_map(|line| line.strip_prefix("//!")?.trim_start().strip_prefix("- "))
        .filter_map(|item| item.split('`').nth(1))
        .collect()
}

mod checker {
    use super::check;

    const ORDER: &[&str] = &["alert", "ledger", "execute"];
    const LIB: &str = "//! Flow:\n//!\n//! - [`alert`]: the alert.\n//!   More.\n//! - [`ledger`]: the \
                       ledger.\n//! - [`execute`]: the calls.\n\npub mod alert;\n";

    fn problems(files: &[(&str, &str)]) -> Vec<String> {
        let tree = [
            ("lib.rs", LIB),
            ("alert.rs", ""),
            ("ledger/mod.rs", ""),
            ("execute/mod.rs", ""),
        ];
        let mut all: Vec<(&str, &str)> = tree
            .into_iter()
            .filter(|(p, _)| !files.iter().any(|f| f.0 == *p))
            .collect();
        all.extend_from_slice(files);
        check(&all, ORDER)
    }

    #[test]
    fn a_tree_in_order_passes() {
        let ledger =
            "use crate::alert::Alert;\nuse super::alert;\nfn f() -> crate::Error { todo!() }";
        assert_eq!(
            problems(&[
                ("ledger/mod.rs", ledger),
                ("ledger/memory.rs", "use super::Store;")
            ]),
            [""; 0]
        );
    }

    #[test]
    fn a_back_edge_is_reported_with_every_place() {
        let alert = "use crate::ledger::Incident;\n\nfn f() { crate::ledger::g(); }";
        assert_eq!(
            problems(&[
                ("alert.rs", alert),
                ("ledger/memory.rs", "use super::super::execute::X;")
            ]),
            [
                "src/alert.rs:1: back-edge `alert` -> `ledger`: ORDER does not put `ledger` before `alert`",
                "src/alert.rs:3: back-edge `alert` -> `ledger`: ORDER does not put `ledger` before `alert`",
                "src/ledger/memory.rs:1: back-edge `ledger` -> `execute`: ORDER does not put `execute` before `ledger`",
            ]
        );
    }

    #[test]
    fn every_item_of_a_use_crate_group_counts() {
        let ledger = "use crate::{\n    alert::{Alert, Reason},\n    execute::Run,\n};";
        assert_eq!(
            problems(&[("ledger/mod.rs", ledger)]),
            [
                "src/ledger/mod.rs:3: back-edge `ledger` -> `execute`: ORDER does not put `execute` before `ledger`"
            ]
        );
    }

    #[test]
    fn comments_strings_and_test_modules_do_not_count() {
        // Only line 8 uses another module; everything before it hides `crate::execute`.
        let alert = r##"//! Uses crate::execute.
/// crate::execute
/* crate::execute /* nested */ crate::execute */
fn f<'a>(x: &'a str) -> char {
    let _ = ("crate::execute \" crate::execute", r#"crate::execute"#, b"crate::execute");
    '"'
}
fn g() -> crate::ledger::Id { '\'' }
#[cfg(test)]
mod tests {
    use crate::execute::Run;
}
"##;
        assert_eq!(
            problems(&[
                ("alert.rs", alert),
                ("ledger/tests.rs", "use crate::execute::X;")
            ]),
            [
                "src/alert.rs:8: back-edge `alert` -> `ledger`: ORDER does not put `ledger` before `alert`"
            ]
        );
    }

    #[test]
    fn only_the_execution_module_names_the_sdks() {
        let ledger = "use aws_sdk_dynamodb::Client;\n// aws_sdk_lambda in a comment\nuse aws_sdk_lambda::Client as L;";
        assert_eq!(
            problems(&[
                ("ledger/mod.rs", ledger),
                ("execute/mod.rs", "use aws_sdk_codedeploy::Client;")
            ]),
            ["src/ledger/mod.rs:3: names `aws_sdk_lambda`; only src/execute/ may"]
        );
        let sns = "use aws_sdk_sns::Client;";
        assert_eq!(
            problems(&[("ledger/mod.rs", sns), ("execute/mod.rs", sns)]),
            [
                "src/ledger/mod.rs:1: names `aws_sdk_sns`; only src/announce/, src/app/ and src/commands/serve.rs may",
                "src/execute/mod.rs:1: names `aws_sdk_sns`; only src/announce/, src/app/ and src/commands/serve.rs may"
            ]
        );
    }

    #[test]
    fn unlisted_and_missing_modules_and_a_stale_layout_list_are_reported() {
        let tree = [
            ("lib.rs", "//! - [`ledger`]: x\n//! - [`alert`]: y\n"),
            ("alert.rs", "use crate::rules::R;"),
            ("rules.rs", "use crate::alert::A;"),
        ];
        assert_eq!(
            check(&tree, ORDER),
            [
                "module `rules` is not listed in ORDER",
                "module `ledger` is listed in ORDER but src/ledger.rs and src/ledger/ do not exist",
                "module `execute` is listed in ORDER but src/execute.rs and src/execute/ do not exist",
                "src/alert.rs:1: back-edge `alert` -> `rules`: ORDER does not put `rules` before `alert`",
                "src/lib.rs's `//!` layout list names [\"ledger\", \"alert\"]; ORDER is [\"alert\", \"ledger\", \"execute\"]",
            ]
        );
    }
}
