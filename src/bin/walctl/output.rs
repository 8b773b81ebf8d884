//! walctl's output: every command prints one JSON object with `--json`, or a text
//! rendering of it; `s` is the field formatter the text renderers share.

use serde_json::Value;

use crate::cli::Cli;

/// Prints `value` as JSON with `--json`, else as `text` renders it.
pub fn print(cli: &Cli, value: &Value, text: impl FnOnce(&Value) -> String) {
    let line = if cli.json {
        value.to_string()
    } else {
        text(value)
    };
    line_to_stdout(&line);
}

/// One line on stdout. A reader that closed the pipe (`walctl ... | head`) gets
/// nothing more and no panic; the command still ends with its own exit code (so a
/// failed `audit | grep -q` still fails).
pub fn line_to_stdout(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("walctl: cannot write to stdout: {e}");
        }
    }
}

/// A field as text: strings bare, null as `-`, anything else as JSON.
pub fn s(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::String(text) => text.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The line that points at the next page of a listing, if there is one.
pub fn more_line(page: &Value) -> Option<String> {
    page["next_cursor"]
        .as_str()
        .map(|cursor| format!("more: --cursor {cursor}"))
}
