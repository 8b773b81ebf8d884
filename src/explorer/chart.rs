//! Charts as inline SVG, drawn on the server: no script, no external asset. Each data
//! point carries its exact value (`data-x`, `data-y`) and each series names the JSON it
//! was drawn from (`data-src`, `data-path`, `data-x`, `data-y`), so a reader (or the
//! browser test) can check a chart against the API. Decimals become floats only for the
//! geometry; every number printed is the exact value, in its shortest form (as the API
//! writes amounts and rates).

use maud::{html, Markup};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// The SVG's coordinate box, in user units.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
/// Room for the axis labels around the plot area.
const LEFT: f64 = 86.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Where a series' values come from in the public API.
#[derive(Clone, Debug)]
pub struct Source {
    /// The API URL the page read (same origin).
    pub url: String,
    /// The list in that JSON, as a dotted path (`epochs`).
    pub path: String,
    /// The field of each item on the x axis (`epoch`).
    pub x: String,
    /// The field of each item on the y axis (`storage_price`, `storage_price_band.low`).
    pub y: String,
}

/// One line of a chart: its points in x order, items whose y is null left out.
#[derive(Clone, Debug)]
pub struct Series {
    /// The legend's text.
    pub label: String,
    /// A CSS class for its colour (`s1`, `s2`, `band`).
    pub class: &'static str,
    /// Where it was read from.
    pub source: Source,
    /// (x, y) points.
    pub points: Vec<(i64, Decimal)>,
}

/// The shaded range a value was allowed (a clamp band): (x, low, high) points.
#[derive(Clone, Debug)]
pub struct Band {
    /// The legend's text.
    pub label: String,
    /// Where the band was read from; `y` names the low field, `high` the high one.
    pub source: Source,
    /// The field of each item with the band's upper bound.
    pub high: String,
    /// (x, low, high) points.
    pub points: Vec<(i64, Decimal, Decimal)>,
}

/// A linear map of `value` from `domain` onto `range` (either may run backwards); a
/// domain of one point maps to the range's middle.
pub fn project(value: f64, domain: (f64, f64), range: (f64, f64)) -> f64 {
    let span = domain.1 - domain.0;
    if span.abs() < f64::EPSILON {
        return (range.0 + range.1) / 2.0;
    }
    range.0 + (value - domain.0) / span * (range.1 - range.0)
}

fn float(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

/// The y domain: every value and band bound, widened a little so lines stay off the edges.
fn y_domain(series: &[Series], band: Option<&Band>) -> (f64, f64) {
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| float(p.1)))
        .chain(band.into_iter().flat_map(|b| {
            b.points
                .iter()
                .flat_map(|&(_, low, high)| [float(low), float(high)])
        }));
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((high - low) * 0.08).max(high.abs() * 0.02).max(1e-9);
    (
        (low - pad).max(if low >= 0.0 { 0.0 } else { f64::MIN }),
        high + pad,
    )
}

