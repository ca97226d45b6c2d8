//! Learning curves as a small self-contained SVG file.

use super::CliResult;
use graft::nn::train::EpochRecord;
use std::fmt::Write as _;
use std::path::Path;

const W: f64 = 640.0;
const H: f64 = 360.0;
const PAD: f64 = 48.0;

/// Draws train loss, validation loss and validation accuracy per epoch (epochs of consecutive
/// phases continue on one axis; a dashed line marks each phase change) and writes it atomically.
pub fn write_curves(path: &Path, title: &str, phases: &[(String, Vec<EpochRecord>)]) -> CliResult<()> {
    let epochs: Vec<&EpochRecord> = phases.iter().flat_map(|(_, e)| e.iter()).collect();
    if epochs.is_empty() {
        return Ok(());
    }
    let n = epochs.len() as f64;
    let x = |i: usize| PAD + (W - 2.0 * PAD) * if n > 1.0 { i as f64 / (n - 1.0) } else { 0.5 };
    let max_loss = epochs
        .iter()
        .flat_map(|e| [Some(e.train_loss), e.val_loss])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(1e-6f32, f32::max) as f64;
    let y_loss = |v: f32| H - PAD - (H - 2.0 * PAD) * (v as f64 / max_loss);
    let y_acc = |v: f32| H - PAD - (H - 2.0 * PAD) * v as f64;
    let line = |vals: Vec<Option<f32>>, y: &dyn Fn(f32) -> f64| -> String {
        vals.iter()
            .enumerate()
            .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| format!("{:.1},{:.1}", x(i), y(v))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{PAD}" y="20" font-size="14">{}</text>"#, escape(title));
    let _ = writeln!(
        s,
        r#"<line x1="{PAD}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/><line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{y0}" stroke="black"/>"#,
        y0 = H - PAD,
        x1 = W - PAD
    );
    let _ = writeln!(s, r#"<text x="{}" y="{}">epoch</text>"#, W / 2.0, H - 12.0);
    let _ = writeln!(s, r#"<text x="4" y="{}">{max_loss:.3}</text><text x="4" y="{}">0</text>"#, PAD + 4.0, H - PAD);
    // Accuracy shares the plot: 0 at the bottom, 1 at the top, labelled on the right.
    let _ = writeln!(s, r##"<text x="{}" y="{}" fill="#2ca02c">acc 1</text>"##, W - PAD + 4.0, PAD + 4.0);
    let mut at = 0;
    for (name, e) in phases {
        if at > 0 {
            let _ = writeln!(
                s,
                r#"<line x1="{0:.1}" y1="{PAD}" x2="{0:.1}" y2="{1}" stroke="gray" stroke-dasharray="4"/>"#,
                x(at),
                H - PAD
            );
        }
        let _ = writeln!(s, r#"<text x="{:.1}" y="{}" fill="gray">{}</text>"#, x(at) + 4.0, PAD - 6.0, escape(name));
        at += e.len();
    }
    let series = [
        ("train loss", "#1f77b4", line(epochs.iter().map(|e| Some(e.train_loss)).collect(), &y_loss)),
        ("val loss", "#ff7f0e", line(epochs.iter().map(|e| e.val_loss).collect(), &y_loss)),
        ("val accuracy (0..1)", "#2ca02c", line(epochs.iter().map(|e| e.val_metric).collect(), &y_acc)),
    ];
    for (i, (label, colour, points)) in series.iter().enumerate().filter(|(_, (_, _, p))| !p.is_empty()) {
        let _ = writeln!(s, r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" fill="{colour}">{label}</text>"#,
            W - PAD - 150.0,
            PAD + 16.0 * i as f64
        );
    }
    s.push_str("</svg>\n");
    write_atomic(path, s.as_bytes())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Writes through a temporary file in the same directory and renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create the folder: {e}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("graft")));
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: cannot write: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    Ok(())
}
