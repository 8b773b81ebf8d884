//! The journal's part of a batch's write statement: each changed row moved by its net
//! change, rows the lock pass made and no line touched removed again, and the entries
//! and lines appended.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use super::apply::{Line, RowKey, Rows};
use super::{Write, Writes};
use crate::money::Wal;

/// Each row's net change over the batch (rows that did not change are left out).
fn row_changes(before: &Rows, after: &Rows) -> (Vec<String>, Vec<i16>, Vec<Decimal>) {
    let mut changes = (Vec::new(), Vec::new(), Vec::new());
    for ((account, stripe), balance) in after {
        let was = before.get(&(account.clone(), *stripe)).copied();
        let delta = balance.as_decimal() - was.unwrap_or(Wal::ZERO).as_decimal();
        if !delta.is_zero() {
            changes.0.push(account.clone());
            changes.1.push(*stripe);
            changes.2.push(delta);
        }
    }
    changes
}

/// Rows the lock pass made that no line of the batch touches: removed before COMMIT.
fn unused_rows<'a>(created: &'a BTreeSet<RowKey>, lines: &[(i64, Line)]) -> Vec<&'a RowKey> {
    let touched: BTreeSet<(&str, i16)> = lines
        .iter()
        .map(|(_, l)| (l.account.as_str(), l.stripe))
        .collect();
    created
        .iter()
        .filter(|(a, s)| !touched.contains(&(a.as_str(), *s)))
        .collect()
}

type LineColumns = (Vec<i64>, Vec<i16>, Vec<String>, Vec<i16>, Vec<Decimal>);

/// The lines as columns, numbered from 1 within each entry (as `journal_post` does).
fn line_columns(lines: &[(i64, Line)]) -> LineColumns {
    let mut columns: LineColumns = Default::default();
    let mut line_no = 0i16;
    for (i, (id, line)) in lines.iter().enumerate() {
        let same_entry = i > 0 && lines[i - 1].0 == *id;
        line_no = if same_entry { line_no + 1 } else { 1 };
        columns.0.push(*id);
        columns.1.push(line_no);
        columns.2.push(line.account.clone());
        columns.3.push(line.stripe);
        columns.4.push(line.amount.as_decimal());
    }
    columns
}

/// The journal's part of the write statement: each changed row moves by its net change,
/// rows made by the lock pass that no entry credited are removed again, and the entries
/// and lines are appended.
pub(super) fn push_journal(
    write: &mut Write<'static>,
    before: &Rows,
    after: &Rows,
    created: &BTreeSet<RowKey>,
    epoch: i64,
    writes: Writes,
) {
    let unused = unused_rows(created, &writes.lines);
    let moved = row_changes(before, after);
    let lines = line_columns(&writes.lines);
    write
        .cte("moved")
        .push("UPDATE balances b SET balance = b.balance + d.delta FROM unnest(")
        .push_bind(moved.0)
        .push("::text[], ")
        .push_bind(moved.1)
        .push("::smallint[], ")
        .push_bind(moved.2)
        .push("::numeric[]) AS d(account, stripe, delta)")
        .push(" WHERE b.account = d.account AND b.stripe = d.stripe)");
    write
        .cte("unused")
        .push("DELETE FROM balances b USING unnest(")
        .push_bind(unused.iter().map(|(a, _)| a.clone()).collect::<Vec<_>>())
        .push("::text[], ")
        .push_bind(unused.iter().map(|(_, s)| *s).collect::<Vec<_>>())
        .push("::smallint[]) AS u(account, stripe)")
        .push(" WHERE b.account = u.account AND b.stripe = u.stripe)");
    write
        .cte("entries")
        .push("INSERT INTO journal_entries (id, kind, epoch, actor, memo) OVERRIDING SYSTEM VALUE")
        .push(" SELECT u.id, u.kind, ")
        .push_bind(epoch)
        .push(", u.actor, u.memo FROM unnest(")
        .push_bind(writes.ids)
        .push("::bigint[], ")
        .push_bind(writes.kinds)
        .push("::text[], ")
        .push_bind(writes.actors)
        .push("::text[], ")
        .push_bind(writes.memos)
        .push("::text[]) AS u(id, kind, actor, memo))");
    write
        .cte("lines")
        .push("INSERT INTO journal_lines (entry_id, line_no, account, stripe, amount)")
        .push(" SELECT * FROM unnest(")
        .push_bind(lines.0)
        .push("::bigint[], ")
        .push_bind(lines.1)
        .push("::smallint[], ")
        .push_bind(lines.2)
        .push("::text[], ")
        .push_bind(lines.3)
        .push("::smallint[], ")
        .push_bind(lines.4)
        .push("::numeric[]))");
}
