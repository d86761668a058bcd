//! PNG figures drawn with plotters. Text uses an embedded DejaVu Sans (plotters' `ab_glyph`
//! backend), so figures render the same on a machine without any system font.

use crate::analysis::Analysis;
use crate::train::EpochMetrics;
use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor;
use std::path::Path;

/// Size in pixels of `curves.png` (two panels side by side).
pub const CURVES_SIZE: (u32, u32) = (1500, 680);
/// Size in pixels of `k_by_block.png`.
pub const K_SIZE: (u32, u32) = (1100, 620);
/// Size in pixels of `error_vs_params.png`.
pub const ERROR_PARAMS_SIZE: (u32, u32) = (1100, 720);

static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
const SANS: &str = "sans-serif";

/// Registers the embedded font under the family names plotters asks for. Idempotent.
pub fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for family in ["sans-serif", "serif", "monospace"] {
            // Cannot fail for the bundled file; a broken font would show as missing text.
            let _ = plotters::style::register_font(family, FontStyle::Normal, FONT);
        }
    });
}

/// Matplotlib's "tab10" colours.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

const EULER_COLOR: RGBColor = RGBColor(31, 119, 180);
const LM_COLOR: RGBColor = RGBColor(214, 39, 40);
const STABLE_COLOR: RGBColor = RGBColor(44, 160, 44);

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Converts a plotters error (whose type borrows the backend) into an owned message.
fn pe<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn draw_to_file(path: &Path, size: (u32, u32), draw: impl FnOnce(&Area) -> Result<()>) -> Result<()> {
    register_fonts();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(pe)?;
    draw(&root)?;
    root.present().map_err(pe)?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Axes of a chart in the house style: caption, axis descriptions, a light grid.
struct Frame<'t> {
    title: &'t str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_desc: &'t str,
    y_desc: &'t str,
    /// Number of x labels and their text, when the defaults do not fit.
    x_labels: Option<(usize, &'t dyn Fn(&f64) -> String)>,
}

fn framed<'a, 'b>(area: &'a Area<'b>, frame: Frame) -> Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(frame.title, (SANS, 26))
        .margin(16)
        .x_label_area_size(52)
        .y_label_area_size(74)
        .build_cartesian_2d(frame.x, frame.y)
        .map_err(pe)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(frame.x_desc)
        .y_desc(frame.y_desc)
        .label_style((SANS, 16))
        .axis_desc_style((SANS, 18))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225));
    if let Some((n, fmt)) = frame.x_labels {
        mesh.x_labels(n).x_label_formatter(fmt);
    }
    mesh.draw().map_err(pe)?;
    Ok(chart)
}

/// Draws the series legend (`entries` lines of about `chars` characters) in the corner of the
/// plot that hides the fewest of `pts`; ties go to the first corner of `prefer`.
fn legend_off_the_data<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    pts: &[(f64, f64)],
    (x, y): ((f64, f64), (f64, f64)),
    (entries, chars): (usize, usize),
    size: (u32, u32),
    prefer: [(bool, bool); 4],
) -> Result<()> {
    let frac = legend_fraction(entries, chars, (size.0 - 110, size.1 - 120));
    draw_series_legend(chart, emptiest_corner(pts, x, y, frac, prefer))
}

/// One run's learning curves.
pub struct CurveSeries<'a> {
    pub label: String,
    pub metrics: &'a [EpochMetrics],
}

/// `curves.png`: error (%) and loss by epoch, train dashed, test solid, one colour per run; the
/// legend is a strip under both panels so it never hides a curve.
pub fn curves(path: &Path, runs: &[CurveSeries]) -> Result<()> {
    draw_to_file(path, CURVES_SIZE, |root| {
        let rows = legend_rows(root, runs)?;
        let strip = 16 + 26 * rows.len() as u32;
        let (plots, legend) = root.split_vertically(CURVES_SIZE.1 - strip);
        let (left, right) = plots.split_horizontally(CURVES_SIZE.0 / 2);
        curve_panel(&left, runs, "Classification error", "error (%)", |m| {
            (100.0 * (1.0 - m.train_acc), 100.0 * (1.0 - m.test_acc))
        })?;
        curve_panel(&right, runs, "Cross-entropy loss", "loss", |m| (m.train_loss, m.test_loss))?;
        draw_legend_rows(&legend, &rows)
    })
    .with_context(|| format!("drawing {}", path.display()))
}

