//! `/prices`: per-epoch charts of the WAL prices (storage and write) with the clamp band
//! each could move in, the committee's USD quantile votes and the oracle's rate.

use axum::extract::State;
use axum::Json;
use maud::{html, Markup};
use rust_decimal::Decimal;

use crate::error::Error;
use crate::explorer::chart::{line_chart, percent, Band, Series, Source};
use crate::explorer::layout::{or_dash, page as frame, value, Section};
use crate::explorer::Page;
use crate::http::explore::{HistoryQuery, PriceHistory};
use crate::http::extract::ApiQuery;
use crate::http::{self, AppState};
use crate::pricing::history::PricePoint;

/// Epochs the charts show.
const EPOCHS_SHOWN: i64 = 50;

/// `GET /prices`.
pub async fn page(State(state): State<AppState>) -> Page {
    render(state).await.into()
}

async fn render(state: AppState) -> Result<Markup, Error> {
    let query = HistoryQuery {
        from: None,
        limit: Some(EPOCHS_SHOWN),
    };
    let Json(history) = http::explore::prices(State(state.clone()), ApiQuery(query)).await?;
    let mut conn = state.pool.acquire().await?;
    let params = crate::params::load(&mut conn).await?;
    drop(conn);
    let url = format!("/v1/prices/history?limit={EPOCHS_SHOWN}");
    let price_clamp = percent(params.price_change_max);
    let rate_clamp = percent(params.rate_change_max);
    let body = html! {
        p { "Prices are fixed per epoch at its change: the committee's shard-weighted 2/3 quantile of USD votes, \
             divided by the oracle's WAL/USD rate, each clamped to ±" (price_clamp) " (prices) and ±" (rate_clamp)
             " (rate) of the epoch before: the shaded band is what the clamp allowed." }
        div.charts {
            (wal_chart(&history, &url, "Storage price", "storage_price", "storage_price_band", &price_clamp))
            (wal_chart(&history, &url, "Write price", "write_price", "write_price_band", &price_clamp))
            (usd_chart(&history, &url))
            (rate_chart(&history, &url, &rate_clamp))
        }
        h2 { "Latest epochs" }
        (table(&history, &url))
    };
    Ok(frame("Prices", Section::Prices, body))
}

fn source(url: &str, y: &str) -> Source {
    Source {
        url: url.into(),
        path: "epochs".into(),
        x: "epoch".into(),
        y: y.into(),
    }
}

fn series(
    history: &PriceHistory,
    url: &str,
    y: &str,
    label: &str,
    class: &'static str,
    pick: impl Fn(&PricePoint) -> Option<Decimal>,
) -> Series {
    Series {
        label: label.into(),
        class,
        source: source(url, y),
        points: history
            .epochs
            .iter()
            .filter_map(|p| Some((p.epoch, pick(p)?)))
            .collect(),
    }
}

fn band(
    history: &PriceHistory,
    url: &str,
    field: &str,
    label: String,
    pick: impl Fn(&PricePoint) -> Option<(Decimal, Decimal)>,
) -> Band {
    Band {
        label,
        source: source(url, &format!("{field}.low")),
        high: format!("{field}.high"),
        points: history
            .epochs
            .iter()
            .filter_map(|p| pick(p).map(|(low, high)| (p.epoch, low, high)))
            .collect(),
    }
}

fn wal_chart(
    history: &PriceHistory,
    url: &str,
    title: &str,
    field: &'static str,
    band_field: &str,
    clamp: &str,
) -> Markup {
    let storage = field == "storage_price";
    let line = series(history, url, field, title, "s1", |p| {
        if storage {
            p.prices.storage_price
        } else {
            p.prices.write_price
        }
        .map(|w| w.as_decimal())
    });
    let allowed = band(
        history,
        url,
        band_field,
        format!("allowed (±{clamp})"),
        |p| {
            if storage {
                p.storage_price_band
            } else {
                p.write_price_band
            }
            .map(|b| (b.low.as_decimal(), b.high.as_decimal()))
        },
    );
    let unit = if storage {
        "WAL per MiB encoded per epoch"
    } else {
        "WAL per MiB encoded, once"
    };
    line_chart(title, unit, &[line], Some(&allowed))
}

fn usd_chart(history: &PriceHistory, url: &str) -> Markup {
    let storage = series(
        history,
        url,
        "storage_usd",
        "storage (per epoch)",
        "s1",
        |p| p.prices.storage_usd,
    );
    let write = series(history, url, "write_usd", "write (once)", "s2", |p| {
        p.prices.write_usd
    });
    line_chart(
        "Committee's USD quantile",
        "USD per MiB encoded",
        &[storage, write],
        None,
    )
}

fn rate_chart(history: &PriceHistory, url: &str, clamp: &str) -> Markup {
    let rate = series(history, url, "wal_usd", "WAL/USD", "s1", |p| {
        Some(p.prices.wal_usd)
    });
    let allowed = band(
        history,
        url,
        "wal_usd_band",
        format!("allowed (±{clamp})"),
        |p| p.wal_usd_band.map(|b| (b.low, b.high)),
    );
    line_chart("Oracle rate", "USD per WAL", &[rate], Some(&allowed))
}

fn table(history: &PriceHistory, url: &str) -> Markup {
    let n = history.epochs.len();
    html! {
        div.scroll { table {
            thead { tr { th { "Epoch" } th.num { "Storage (WAL)" } th.num { "Write (WAL)" }
                th.num { "Storage vote (USD)" } th.num { "Write vote (USD)" } th.num { "WAL/USD" } th.num { "Observations" } } }
            tbody {
                @for (i, p) in history.epochs.iter().enumerate().rev().take(10) {
                    @let key = |field: &str| format!("epochs.{i}.{field}");
                    tr {
                        td { (value(url, &key("epoch"), p.epoch)) }
                        td.num { (value(url, &key("storage_price"), or_dash(p.prices.storage_price))) }
                        td.num { (value(url, &key("write_price"), or_dash(p.prices.write_price))) }
                        td.num { (value(url, &key("storage_usd"), or_dash(p.prices.storage_usd))) }
                        td.num { (value(url, &key("write_usd"), or_dash(p.prices.write_usd))) }
                        td.num { (value(url, &key("wal_usd"), p.prices.wal_usd)) }
                        td.num { (value(url, &key("observations"), p.prices.observations)) }
                    }
                }
            }
        } }
        @if n == 0 { (crate::explorer::layout::none_yet("no epoch yet")) }
    }
}