fn x_domain(series: &[Series], band: Option<&Band>) -> (f64, f64) {
    let xs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(band.into_iter().flat_map(|b| b.points.iter().map(|p| p.0)));
    let (low, high) = xs.fold((i64::MAX, i64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if low > high {
        return (0.0, 1.0);
    }
    (low as f64, high as f64)
}

/// The plot area's pixel ranges: x left to right, y bottom to top.
const X_RANGE: (f64, f64) = (LEFT, WIDTH - RIGHT);
const Y_RANGE: (f64, f64) = (HEIGHT - BOTTOM, TOP);

/// A line chart over epochs with an optional band; `unit` labels the y axis.
pub fn line_chart(title: &str, unit: &str, series: &[Series], band: Option<&Band>) -> Markup {
    let (xd, yd) = (x_domain(series, band), y_domain(series, band));
    let at = |x: i64, y: Decimal| {
        (
            project(x as f64, xd, X_RANGE),
            project(float(y), yd, Y_RANGE),
        )
    };
    html! {
        figure.chart {
            figcaption { (title) " " span.unit { "(" (unit) ")" } }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(title) {
                (axes(xd, yd))
                @if let Some(band) = band { (band_polygon(band, &at)) }
                @for s in series { (series_line(s, &at)) }
            }
            (legend(series, band))
        }
    }
}

fn axes(xd: (f64, f64), yd: (f64, f64)) -> Markup {
    html! {
        g.axes {
            line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH - RIGHT) y2=(HEIGHT - BOTTOM) {}
            line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(HEIGHT - BOTTOM) {}
            text x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" { (short(yd.1)) }
            text x=(LEFT - 6.0) y=(HEIGHT - BOTTOM) text-anchor="end" { (short(yd.0)) }
            text x=(LEFT) y=(HEIGHT - 8.0) { "epoch " (xd.0) }
            text x=(WIDTH - RIGHT) y=(HEIGHT - 8.0) text-anchor="end" { "epoch " (xd.1) }
        }
    }
}

/// An axis label: about four significant digits (the points carry exact values).
fn short(value: f64) -> String {
    format!("{value:.4e}")
        .parse::<f64>()
        .map_or_else(|_| value.to_string(), |v| v.to_string())
}

fn series_line(s: &Series, at: &impl Fn(i64, Decimal) -> (f64, f64)) -> Markup {
    let path: Vec<String> = s
        .points
        .iter()
        .map(|&(x, y)| {
            let (px, py) = at(x, y);
            format!("{px:.1},{py:.1}")
        })
        .collect();
    html! {
        g class={ "series " (s.class) } data-src=(s.source.url) data-path=(s.source.path)
            data-x=(s.source.x) data-y=(s.source.y) {
            polyline points=(path.join(" ")) {}
            @for &(x, y) in &s.points {
                @let (px, py) = at(x, y);
                circle cx=(format!("{px:.1}")) cy=(format!("{py:.1}")) r="3" data-x=(x) data-y=(y.normalize()) {
                    title { "epoch " (x) ": " (y.normalize()) }
                }
            }
        }
    }
}

fn band_polygon(band: &Band, at: &impl Fn(i64, Decimal) -> (f64, f64)) -> Markup {
    let upper = band.points.iter().map(|&(x, _, high)| at(x, high));
    let lower = band.points.iter().rev().map(|&(x, low, _)| at(x, low));
    let outline: Vec<String> = upper
        .chain(lower)
        .map(|(px, py)| format!("{px:.1},{py:.1}"))
        .collect();
    html! {
        g.band data-src=(band.source.url) data-path=(band.source.path)
            data-x=(band.source.x) data-low=(band.source.y) data-high=(band.high) {
            polygon points=(outline.join(" ")) {}
            @for &(x, low, high) in &band.points {
                rect.bound x="0" y="0" width="0" height="0" data-x=(x) data-low=(low.normalize()) data-high=(high.normalize()) {}
            }
        }
    }
}

fn legend(series: &[Series], band: Option<&Band>) -> Markup {
    html! {
        ul.legend {
            @for s in series { li class=(s.class) { (s.label) } }
            @if let Some(b) = band { li.band { (b.label) } }
        }
    }
}

/// One bar of a bar chart: its label (the x value as the JSON has it) and value.
#[derive(Clone, Debug)]
pub struct Bar {
    /// The x value, as text (`data-x`).
    pub label: String,
    /// The bar's value.
    pub value: Decimal,
}

/// Vertical bars from 0 to `max` (or the largest value): shards per node, pass rates.
pub fn bar_chart(
    title: &str,
    unit: &str,
    source: &Source,
    bars: &[Bar],
    max: Option<Decimal>,
) -> Markup {
    let top = max
        .or_else(|| bars.iter().map(|b| b.value).max())
        .filter(|m| *m > Decimal::ZERO)
        .unwrap_or(Decimal::ONE);
    let slot = (WIDTH - LEFT - RIGHT) / bars.len().max(1) as f64;
    html! {
        figure.chart {
            figcaption { (title) " " span.unit { "(" (unit) ")" } }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(title) {
                (axes_bars(top))
                g.series.bars data-src=(source.url) data-path=(source.path)
                    data-x=(source.x) data-y=(source.y) {
                    @for (i, bar) in bars.iter().enumerate() {
                        @let y = project(float(bar.value), (0.0, float(top)), Y_RANGE);
                        @let x = LEFT + slot * i as f64 + slot * 0.15;
                        rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{:.1}", slot * 0.7))
                            height=(format!("{:.1}", (HEIGHT - BOTTOM - y).max(0.0)))
                            data-x=(bar.label) data-y=(bar.value.normalize()) {
                            title { (bar.label) ": " (bar.value.normalize()) }
                        }
                        @if bars.len() <= 40 {
                            text x=(format!("{:.1}", x + slot * 0.35)) y=(HEIGHT - BOTTOM + 14.0)
                                text-anchor="middle" { (bar.label) }
                        }
                    }
                }
            }
        }
    }
}

fn axes_bars(top: Decimal) -> Markup {
    html! {
        g.axes {
            line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH - RIGHT) y2=(HEIGHT - BOTTOM) {}
            line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(HEIGHT - BOTTOM) {}
            text x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" { (top) }
            text x=(LEFT - 6.0) y=(HEIGHT - BOTTOM) text-anchor="end" { "0" }
        }
    }
}