/// A legend entry of the curves figure: `Some(colour)` for a run, `None` for the line-style key.
type LegendItem = (Option<RGBColor>, bool, String);

const KEY_W: i32 = 30;
const LEGEND_FONT: u32 = 16;

/// Legend entries laid out in rows that fit the figure width.
fn legend_rows(root: &Area, runs: &[CurveSeries]) -> Result<Vec<Vec<(i32, LegendItem)>>> {
    let mut items: Vec<LegendItem> =
        vec![(None, false, "test (solid)".into()), (None, true, "train (dashed)".into())];
    items.extend(runs.iter().enumerate().map(|(i, r)| (Some(color(i)), false, r.label.clone())));
    let style = TextStyle::from((SANS, LEGEND_FONT).into_font());
    let max_w = CURVES_SIZE.0 as i32 - 60;
    let mut rows: Vec<Vec<(i32, LegendItem)>> = vec![Vec::new()];
    let mut x = 0;
    for item in items {
        let (w, _) = root.estimate_text_size(&item.2, &style).map_err(pe)?;
        let width = KEY_W + 8 + w as i32 + 28;
        if x > 0 && x + width > max_w {
            rows.push(Vec::new());
            x = 0;
        }
        rows.last_mut().expect("one row").push((x, item));
        x += width;
    }
    Ok(rows)
}

fn draw_legend_rows(area: &Area, rows: &[Vec<(i32, LegendItem)>]) -> Result<()> {
    let style = TextStyle::from((SANS, LEGEND_FONT).into_font()).color(&RGBColor(30, 30, 30));
    let left = 60;
    for (r, row) in rows.iter().enumerate() {
        let y = 12 + 26 * r as i32;
        for (x, (c, dashed, label)) in row {
            let x = left + x;
            let c = c.unwrap_or(BLACK);
            let seg = vec![(x, y), (x + KEY_W, y)];
            if *dashed {
                area.draw(&DashedPathElement::new(seg, 7, 4, c.stroke_width(2))).map_err(pe)?;
            } else {
                area.draw(&PathElement::new(seg, c.stroke_width(3))).map_err(pe)?;
            }
            let anchored =
                style.pos(text_anchor::Pos::new(text_anchor::HPos::Left, text_anchor::VPos::Center));
            area.draw(&Text::new(label.clone(), (x + KEY_W + 8, y), anchored)).map_err(pe)?;
        }
    }
    Ok(())
}

fn curve_panel(
    area: &Area,
    runs: &[CurveSeries],
    title: &str,
    y_desc: &str,
    value: impl Fn(&EpochMetrics) -> (f64, f64),
) -> Result<()> {
    let max_epoch = runs.iter().flat_map(|r| r.metrics.iter().map(|m| m.epoch)).max().unwrap_or(1) as i32;
    // Small runs: a little room on both sides so the end markers are not clipped.
    let x_range = if max_epoch <= 20 { 0..max_epoch + 1 } else { 0..max_epoch };
    let y_max = runs
        .iter()
        .flat_map(|r| r.metrics.iter().map(&value))
        .flat_map(|(a, b)| [a, b])
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (SANS, 26))
        .margin(14)
        .x_label_area_size(52)
        .y_label_area_size(74)
        .build_cartesian_2d(x_range, 0.0..y_max)
        .map_err(pe)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .label_style((SANS, 16))
        .axis_desc_style((SANS, 18))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()
        .map_err(pe)?;
    let markers = max_epoch <= 15;
    for (i, run) in runs.iter().enumerate() {
        let c = color(i);
        let train: Vec<(i32, f64)> = run.metrics.iter().map(|m| (m.epoch as i32, value(m).0)).collect();
        let test: Vec<(i32, f64)> = run.metrics.iter().map(|m| (m.epoch as i32, value(m).1)).collect();
        chart.draw_series(DashedLineSeries::new(train.clone(), 9, 6, c.stroke_width(2))).map_err(pe)?;
        chart.draw_series(LineSeries::new(test.clone(), c.stroke_width(3))).map_err(pe)?;
        if markers {
            chart.draw_series(test.iter().map(|&p| Circle::new(p, 4, c.filled()))).map_err(pe)?;
            chart.draw_series(train.iter().map(|&p| Circle::new(p, 4, c.stroke_width(2)))).map_err(pe)?;
        }
    }
    Ok(())
}

