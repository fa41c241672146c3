//! Server-rendered SVG charts: the handlers compute coordinates here, the
//! templates only print them (labels go through askama's escaping).

/// One coloured piece of a bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Left edge.
    pub x: u32,
    /// Width.
    pub width: u32,
    /// CSS class (`pass`, `fail`, `unknown`, `bar`).
    pub class: &'static str,
    /// Tooltip.
    pub title: String,
}

/// One row of a horizontal bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Label on the left (may come from an agent: escaped by the template).
    pub label: String,
    /// Top of the bar.
    pub y: u32,
    /// Baseline of the texts.
    pub text_y: u32,
    /// The bar's pieces.
    pub segments: Vec<Segment>,
    /// Number printed after the bar.
    pub value: String,
    /// Where it is printed.
    pub value_x: u32,
}

/// A horizontal bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// SVG width.
    pub width: u32,
    /// SVG height.
    pub height: u32,
    /// Rows, top to bottom.
    pub rows: Vec<Row>,
}

const LABEL_W: u32 = 170;
const BAR_W: u32 = 300;
const ROW_H: u32 = 22;

/// A chart of `(label, [(count, class)])` rows, bars scaled to the largest total.
pub fn stacked(rows: &[(String, Vec<(u64, &'static str)>)]) -> BarChart {
    let max = rows
        .iter()
        .map(|(_, parts)| parts.iter().map(|(n, _)| n).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let rows: Vec<Row> = rows
        .iter()
        .enumerate()
        .map(|(i, (label, parts))| {
            let y = i as u32 * ROW_H;
            let mut x = LABEL_W;
            let mut segments = Vec::new();
            for (n, class) in parts {
                let width = ((*n as f64 / max as f64) * BAR_W as f64).round() as u32;
                if *n > 0 {
                    segments.push(Segment {
                        x,
                        width: width.max(1),
                        class,
                        title: format!("{class}: {n}"),
                    });
                }
                x += width.max(u32::from(*n > 0));
            }
            let total: u64 = parts.iter().map(|(n, _)| n).sum();
            Row {
                label: label.chars().take(28).collect(),
                y,
                text_y: y + 14,
                segments,
                value: total.to_string(),
                value_x: x + 6,
            }
        })
        .collect();
    BarChart {
        width: LABEL_W + BAR_W + 60,
        height: (rows.len() as u32 * ROW_H).max(ROW_H),
        rows,
    }
}

/// A plain bar chart of `(label, count)`.
pub fn bars(rows: &[(String, u64)]) -> BarChart {
    let rows: Vec<(String, Vec<(u64, &'static str)>)> = rows
        .iter()
        .map(|(l, n)| (l.clone(), vec![(*n, "bar")]))
        .collect();
    stacked(&rows)
}

/// One point of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// X.
    pub x: u32,
    /// Y.
    pub y: u32,
    /// Tooltip.
    pub title: String,
}

/// A line chart with a 0-100 % scale.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// SVG width.
    pub width: u32,
    /// SVG height.
    pub height: u32,
    /// `x,y x,y ...` for the polyline.
    pub points: String,
    /// The points, for markers and tooltips.
    pub markers: Vec<Point>,
    /// First day shown.
    pub first_label: String,
    /// Last day shown.
    pub last_label: String,
}

/// A percentage over `days` slots (`(slot, percent, tooltip)`; missing
/// slots are gaps in the markers, the line joins the known points).
pub fn percent_line(
    days: u32,
    values: &[(u32, f64, String)],
    first: String,
    last: String,
) -> LineChart {
    let (w, h, pad) = (600u32, 160u32, 10u32);
    let step = (w - 2 * pad) as f64 / days.saturating_sub(1).max(1) as f64;
    let markers: Vec<Point> = values
        .iter()
        .map(|(slot, pct, title)| Point {
            x: pad + (*slot as f64 * step).round() as u32,
            y: pad + ((100.0 - pct.clamp(0.0, 100.0)) / 100.0 * (h - 2 * pad) as f64).round() as u32,
            title: title.clone(),
        })
        .collect();
    let points = markers
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    LineChart {
        width: w,
        height: h,
        points,
        markers,
        first_label: first,
        last_label: last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_row() {
        let c = bars(&[("a".into(), 10), ("b".into(), 5), ("c".into(), 0)]);
        assert_eq!(c.rows[0].segments[0].width, BAR_W);
        assert_eq!(c.rows[1].segments[0].width, BAR_W / 2);
        assert!(c.rows[2].segments.is_empty());
        assert_eq!(c.height, 3 * ROW_H);
    }

    #[test]
    fn the_line_maps_percent_to_height() {
        let c = percent_line(
            30,
            &[(0, 100.0, "t".into()), (29, 0.0, "u".into())],
            "a".into(),
            "b".into(),
        );
        assert_eq!(c.points, "10,10 590,150");
    }
}
