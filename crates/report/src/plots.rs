//! SVG plots: the weight histogram of clean vs flipped training rows, and the
//! learned meta-net as a curve of weight against loss.
//!
//! SVG keeps text as text, so the plots need no font files and the same data
//! gives the same file.

use std::path::Path;

use plotters::prelude::*;

use crate::ReportError;

const BINS: usize = 20;

/// One method's learned weighting, sampled at increasing losses.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightCurve {
    pub label: String,
    /// (loss, weight) points, losses ascending.
    pub points: Vec<(f64, f64)>,
}

/// Draws the fraction of clean and of flipped rows per weight bin on [0, 1].
pub fn plot_weight_histogram(
    path: &Path,
    title: &str,
    clean: &[f32],
    flipped: &[f32],
) -> Result<(), ReportError> {
    let plot_error = |message: String| ReportError::Plot {
        path: path.display().to_string(),
        message,
    };
    let clean_share = bin_shares(clean);
    let flipped_share = bin_shares(flipped);
    let top = clean_share
        .iter()
        .chain(&flipped_share)
        .fold(0.0f64, |a, b| a.max(*b))
        .max(0.05)
        * 1.1;

    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0f64..1.0, 0.0f64..top)
        .map_err(|e| plot_error(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("weight")
        .y_desc("share of rows")
        .draw()
        .map_err(|e| plot_error(e.to_string()))?;

    let width = 1.0 / BINS as f64;
    for (shares, color, label, offset) in [
        (&clean_share, BLUE, "clean", 0.0),
        (&flipped_share, RED, "flipped", 0.5),
    ] {
        let bars = shares.iter().enumerate().map(move |(bin, share)| {
            let left = bin as f64 * width + offset * width;
            Rectangle::new([(left, 0.0), (left + width / 2.0, *share)], color.filled())
        });
        chart
            .draw_series(bars)
            .map_err(|e| plot_error(e.to_string()))?
            .label(format!(
                "{label} ({} rows)",
                if offset == 0.0 {
                    clean.len()
                } else {
                    flipped.len()
                }
            ))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(|e| plot_error(e.to_string()))?;
    root.present().map_err(|e| plot_error(e.to_string()))
}

/// Draws each curve as a line of weight against loss.
pub fn plot_weight_curves(
    path: &Path,
    title: &str,
    curves: &[WeightCurve],
) -> Result<(), ReportError> {
    let plot_error = |message: String| ReportError::Plot {
        path: path.display().to_string(),
        message,
    };
    let max_loss = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(0.0f64, f64::max)
        .max(1e-6);

    let root = SVGBackend::new(path, (640, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0f64..max_loss, 0.0f64..1.0)
        .map_err(|e| plot_error(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("per-example loss")
        .y_desc("weight V(loss)")
        .draw()
        .map_err(|e| plot_error(e.to_string()))?;

    for (index, curve) in curves.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| plot_error(e.to_string()))?
            .label(curve.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(|e| plot_error(e.to_string()))?;
    root.present().map_err(|e| plot_error(e.to_string()))
}

/// Shares of `weights` in `BINS` equal bins on [0, 1]; weight 1 falls in the last bin.
fn bin_shares(weights: &[f32]) -> Vec<f64> {
    let mut counts = vec![0usize; BINS];
    for weight in weights {
        let bin = ((weight.clamp(0.0, 1.0) as f64) * BINS as f64) as usize;
        counts[bin.min(BINS - 1)] += 1;
    }
    let total = weights.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_shares_sum_to_one() {
        let shares = bin_shares(&[0.0, 0.49, 0.5, 1.0]);
        assert_eq!(shares.len(), BINS);
        assert_eq!(shares[0], 0.25);
        assert_eq!(shares[9], 0.25);
        assert_eq!(shares[10], 0.25);
        assert_eq!(shares[BINS - 1], 0.25);
        assert!(bin_shares(&[]).iter().all(|s| *s == 0.0));
    }

    #[test]
    fn histogram_writes_svg_with_legend() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.svg");
        plot_weight_histogram(&path, "cw-erm", &[0.8, 0.9, 0.7], &[0.2, 0.6]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(texts.contains(&"clean (3 rows)"), "legend lists clean rows");
        assert!(
            texts.contains(&"flipped (2 rows)"),
            "legend lists flipped rows"
        );
    }

    #[test]
    fn curves_write_one_line_per_method() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.svg");
        let curve = |label: &str, slope: f64| WeightCurve {
            label: label.into(),
            points: (0..10)
                .map(|i| (i as f64 * 0.5, 1.0 / (1.0 + (slope * i as f64).exp())))
                .collect(),
        };
        plot_weight_curves(&path, "V", &[curve("cw-erm", 0.5), curve("w-erm", 1.0)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(texts.contains(&"cw-erm"), "legend lists cw-erm");
        assert!(texts.contains(&"w-erm"), "legend lists w-erm");
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let error = plot_weight_histogram(Path::new("/nonexistent-dir/x.svg"), "t", &[0.5], &[0.5])
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent-dir/x.svg"), "{error}");
    }
}