/// One network's learned k_n.
pub struct KSeries<'a> {
    pub label: String,
    pub analysis: &'a Analysis,
}

/// `k_by_block.png`: k_n by global block index, the zero-stable band −1 < k ≤ 1 shaded, k = 0
/// (ResNet) dashed; per-channel k as mean with a min–max bar. Stage boundaries are drawn when
/// all series share one layout.
pub fn k_by_block(path: &Path, title: &str, series: &[KSeries]) -> Result<()> {
    k_by_block_against(path, title, series, None)
}

/// [`k_by_block`] with the range of k_n a published figure shows, drawn as two dotted lines.
pub fn k_by_block_against(
    path: &Path,
    title: &str,
    series: &[KSeries],
    published: Option<(f64, f64)>,
) -> Result<()> {
    draw_to_file(path, K_SIZE, |root| k_chart(root, title, series, published))
        .with_context(|| format!("drawing {}", path.display()))
}

fn k_chart(root: &Area, title: &str, series: &[KSeries], published: Option<(f64, f64)>) -> Result<()> {
    let blocks = series.iter().map(|s| s.analysis.num_blocks).max().unwrap_or(1).max(1);
    let (x0, x1) = (0.5, blocks as f64 + 0.5);
    let (p_lo, p_hi) = published.unwrap_or((-1.0, 1.0));
    let k_lo = series.iter().flat_map(|s| s.analysis.steps.iter().map(|t| t.k_min)).fold(p_lo.min(-1.0), f64::min);
    let k_hi = series.iter().flat_map(|s| s.analysis.steps.iter().map(|t| t.k_max)).fold(p_hi.max(1.0), f64::max);
    let pad = 0.12 * (k_hi - k_lo);
    let (y0, y1) = (k_lo - pad, k_hi + pad);
    let int_label = |x: &f64| {
        if (x - x.round()).abs() < 1e-6 { format!("{}", x.round() as i64) } else { String::new() }
    };
    let mut chart = framed(
        root,
        Frame {
            title,
            x: x0..x1,
            y: y0..y1,
            x_desc: "residual block (global index, 1-based)",
            y_desc: "learned k_n",
            x_labels: Some((blocks.min(24) + 1, &int_label)),
        },
    )?;

    // The zero-stable band and its bounds.
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(x0, -1.0), (x1, 1.0)],
            STABLE_COLOR.mix(0.12).filled(),
        )))
        .map_err(pe)?
        .label("zero-stable: -1 < k <= 1")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 24, y + 6)], STABLE_COLOR.mix(0.3).filled()));
    for bound in [-1.0, 1.0] {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, bound), (x1, bound)],
                8,
                5,
                STABLE_COLOR.stroke_width(2),
            ))
            .map_err(pe)?;
    }
    chart
        .draw_series(DashedLineSeries::new(
            vec![(x0, 0.0), (x1, 0.0)],
            4,
            4,
            RGBColor(90, 90, 90).stroke_width(1),
        ))
        .map_err(pe)?
        .label("k = 0 (ResNet, forward Euler)")
        .legend(|(x, y)| {
            DashedPathElement::new(vec![(x, y), (x + 24, y)], 4, 3, RGBColor(90, 90, 90).stroke_width(1))
        });

    if let Some((lo, hi)) = published {
        let c = RGBColor(120, 60, 160);
        for (i, bound) in [lo, hi].into_iter().enumerate() {
            let drawn = chart
                .draw_series(DashedLineSeries::new(vec![(x0, bound), (x1, bound)], 2, 4, c.stroke_width(2)))
                .map_err(pe)?;
            if i == 0 {
                drawn.label(format!("paper's figure: k_n within [{lo}, {hi}]")).legend(move |(x, y)| {
                    DashedPathElement::new(vec![(x, y), (x + 24, y)], 2, 3, c.stroke_width(2))
                });
            }
        }
    }

    // Stage boundaries, when every network has the same layout.
    let layout = series.first().map(|s| s.analysis.depths.clone()).unwrap_or_default();
    if !layout.is_empty() && series.iter().all(|s| s.analysis.depths == layout) {
        let mut start = 0usize;
        for (stage, depth) in layout.iter().enumerate() {
            if stage > 0 {
                let x = start as f64 + 0.5;
                chart
                    .draw_series(LineSeries::new(
                        vec![(x, y0), (x, y1)],
                        RGBColor(150, 150, 150).stroke_width(1),
                    ))
                    .map_err(pe)?;
            }
            let mid = start as f64 + (*depth as f64 + 1.0) / 2.0;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("stage {stage}"),
                    (mid, y1 - 0.02 * (y1 - y0)),
                    (SANS, 15)
                        .into_font()
                        .color(&RGBColor(110, 110, 110))
                        .pos(text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Top)),
                )))
                .map_err(pe)?;
            start += depth;
        }
    }

    let n = series.len();
    for (i, s) in series.iter().enumerate() {
        let c = color(i);
        // Side by side when several networks share a block.
        let dx = if n > 1 { (i as f64 - (n as f64 - 1.0) / 2.0) * (0.5 / n as f64).min(0.12) } else { 0.0 };
        let steps = &s.analysis.steps;
        let pt = |t: &crate::analysis::StepAnalysis| (t.position.block as f64 + dx, t.k_mean);
        // Lines join the steps of one stage (step 0 of a stage is Euler: no k).
        let stages: std::collections::BTreeSet<usize> = steps.iter().map(|t| t.position.stage).collect();
        for stage in stages {
            let pts: Vec<(f64, f64)> = steps.iter().filter(|t| t.position.stage == stage).map(pt).collect();
            chart.draw_series(LineSeries::new(pts, c.stroke_width(2))).map_err(pe)?;
        }
        for t in steps.iter().filter(|t| t.channels > 1) {
            let (x, _) = pt(t);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, t.k_min), (x, t.k_max)],
                    c.mix(0.6).stroke_width(2),
                )))
                .map_err(pe)?;
        }
        let per_channel = steps.iter().any(|t| t.channels > 1);
        let label =
            if per_channel { format!("{} (mean, min-max over channels)", s.label) } else { s.label.clone() };
        chart
            .draw_series(steps.iter().map(|t| Circle::new(pt(t), 5, c.filled())))
            .map_err(pe)?
            .label(label)
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], c.stroke_width(2))
                    + Circle::new((12, 0), 5, c.filled())
            });
    }
    let mut pts = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let dx = if n > 1 { (i as f64 - (n as f64 - 1.0) / 2.0) * (0.5 / n as f64).min(0.12) } else { 0.0 };
        let steps = &s.analysis.steps;
        for t in steps {
            let x = t.position.block as f64 + dx;
            pts.extend(sample((x, t.k_min), (x, t.k_max), 10));
        }
        for w in steps.windows(2).filter(|w| w[0].position.stage == w[1].position.stage) {
            let a = (w[0].position.block as f64 + dx, w[0].k_mean);
            let b = (w[1].position.block as f64 + dx, w[1].k_mean);
            pts.extend(sample(a, b, 20));
        }
    }
    let longest = series.iter().map(|s| s.label.len() + 34).max().unwrap_or(0).max(30);
    legend_off_the_data(
        &mut chart,
        &pts,
        ((x0, x1), (y0, y1)),
        (series.len() + 2 + published.is_some() as usize, longest),
        K_SIZE,
        [(false, false), (true, false), (false, true), (true, true)],
    )?;
    Ok(())
}

