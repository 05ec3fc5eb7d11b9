//! The SVG plots of the command line: one chart routine ([`line_chart`]), the colour of each
//! optimizer ([`color_of`], the same in every plot and every run), the x axes a study is
//! drawn against ([`XAxis`]: iterations, forward passes, wall time), and the Rosenbrock
//! study's plots ([`study_svg`]).
//!
//! On a logarithmic loss axis a value ≤ 0 has no place; such values (and positive ones below
//! the axis' floor) are drawn at the floor, marked with a ▼ in the line's colour, and the
//! legend says so ([`FLOOR_NOTE`]).

use super::output::median;
use super::rosenbrock::Series;
use super::{CliError, CliResult};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

/// The start of the legend entry of the values drawn at the floor of a log axis.
pub const FLOOR_NOTE: &str = "drawn at the floor";

/// The colours of the optimizers the command line knows (see [`color_of`]).
const KNOWN: [(&str, RGBColor); 6] = [
    ("fgd", RGBColor(230, 25, 75)),
    ("fomoh", RGBColor(0, 130, 200)),
    ("fomoh-bp", RGBColor(145, 30, 180)),
    ("newton", RGBColor(0, 0, 0)),
    ("sgd", RGBColor(170, 110, 40)),
    ("adam", RGBColor(60, 180, 75)),
];

/// The colours of `fomoh-kd:K`, from K = 2 on (K = 1 and K > 11 wrap around), and of any
/// other label (by its hash).
const MORE: [RGBColor; 10] = [
    RGBColor(245, 130, 48),
    RGBColor(240, 50, 230),
    RGBColor(0, 128, 128),
    RGBColor(0, 0, 128),
    RGBColor(128, 128, 0),
    RGBColor(128, 0, 0),
    RGBColor(128, 128, 128),
    RGBColor(70, 200, 220),
    RGBColor(200, 160, 0),
    RGBColor(100, 60, 160),
];

/// The colour of an optimizer's label (`fgd`, `fomoh-kd:4`, ...): a function of the label
/// alone, so an optimizer keeps its colour across plots and runs whatever the order or the
/// other optimizers. The known kinds have fixed colours, `fomoh-kd:K` one by K, anything
/// else one by a hash of the label (FNV-1a, stable across builds).
pub fn color_of(label: &str) -> RGBColor {
    if let Some((_, c)) = KNOWN.iter().find(|(name, _)| *name == label) {
        return *c;
    }
    let k = label.strip_prefix("fomoh-kd:").and_then(|k| k.parse::<usize>().ok());
    let i = match k {
        Some(k) => (k + MORE.len() - 2) % MORE.len(),
        None => {
            let h = label
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
            (h % MORE.len() as u64) as usize
        }
    };
    MORE[i]
}

/// One curve of a [`line_chart`].
pub struct Line {
    /// The legend entry (none: not in the legend).
    pub label: Option<String>,
    /// Its colour.
    pub color: RGBColor,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// The points.
    pub points: Vec<(f64, f64)>,
}

/// The axes and labels of a [`line_chart`].
pub struct Axes<'a, X, Y> {
    /// The chart's caption.
    pub title: &'a str,
    /// The x range (linear or `.log_scale()`).
    pub x: X,
    /// The y range.
    pub y: Y,
    /// The x axis label.
    pub x_desc: &'a str,
    /// The y axis label.
    pub y_desc: &'a str,
    /// Formats the x tick labels (default: plotters').
    pub x_fmt: Option<&'a dyn Fn(&f64) -> String>,
    /// Formats the y tick labels (default: plotters').
    pub y_fmt: Option<&'a dyn Fn(&f64) -> String>,
    /// Where the legend goes.
    pub legend: SeriesLabelPosition,
    /// The floor of a logarithmic y axis: lower values (≤ 0 among them) are drawn there,
    /// marked, with a legend entry saying so.
    pub floor: Option<f64>,
}

/// A plotting failure as a one-line error.
pub fn plot_err(e: impl std::fmt::Display) -> CliError {
    CliError(format!("plot: {e}"))
}

