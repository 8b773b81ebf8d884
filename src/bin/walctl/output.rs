//! walctl's output: every command prints one JSON object with `--json`, or a text
//! rendering of it; `s` is the field formatter the text renderers share.

use serde_json::Value;

use crate::cli::Cli;

/// Prints `value` as JSON with `--json`, else as `text` renders it.
pub fn print(cli: &Cli, value: &Value, text: impl FnOnce(&Value) -> String) {
    if cli.json {
        println!("{value}");
    } else {
        println!("{}", text(value));
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