/// One run in the error-versus-size figure.
pub struct ParamPoint {
    pub label: String,
    pub params: usize,
    pub lm: bool,
    /// Test error (%) after the last epoch.
    pub final_error: f64,
    /// Lowest test error (%) of any epoch.
    pub best_error: f64,
}

/// `error_vs_params.png`: test error against trainable parameters, one point per run (filled:
/// final epoch, hollow: best epoch), blue circles for ResNet, red triangles for LM-ResNet; a
/// thin line per scheme joins the mean final error at each model size.
pub fn error_vs_params(path: &Path, title: &str, points: &[ParamPoint]) -> Result<()> {
    draw_to_file(path, ERROR_PARAMS_SIZE, |root| params_chart(root, title, points))
        .with_context(|| format!("drawing {}", path.display()))
}

fn params_chart(root: &Area, title: &str, points: &[ParamPoint]) -> Result<()> {
    let max_p = points.iter().map(|p| p.params).max().unwrap_or(1).max(1) as f64;
    let (unit, scale) = if max_p >= 1e6 { ("M", 1e6) } else { ("K", 1e3) };
    let xs: Vec<f64> = points.iter().map(|p| p.params as f64 / scale).collect();
    let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    // Sizes within 5% of each other (ResNet-20 vs LM-ResNet-20: 6 parameters apart) are one size.
    let span = if hi - lo > 0.05 * hi { hi - lo } else { hi.abs().max(1e-3) * 0.2 };
    let (lo, hi) = if hi - lo > 0.05 * hi { (lo, hi) } else { ((lo + hi) / 2.0, (lo + hi) / 2.0) };
    // Labels go right of the points: leave more room on the right.
    let (x0, x1) = ((lo - 0.25 * span).max(0.0), hi + 0.6 * span);
    let errs = points.iter().flat_map(|p| [p.final_error, p.best_error]).filter(|e| e.is_finite());
    let (elo, ehi) = errs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), e| (a.min(e), b.max(e)));
    let (elo, ehi) = if elo.is_finite() { (elo, ehi) } else { (0.0, 100.0) };
    let espan = if ehi > elo { ehi - elo } else { 2.0 };
    let (y0, y1) = ((elo - 0.2 * espan).max(0.0), (ehi + 0.2 * espan).min(100.0));
    let x_desc = format!("trainable parameters ({unit})");
    let decimals = (-(span / 4.0).log10()).ceil().clamp(0.0, 6.0) as usize;
    let x_fmt = move |x: &f64| format!("{x:.decimals$}");
    let mut chart = framed(
        root,
        Frame { title, x: x0..x1, y: y0..y1, x_desc: &x_desc, y_desc: "test error (%)", x_labels: Some((10, &x_fmt)) },
    )?;

    // Per scheme: mean final error at each size, joined left to right.
    for lm in [false, true] {
        let mut by_size: std::collections::BTreeMap<usize, Vec<f64>> = Default::default();
        for p in points.iter().filter(|p| p.lm == lm) {
            by_size.entry(p.params).or_default().push(p.final_error);
        }
        if by_size.len() >= 2 {
            let line: Vec<(f64, f64)> = by_size
                .iter()
                .map(|(&n, e)| (n as f64 / scale, e.iter().sum::<f64>() / e.len() as f64))
                .collect();
            let c = if lm { LM_COLOR } else { EULER_COLOR };
            chart.draw_series(LineSeries::new(line, c.mix(0.5).stroke_width(2))).map_err(pe)?;
        }
    }
    // Best-to-final bars, then the markers.
    for (p, &x) in points.iter().zip(&xs) {
        let c = if p.lm { LM_COLOR } else { EULER_COLOR };
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, p.best_error), (x, p.final_error)],
                c.mix(0.4),
            )))
            .map_err(pe)?;
    }
    // Hollow best-epoch markers first (plotters fills every triangle: hollow = white inside a
    // coloured one), so that no white centre hides another run's final marker.
    for (p, &x) in points.iter().zip(&xs) {
        let c = if p.lm { LM_COLOR } else { EULER_COLOR };
        let best = (x, p.best_error);
        if p.lm {
            chart.draw_series([
                TriangleMarker::new(best, 9, c.filled()),
                TriangleMarker::new(best, 5, WHITE.filled()),
            ])
        } else {
            chart.draw_series([Circle::new(best, 7, c.filled()), Circle::new(best, 5, WHITE.filled())])
        }
        .map_err(pe)?;
    }
    let mut legend_done = [false, false];
    for (p, &x) in points.iter().zip(&xs) {
        let (c, name) = if p.lm {
            (LM_COLOR, "LM-ResNet (linear two-step)")
        } else {
            (EULER_COLOR, "ResNet (forward Euler)")
        };
        let last = (x, p.final_error);
        let drawn = if p.lm {
            chart.draw_series([TriangleMarker::new(last, 9, c.filled())])
        } else {
            chart.draw_series([Circle::new(last, 7, c.filled())])
        }
        .map_err(pe)?;
        let slot = &mut legend_done[p.lm as usize];
        if !*slot {
            *slot = true;
            let drawn = drawn.label(name);
            if p.lm {
                drawn.legend(move |(x, y)| TriangleMarker::new((x + 12, y), 8, c.filled()));
            } else {
                drawn.legend(move |(x, y)| Circle::new((x + 12, y), 7, c.filled()));
            }
        }
    }
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(pe)?
        .label("filled: final epoch")
        .legend(|(x, y)| Circle::new((x + 12, y), 6, RGBColor(60, 60, 60).filled()));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(pe)?
        .label("hollow: best epoch")
        .legend(|(x, y)| {
            EmptyElement::at((x + 12, y))
                + Circle::new((0, 0), 6, RGBColor(60, 60, 60).filled())
                + Circle::new((0, 0), 4, WHITE.filled())
        });
    // Points and the right ends of their labels, to keep the legend off them.
    let plot_px = (ERROR_PARAMS_SIZE.0 - 110, ERROR_PARAMS_SIZE.1 - 120);
    let mut pts = Vec::new();
    for (p, &x) in points.iter().zip(&xs) {
        let label_w = (20.0 + 8.0 * p.label.len() as f64) / plot_px.0 as f64 * (x1 - x0);
        pts.extend(sample((x, p.final_error), (x + label_w, p.final_error), 10));
        pts.extend(sample((x, p.best_error), (x, p.final_error), 10));
    }
    legend_off_the_data(
        &mut chart,
        &pts,
        ((x0, x1), (y0, y1)),
        (4, 30),
        ERROR_PARAMS_SIZE,
        [(true, true), (true, false), (false, true), (false, false)],
    )?;

    // Run labels right of the final-error markers, moved up or down to avoid each other.
    let style = TextStyle::from((SANS, 15).into_font()).color(&RGBColor(40, 40, 40));
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        xs[a].total_cmp(&xs[b]).then(points[a].final_error.total_cmp(&points[b].final_error))
    });
    for i in order {
        let (px, py) = chart.backend_coord(&(xs[i], points[i].final_error));
        let (w, h) = root.estimate_text_size(&points[i].label, &style).map_err(pe)?;
        let (w, h) = (w as i32, h as i32);
        let overlaps =
            |x: i32, y: i32| placed.iter().any(|&(a, b, c, d)| x < c && x + w > a && y < d && y + h > b);
        let x = px + 11;
        let mut y = py - h / 2;
        for k in 0..40 {
            let shift = (k + 1) / 2 * (h + 2) * if k % 2 == 0 { 1 } else { -1 };
            let cand = py - h / 2 + shift;
            if !overlaps(x, cand) {
                y = cand;
                break;
            }
        }
        placed.push((x, y, x + w, y + h));
        root.draw(&Text::new(points[i].label.clone(), (x, y), style.clone())).map_err(pe)?;
    }
    Ok(())
}