/// A horizontal gauge: `value` of 0..=1 filled, a tick at `mark` (a quorum, a threshold).
pub fn gauge(label: &str, value: Decimal, mark: Decimal, mark_label: &str) -> Markup {
    let fill = float(value.clamp(Decimal::ZERO, Decimal::ONE)) * 300.0;
    let tick = float(mark.clamp(Decimal::ZERO, Decimal::ONE)) * 300.0;
    html! {
        div.gauge {
            span.gauge-label { (label) }
            svg viewBox="0 0 300 14" role="img" aria-label={ (label) " " (value) " against " (mark_label) " " (mark) } {
                rect.track x="0" y="2" width="300" height="10" {}
                rect.fill x="0" y="2" width=(format!("{fill:.1}")) height="10" data-value=(value) {}
                line.mark x1=(format!("{tick:.1}")) y1="0" x2=(format!("{tick:.1}")) y2="14" data-value=(mark) {}
            }
            span.gauge-value { (percent(value)) " (" (mark_label) " " (percent(mark)) ")" }
        }
    }
}

/// A fraction as a percentage with two decimals, rounded down (`0.3345` → `33.45%`).
pub fn percent(fraction: Decimal) -> String {
    let p = (fraction * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero)
        .normalize();
    format!("{p}%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decimal() -> impl Strategy<Value = Decimal> {
        (0i64..10_000_000_000, 0u32..10).prop_map(|(m, s)| Decimal::new(m, s))
    }

    proptest! {
        /// Every projected point lies in the plot area, and a larger value is never drawn lower.
        #[test]
        fn points_stay_in_the_plot_and_keep_their_order(
            values in proptest::collection::vec(decimal(), 1..40),
        ) {
            let points: Vec<(i64, Decimal)> =
                values.iter().enumerate().map(|(i, v)| (i as i64, *v)).collect();
            let series = vec![Series {
                label: "s".into(), class: "s1",
                source: Source { url: "/".into(), path: "e".into(), x: "x".into(), y: "y".into() },
                points: points.clone(),
            }];
            let (xd, yd) = (x_domain(&series, None), y_domain(&series, None));
            let mut drawn: Vec<(Decimal, f64)> = Vec::new();
            for &(x, y) in &points {
                let px = project(x as f64, xd, X_RANGE);
                let py = project(float(y), yd, Y_RANGE);
                prop_assert!((LEFT - 1e-6..=WIDTH - RIGHT + 1e-6).contains(&px), "x {px}");
                prop_assert!((TOP - 1e-6..=HEIGHT - BOTTOM + 1e-6).contains(&py), "y {py}");
                drawn.push((y, py));
            }
            for a in &drawn {
                for b in &drawn {
                    if a.0 > b.0 { prop_assert!(a.1 <= b.1 + 1e-9); }
                }
            }
        }

        /// The chart has one circle per point, each with its exact value.
        #[test]
        fn a_chart_carries_every_point(values in proptest::collection::vec(decimal(), 0..20)) {
            let points: Vec<(i64, Decimal)> =
                values.iter().enumerate().map(|(i, v)| (i as i64 + 3, *v)).collect();
            let series = [Series {
                label: "s".into(), class: "s1",
                source: Source { url: "/".into(), path: "e".into(), x: "x".into(), y: "y".into() },
                points: points.clone(),
            }];
            let svg = line_chart("t", "u", &series, None).into_string();
            prop_assert_eq!(svg.matches("<circle").count(), points.len());
            for (x, y) in points {
                let point = format!("data-x=\"{x}\" data-y=\"{}\"", y.normalize());
                prop_assert!(svg.contains(&point));
            }
        }

        /// A percentage never rounds up past the fraction.
        #[test]
        fn percent_rounds_down(m in 0i64..1_000_000_000) {
            let fraction = Decimal::new(m, 9);
            let shown: Decimal = percent(fraction).trim_end_matches('%').parse().unwrap();
            prop_assert!(shown / Decimal::ONE_HUNDRED <= fraction);
            prop_assert!(fraction - shown / Decimal::ONE_HUNDRED < Decimal::new(1, 4));
        }
    }
}