/// Draws `lines` in `area` with a mesh, axis labels and a legend; every SVG plot of the
/// command line goes through here.
pub fn line_chart<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    axes: Axes<'_, X, Y>,
    lines: &[Line],
) -> CliResult<()>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(axes.title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(axes.x, axes.y)
        .map_err(plot_err)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(axes.x_desc).y_desc(axes.y_desc);
    if let Some(f) = axes.x_fmt {
        mesh.x_label_formatter(f);
    }
    if let Some(f) = axes.y_fmt {
        mesh.y_label_formatter(f);
    }
    mesh.draw().map_err(plot_err)?;
    let mut floored_lines = Vec::new();
    for line in lines {
        let style = line.color.stroke_width(2);
        let (mut points, mut floored) = (line.points.clone(), Vec::new());
        if let Some(floor) = axes.floor {
            for p in &mut points {
                if p.1 < floor {
                    p.1 = floor;
                    floored.push(*p);
                }
            }
        }
        let drawn = if line.dashed {
            chart.draw_series(DashedLineSeries::new(points, 6, 4, style)).map_err(plot_err)?
        } else {
            chart.draw_series(LineSeries::new(points, style)).map_err(plot_err)?
        };
        if let Some(label) = &line.label {
            drawn
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        if !floored.is_empty() {
            floored_lines.push((line.color, floored));
        }
    }
    // Over the lines, with one legend entry (last) for all of them.
    for (i, (color, floored)) in floored_lines.into_iter().enumerate() {
        let marks = floored.into_iter().map(move |p| TriangleMarker::new(p, -5, color.filled()));
        let drawn = chart.draw_series(marks).map_err(plot_err)?;
        if i == 0 {
            let floor = axes.floor.unwrap_or_default();
            drawn
                .label(format!("{FLOOR_NOTE}: loss ≤ 0, or below {floor:.0e}"))
                .legend(|(x, y)| TriangleMarker::new((x + 10, y), -5, BLACK.filled()));
        }
    }
    chart
        .configure_series_labels()
        .position(axes.legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// What the x axis of a plot counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    /// Steps (Rosenbrock) or epochs (training).
    Steps,
    /// Forward passes so far (a gradient counts as one).
    Passes,
    /// Wall time so far.
    Time,
}

impl XAxis {
    /// Every x axis, in the order of the files.
    pub const ALL: [XAxis; 3] = [XAxis::Steps, XAxis::Passes, XAxis::Time];

    /// The file name of the plot of `name` against this axis (`name.svg`, `name_passes.svg`,
    /// `name_time.svg`).
    pub fn file(self, name: &str) -> String {
        match self {
            XAxis::Steps => format!("{name}.svg"),
            XAxis::Passes => format!("{name}_passes.svg"),
            XAxis::Time => format!("{name}_time.svg"),
        }
    }
}

/// The x value of iteration `t` of a series: the median over its runs that reached `t`.
fn median_x(ser: &Series, t: usize, x: XAxis) -> f64 {
    let at: Vec<f64> = ser
        .runs
        .iter()
        .filter_map(|r| match x {
            XAxis::Steps => Some(t as f64),
            XAxis::Passes => r.passes_at.get(t).map(|&p| p as f64),
            XAxis::Time => r.seconds_at.get(t).copied(),
        })
        .collect();
    median(&at)
}

/// The per-iteration median over seeds of each series (`+inf` where a run has diverged).
fn median_curves(series: &[Series], iters: usize) -> Vec<Vec<f64>> {
    series
        .iter()
        .map(|ser| {
            (0..=iters)
                .map(|t| {
                    let at: Vec<f64> =
                        ser.runs.iter().map(|r| r.losses.get(t).copied().unwrap_or(f64::INFINITY)).collect();
                    median(&at)
                })
                .collect()
        })
        .collect()
}

/// A Rosenbrock study's plot: the median loss over seeds against `x`, both axes logarithmic
/// (x: iteration + 1, forward passes + 1, or wall seconds from the first step on; the x of
/// a point is the median over seeds too).
pub fn study_svg(series: &[Series], iters: usize, title: &str, x: XAxis) -> CliResult<String> {
    let curves = median_curves(series, iters);
    let finite = curves.iter().flatten().copied().filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = finite.fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // Losses below 1e-12 and exact zeros (Newton reaches them) are drawn on the floor.
    let (lo, hi) = if lo.is_finite() { (lo.max(1e-12) / 2.0, hi.max(lo) * 2.0) } else { (1e-3, 1.0) };
    let lines: Vec<Line> = series
        .iter()
        .zip(&curves)
        .map(|(ser, curve)| Line {
            label: Some(ser.label.clone()),
            color: color_of(&ser.label),
            dashed: false,
            points: curve
                .iter()
                .enumerate()
                .take_while(|(_, v)| v.is_finite())
                .map(|(t, &v)| (median_x(ser, t, x), v))
                .filter(|&(px, _)| px.is_finite() && (x != XAxis::Time || px > 0.0))
                .map(|(px, v)| (if x == XAxis::Time { px } else { px + 1.0 }, v))
                .collect(),
        })
        .collect();
    let x_max = lines.iter().flat_map(|l| &l.points).map(|p| p.0).fold(0.0_f64, f64::max);
    let (x_lo, x_desc) = match x {
        XAxis::Steps => (1.0, "iteration + 1"),
        XAxis::Passes => (1.0, "forward passes + 1 (a gradient counts as one)"),
        XAxis::Time => {
            let first = lines.iter().flat_map(|l| &l.points).map(|p| p.0).fold(f64::INFINITY, f64::min);
            (if first.is_finite() { first / 1.5 } else { 1e-6 }, "wall time, seconds (from the first step)")
        }
    };
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let axes = Axes {
            title,
            x: (x_lo..(x_max * 1.2).max(x_lo * 2.0)).log_scale(),
            y: (lo..hi).log_scale(),
            x_desc,
            x_fmt: Some(if x == XAxis::Time {
                &|v: &f64| format!("{v:.0e}")
            } else {
                &|v: &f64| format!("{v:.0}")
            }),
            y_desc: "loss (median over seeds)",
            y_fmt: Some(&|v: &f64| format!("{v:.0e}")),
            legend: SeriesLabelPosition::LowerLeft,
            floor: Some(lo),
        };
        line_chart(&root, axes, &lines)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::rosenbrock::Run;

    #[test]
    fn colours_depend_on_the_label_alone() {
        let labels = ["fgd", "fomoh", "fomoh-bp", "newton", "sgd", "adam"];
        let kd: Vec<String> = (2..=11).map(|k| format!("fomoh-kd:{k}")).collect();
        let all: Vec<RGBColor> =
            labels.iter().copied().chain(kd.iter().map(String::as_str)).map(color_of).collect();
        let distinct: std::collections::HashSet<(u8, u8, u8)> = all.iter().map(|c| (c.0, c.1, c.2)).collect();
        assert_eq!(distinct.len(), all.len(), "the known kinds and fomoh-kd:2..=11 all differ");
        // A label the command line does not know still gets the same colour every time.
        assert_eq!(color_of("mystery"), color_of(&String::from("mystery")));
    }

    fn series(label: &str, losses: Vec<f64>) -> Series {
        let n = losses.len();
        let run = Run {
            seed: 0,
            losses,
            passes: n - 1,
            passes_at: (0..n as u64).collect(),
            seconds_at: (0..n).map(|t| t as f64 * 1e-3).collect(),
            gradient_evals: 0,
            fallbacks: 0,
            seconds: (n - 1) as f64 * 1e-3,
            diverged: None,
        };
        Series { label: label.into(), runs: vec![run] }
    }

    /// An exact zero is drawn at the floor and the legend says so; without one, no note.
    #[test]
    fn losses_at_or_below_zero_get_a_note() {
        let exact = [series("newton", vec![10.0, 1e-3, 0.0, 0.0]), series("fgd", vec![10.0, 5.0, 2.0, 1.0])];
        for x in XAxis::ALL {
            let svg = study_svg(&exact, 3, "t", x).unwrap();
            assert!(svg.contains(&format!("{FLOOR_NOTE}: loss ≤ 0")), "{x:?}");
            assert_eq!(svg.matches("<polygon").count(), 2 + 1, "{x:?}: two floored points and the legend's");
            let svg = study_svg(&exact[1..], 3, "t", x).unwrap();
            assert!(!svg.contains(FLOOR_NOTE) && !svg.contains("<polygon"), "{x:?}");
        }
    }
}