/// The corner of the plot whose legend-sized box covers the fewest of `pts` (data coordinates);
/// `w`, `h`: the legend's size as fractions of the plot; ties go to the first of `prefer`.
/// The boxed series legend of a chart, placed at `corner`.
fn draw_series_legend<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    corner: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(corner)
        .label_font((SANS, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()
        .map_err(pe)
}

fn emptiest_corner(
    pts: &[(f64, f64)],
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    (w, h): (f64, f64),
    prefer: [(bool, bool); 4],
) -> SeriesLabelPosition {
    let covered = |&(right, upper): &(bool, bool)| {
        pts.iter()
            .filter(|&&(x, y)| {
                let in_x = if right { x >= x1 - w * (x1 - x0) } else { x <= x0 + w * (x1 - x0) };
                let in_y = if upper { y >= y1 - h * (y1 - y0) } else { y <= y0 + h * (y1 - y0) };
                in_x && in_y
            })
            .count()
    };
    let best = prefer.iter().min_by_key(|c| covered(c)).copied().unwrap_or((true, true));
    match best {
        (true, true) => SeriesLabelPosition::UpperRight,
        (false, true) => SeriesLabelPosition::UpperLeft,
        (true, false) => SeriesLabelPosition::LowerRight,
        (false, false) => SeriesLabelPosition::LowerLeft,
    }
}

/// `n` + 1 evenly spaced points from `a` to `b`.
fn sample(a: (f64, f64), b: (f64, f64), n: usize) -> impl Iterator<Item = (f64, f64)> {
    (0..=n).map(move |i| {
        let t = i as f64 / n as f64;
        (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
    })
}

/// Rough legend size as fractions of a plot of `plot_px` pixels: `entries` rows, the longest
/// label `chars` characters long.
fn legend_fraction(entries: usize, chars: usize, plot_px: (u32, u32)) -> (f64, f64) {
    let w = 60.0 + 8.5 * chars as f64;
    let h = 16.0 + 20.0 * entries as f64;
    ((w + 20.0) / plot_px.0 as f64, (h + 20.0) / plot_px.1 as f64)
}

/// One architecture family (e.g. ResNet or LM-ResNet) in a reproduction figure.
pub struct FamilySeries {
    pub label: String,
    pub lm: bool,
    /// Measured points: (x, mean test error %, standard deviation over seeds).
    pub measured: Vec<(f64, f64, f64)>,
    /// The published points: (x, test error %).
    pub paper: Vec<(f64, f64)>,
}

/// Size in pixels of the reproduction figures.
pub const FAMILY_SIZE: (u32, u32) = (1100, 700);

/// Test error against `x_desc` (depth or parameters) for each family: measured means joined by
/// a solid line with ±1 std bars, the paper's points hollow on a dashed line, LM in red and
/// Euler (ResNet) in blue.
pub fn family_errors(path: &Path, title: &str, x_desc: &str, series: &[FamilySeries]) -> Result<()> {
    draw_to_file(path, FAMILY_SIZE, |root| family_chart(root, title, x_desc, series))
        .with_context(|| format!("drawing {}", path.display()))
}

fn family_chart(root: &Area, title: &str, x_desc: &str, series: &[FamilySeries]) -> Result<()> {
    let xs = series.iter().flat_map(|s| s.measured.iter().map(|p| p.0).chain(s.paper.iter().map(|p| p.0)));
    let (xlo, xhi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let ys = series.iter().flat_map(|s| {
        s.measured.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]).chain(s.paper.iter().map(|p| p.1))
    });
    let (ylo, yhi) = ys.filter(|y| y.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    if !xlo.is_finite() || !ylo.is_finite() {
        anyhow::bail!("no point to draw");
    }
    // Sizes within 5% of each other (ResNet-20 vs LM-ResNet-20) get a readable span around them.
    let narrow = xhi - xlo <= 0.05 * xhi.abs();
    let xspan = if narrow { xhi.abs().max(1e-3) * 0.2 } else { xhi - xlo };
    let (x0, x1) = if narrow {
        let mid = (xlo + xhi) / 2.0;
        (mid - 0.6 * xspan, mid + 0.6 * xspan)
    } else {
        (xlo - 0.08 * xspan, xhi + 0.08 * xspan)
    };
    let yspan = if yhi > ylo { yhi - ylo } else { 1.0 };
    let (y0, y1) = ((ylo - 0.15 * yspan).max(0.0), (yhi + 0.15 * yspan).min(100.0));
    let decimals = (-(xspan / 4.0).log10()).ceil().clamp(0.0, 6.0) as usize;
    let x_fmt = move |x: &f64| format!("{x:.decimals$}");
    let mut chart = framed(
        root,
        Frame { title, x: x0..x1, y: y0..y1, x_desc, y_desc: "test error (%)", x_labels: Some((10, &x_fmt)) },
    )?;
    let mut pts = Vec::new();
    for s in series {
        let c = if s.lm { LM_COLOR } else { EULER_COLOR };
        let mut measured = s.measured.clone();
        measured.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut paper = s.paper.clone();
        paper.sort_by(|a, b| a.0.total_cmp(&b.0));
        if !measured.is_empty() {
            chart
                .draw_series(LineSeries::new(measured.iter().map(|p| (p.0, p.1)), c.stroke_width(2)))
                .map_err(pe)?
                .label(format!("{} (measured, mean ± std)", s.label))
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (24, 0)], c.stroke_width(2))
                        + Circle::new((12, 0), 5, c.filled())
                });
            for &(x, m, sd) in &measured {
                chart
                    .draw_series([PathElement::new(vec![(x, m - sd), (x, m + sd)], c.stroke_width(2))])
                    .map_err(pe)?;
                chart.draw_series([Circle::new((x, m), 5, c.filled())]).map_err(pe)?;
                pts.extend(sample((x, m - sd), (x, m + sd), 6));
            }
            pts.extend(measured.windows(2).flat_map(|w| sample((w[0].0, w[0].1), (w[1].0, w[1].1), 12)));
        }
        if !paper.is_empty() {
            chart
                .draw_series(DashedLineSeries::new(paper.clone(), 6, 4, c.mix(0.7).stroke_width(1)))
                .map_err(pe)?
                .label(format!("{} (paper)", s.label))
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + DashedPathElement::new(vec![(0, 0), (24, 0)], 4, 3, c.stroke_width(1))
                        + Circle::new((12, 0), 6, c.filled())
                        + Circle::new((12, 0), 4, WHITE.filled())
                });
            for &p in &paper {
                chart.draw_series([Circle::new(p, 6, c.filled()), Circle::new(p, 4, WHITE.filled())]).map_err(pe)?;
            }
            pts.extend(paper.windows(2).flat_map(|w| sample(w[0], w[1], 12)));
            pts.extend(paper.iter().copied());
        }
    }
    let longest = series.iter().map(|s| s.label.len() + 26).max().unwrap_or(30);
    legend_off_the_data(
        &mut chart,
        &pts,
        ((x0, x1), (y0, y1)),
        (2 * series.len(), longest),
        FAMILY_SIZE,
        [(true, true), (true, false), (false, true), (false, false)],
    )?;
    Ok(())
}
