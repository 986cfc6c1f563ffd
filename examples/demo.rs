//! The redis-mavg demo: a year of Seattle air temperatures through a server.
//!
//! Reads `data/seattle-temps.csv` (hourly readings for 2010, see
//! `data/SOURCE.md`), adds every reading in order to one key with
//! `MAVG.ADD seattle:temp WINDOW 24 <value>`, and reads the key's 24-hour
//! moving average with `MAVG.AVG` after each add. It then prints one row per
//! month and writes an SVG line chart of the raw series and its moving
//! average.
//!
//! The server must have the module loaded; `scripts/demo.sh` starts one.
//!
//! ```text
//! cargo run --release --example demo -- [--url URL] [--data CSV] [--svg SVG]
//! ```
//!
//! The file holds, in order: arguments, reading the CSV, talking to the
//! server, the monthly table, and the SVG chart.

use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use redis::{Connection, Value};

/// Every fallible step of the demo returns this.
type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The key the demo writes; it is deleted first so reruns start empty.
const KEY: &str = "seattle:temp";

/// The moving-average window: 24 hourly readings, one day.
const WINDOW: usize = 24;

/// Readings sent per pipeline round trip (each one an ADD and an AVG).
const BATCH: usize = 500;

/// Month names, January first, for the table and the chart's ticks.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
    "Nov", "Dec",
];

fn main() {
    if let Err(err) = run() {
        eprintln!("demo: {err}");
        std::process::exit(1);
    }
}

/// Loads the data, streams it through the server, prints, and draws.
fn run() -> Result<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    let readings = load_readings(&args.data)?;
    if readings.is_empty() {
        return Err(format!("{}: no readings", args.data.display()).into());
    }

    let client = redis::Client::open(args.url.as_str())?;
    let mut con = client.get_connection()?;
    let averages = stream_readings(&mut con, &readings)?;

    print_table(&readings, &averages);
    print_check(&readings, &averages);
    write_chart(&args.svg, &readings, &averages)?;
    println!("\nwrote {}", args.svg.display());
    Ok(())
}

// ---------------------------------------------------------------- arguments

/// Command-line options, each with a default.
struct Args {
    /// The server, as a `redis://` URL.
    url: String,
    /// The CSV file to read.
    data: PathBuf,
    /// Where to write the SVG chart.
    svg: PathBuf,
}

impl Args {
    /// Reads `--url`, `--data` and `--svg`, each followed by its value.
    ///
    /// The paths default to the files in this repository, wherever the demo
    /// is run from.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut parsed = Args {
            url: "redis://127.0.0.1:6379/".to_string(),
            data: repo.join("data/seattle-temps.csv"),
            svg: repo.join("docs/seattle-24h.svg"),
        };
        while let Some(flag) = args.next() {
            let value =
                args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--url" => parsed.url = value,
                "--data" => parsed.data = value.into(),
                "--svg" => parsed.svg = value.into(),
                _ => return Err(format!("unknown option {flag}").into()),
            }
        }
        Ok(parsed)
    }
}

// ----------------------------------------------------------------- the data

/// One hourly temperature reading.
struct Reading {
    /// The year.
    year: u32,
    /// The month, 0 for January.
    month: usize,
    /// Hours since midnight on January 1st, the chart's x coordinate.
    hour_of_year: u32,
    /// The air temperature, °F.
    temp: f64,
    /// The temperature as written in the CSV, which is what the server gets.
    text: String,
}

/// Reads every row of a `date,temp` CSV, in file order.
fn load_readings(path: &Path) -> Result<Vec<Reading>> {
    let text = fs::read_to_string(path)
        .map_err(|err| format!("{}: {err}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(row, line)| {
            parse_reading(line).map_err(|err| {
                format!("{} row {}: {err}", path.display(), row + 2).into()
            })
        })
        .collect()
}

/// Parses one row such as `2010/01/01 00:00,39.4`.
fn parse_reading(line: &str) -> Result<Reading> {
    let (stamp, temp) = line.split_once(',').ok_or("no comma")?;
    let (date, time) = stamp.split_once(' ').ok_or("no time")?;
    let mut parts = date.split('/').map(str::parse::<u32>);
    let (Some(year), Some(month), Some(day)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err("date is not YYYY/MM/DD".into());
    };
    let (year, month, day) = (year?, month?, day?);
    let hour: u32 = time.split(':').next().unwrap_or("").parse()?;
    if !(1..=12).contains(&month) || day == 0 || hour > 23 {
        return Err("date or time out of range".into());
    }
    let text = temp.trim();

    Ok(Reading {
        year,
        month: month as usize - 1,
        hour_of_year: (days_before(year, month) + day - 1) * 24 + hour,
        temp: text.parse()?,
        text: text.to_string(),
    })
}

/// The number of days in `year` before the first of `month` (1 to 12).
fn days_before(year: u32, month: u32) -> u32 {
    const CUMULATIVE: [u32; 12] =
        [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    CUMULATIVE[month as usize - 1] + u32::from(leap && month > 2)
}

// --------------------------------------------------------------- the server

/// Adds every reading to [`KEY`] in order and returns the moving average
/// the server reported right after each add.
///
/// Each batch is one pipeline of `MAVG.ADD` and `MAVG.AVG` pairs, so the
/// averages are the server's own, one per reading.
fn stream_readings(
    con: &mut Connection,
    readings: &[Reading],
) -> Result<Vec<f64>> {
    redis::cmd("DEL").arg(KEY).query::<()>(con)?;

    let mut averages = Vec::with_capacity(readings.len());
    for batch in readings.chunks(BATCH) {
        let mut pipe = redis::pipe();
        for reading in batch {
            pipe.cmd("MAVG.ADD")
                .arg(KEY)
                .arg("WINDOW")
                .arg(WINDOW)
                .arg(&reading.text);
            pipe.cmd("MAVG.AVG").arg(KEY);
        }
        let replies: Vec<Value> = pipe.query(con)?;
        averages.extend(parse_replies(&replies)?);
    }
    Ok(averages)
}

/// Turns a pipeline's `MAVG.ADD`, `MAVG.AVG` reply pairs into the averages,
/// checking that each add returned exactly one element id.
fn parse_replies(replies: &[Value]) -> Result<Vec<f64>> {
    replies
        .chunks_exact(2)
        .map(|pair| {
            let ids: Vec<String> = redis::from_redis_value(&pair[0])?;
            if ids.len() != 1 {
                return Err(format!("{} ids for one value", ids.len()).into());
            }
            Ok(redis::from_redis_value(&pair[1])?)
        })
        .collect()
}

// ---------------------------------------------------------------- the table

/// What the table says about one month.
struct MonthRow {
    /// The month, 0 for January.
    month: usize,
    /// The number of readings in the month.
    hours: usize,
    /// The lowest reading, °F.
    min: f64,
    /// The highest reading, °F.
    max: f64,
    /// The 24-hour moving average after the month's last reading, °F.
    last_average: f64,
}

/// Summarises the readings month by month, in file order.
fn month_rows(readings: &[Reading], averages: &[f64]) -> Vec<MonthRow> {
    let mut rows: Vec<MonthRow> = Vec::new();
    for (reading, &average) in readings.iter().zip(averages) {
        let temp = reading.temp;
        match rows.last_mut() {
            Some(row) if row.month == reading.month => {
                row.hours += 1;
                row.min = row.min.min(temp);
                row.max = row.max.max(temp);
                row.last_average = average;
            }
            _ => rows.push(MonthRow {
                month: reading.month,
                hours: 1,
                min: temp,
                max: temp,
                last_average: average,
            }),
        }
    }
    rows
}

/// Prints one row per month and a total row; `readings` is not empty.
fn print_table(readings: &[Reading], averages: &[f64]) {
    let rows = month_rows(readings, averages);
    let year = readings[0].year;
    println!("Seattle air temperature, {year} (°F), through {KEY}");
    println!(
        "WINDOW {WINDOW}: each average covers the last {WINDOW} readings\n"
    );
    println!("month  hours    min    max   {WINDOW}-h avg at month end");
    for row in &rows {
        println!(
            "{:<5} {:>6} {:>6.1} {:>6.1} {:>12.2}",
            MONTHS[row.month], row.hours, row.min, row.max, row.last_average
        );
    }
    let min = rows.iter().map(|row| row.min).fold(f64::MAX, f64::min);
    let max = rows.iter().map(|row| row.max).fold(f64::MIN, f64::max);
    println!(
        "{:<5} {:>6} {:>6.1} {:>6.1}",
        "year",
        readings.len(),
        min,
        max
    );
}

/// Prints how far the server's averages are from a plain recomputation.
///
/// The server's average is the exact mean rounded once; the plain sum here
/// rounds at every step, so the two may differ in the last bits only.
fn print_check(readings: &[Reading], averages: &[f64]) {
    let temps: Vec<f64> = readings.iter().map(|r| r.temp).collect();
    let worst = averages
        .iter()
        .enumerate()
        .map(|(i, average)| {
            let window = &temps[(i + 1).saturating_sub(WINDOW)..=i];
            let mean = window.iter().sum::<f64>() / window.len() as f64;
            (average - mean).abs()
        })
        .fold(0.0, f64::max);
    println!(
        "\n{} values added, {} averages read back; largest difference \
         from a client-side recomputation: {worst:.1e} °F",
        readings.len(),
        averages.len()
    );
}

// ---------------------------------------------------------------- the chart
//
// The chart is written into a String, which cannot fail, so the
// `fmt::Result`s of `write!` are dropped with `let _ =`.

/// Chart size in SVG user units (pixels).
const CHART_WIDTH: f64 = 960.0;
/// See [`CHART_WIDTH`].
const CHART_HEIGHT: f64 = 460.0;

/// The spacing of the temperature grid, °F.
const TEMP_STEP: f64 = 5.0;

/// Where the plot area sits in the chart, and the data it spans.
struct Frame {
    /// Left edge of the plot area.
    left: f64,
    /// Top edge of the plot area.
    top: f64,
    /// Width of the plot area.
    width: f64,
    /// Height of the plot area.
    height: f64,
    /// The year on the x axis.
    year: u32,
    /// Hours on the x axis: the length of the year.
    hours: f64,
    /// The temperature at the bottom of the plot, °F.
    low: f64,
    /// The temperature at the top of the plot, °F.
    high: f64,
}

impl Frame {
    /// A frame for the hours of `year` and temperatures from `min` to
    /// `max`, widened to multiples of [`TEMP_STEP`].
    fn new(year: u32, min: f64, max: f64) -> Frame {
        let year_hours = (days_before(year, 12) + 31) * 24;
        let (left, right, top, bottom) = (64.0, 24.0, 90.0, 52.0);
        Frame {
            left,
            top,
            width: CHART_WIDTH - left - right,
            height: CHART_HEIGHT - top - bottom,
            year,
            hours: f64::from(year_hours),
            low: (min / TEMP_STEP).floor() * TEMP_STEP,
            high: (max / TEMP_STEP).ceil() * TEMP_STEP,
        }
    }

    /// The x coordinate of an hour of the year.
    fn x(&self, hour: f64) -> f64 {
        self.left + hour / self.hours * self.width
    }

    /// The y coordinate of a temperature.
    fn y(&self, temp: f64) -> f64 {
        let share = (temp - self.low) / (self.high - self.low);
        self.top + (1.0 - share) * self.height
    }

    /// The y coordinate of the plot's bottom edge, the x axis.
    fn bottom(&self) -> f64 {
        self.top + self.height
    }
}

/// Writes the chart of the raw readings and their moving average to `path`,
/// creating its directory if needed.
fn write_chart(
    path: &Path,
    readings: &[Reading],
    averages: &[f64],
) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, chart_svg(readings, averages))
        .map_err(|err| format!("{}: {err}", path.display()).into())
}

/// The whole SVG document; `readings` is not empty.
fn chart_svg(readings: &[Reading], averages: &[f64]) -> String {
    let temps: Vec<f64> = readings.iter().map(|r| r.temp).collect();
    let min = temps.iter().copied().fold(f64::MAX, f64::min);
    let max = temps.iter().copied().fold(f64::MIN, f64::max);
    let frame = Frame::new(readings[0].year, min, max);
    let hours: Vec<u32> = readings.iter().map(|r| r.hour_of_year).collect();

    let mut svg = String::new();
    svg_open(&mut svg, &frame);
    svg_titles(&mut svg, &frame);
    svg_temperature_axis(&mut svg, &frame);
    svg_month_axis(&mut svg, &frame);
    svg_series(&mut svg, &frame, &hours, &temps, "raw");
    svg_series(&mut svg, &frame, &hours, averages, "average");
    svg_legend(&mut svg, &frame);
    svg.push_str("</svg>\n");
    svg
}

/// The opening tag, the document's title, the chart's styles and a white
/// background.
fn svg_open(svg: &mut String, frame: &Frame) {
    let (w, h) = (CHART_WIDTH, CHART_HEIGHT);
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
         height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"Helvetica, Arial, sans-serif\">"
    );
    let _ = writeln!(
        svg,
        "<title>Seattle air temperature, {}: hourly readings and their \
         {WINDOW}-hour moving average</title>",
        frame.year
    );
    svg.push_str(
        "<style>\n\
         .grid { stroke: #e3e3e3; stroke-width: 1; }\n\
         .axis { stroke: #555; stroke-width: 1; }\n\
         .label { font-size: 12px; fill: #444; }\n\
         .raw { fill: none; stroke: #9ec9e8; stroke-width: 0.6; }\n\
         .average { fill: none; stroke: #c0392b; stroke-width: 2; \
         stroke-linejoin: round; }\n\
         </style>\n",
    );
    let _ =
        writeln!(svg, "<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>");
}

/// The visible title, the subtitle and the source note.
fn svg_titles(svg: &mut String, frame: &Frame) {
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"30\" font-size=\"19\" font-weight=\"bold\" \
         fill=\"#222\">Seattle air temperature, {}</text>",
        frame.left, frame.year
    );
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"52\" font-size=\"13\" fill=\"#555\">Hourly \
         readings and their {WINDOW}-hour moving average, as computed by \
         MAVG.AVG ({KEY}, WINDOW {WINDOW})</text>",
        frame.left
    );
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#888\" \
         text-anchor=\"end\">Data: NOAA, via vega-datasets</text>",
        frame.left + frame.width,
        CHART_HEIGHT - 10.0
    );
}

/// Horizontal grid lines and °F labels every [`TEMP_STEP`], and the y axis.
fn svg_temperature_axis(svg: &mut String, frame: &Frame) {
    let right = frame.left + frame.width;
    let mut temp = frame.low;
    while temp <= frame.high {
        let y = frame.y(temp);
        let _ = writeln!(
            svg,
            "<line class=\"grid\" x1=\"{}\" y1=\"{y:.1}\" x2=\"{right}\" \
             y2=\"{y:.1}\"/>\n<text class=\"label\" x=\"{}\" y=\"{:.1}\" \
             text-anchor=\"end\">{temp}°F</text>",
            frame.left,
            frame.left - 8.0,
            y + 4.0
        );
        temp += TEMP_STEP;
    }
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>",
        frame.left,
        frame.top,
        frame.bottom()
    );
}

/// The x axis: a tick at the start of each month and its name mid-month.
fn svg_month_axis(svg: &mut String, frame: &Frame) {
    let bottom = frame.bottom();
    let _ = writeln!(
        svg,
        "<line class=\"axis\" x1=\"{}\" y1=\"{bottom}\" x2=\"{}\" \
         y2=\"{bottom}\"/>",
        frame.left,
        frame.left + frame.width
    );
    for month in 1..=12 {
        let start = f64::from(days_before(frame.year, month) * 24);
        let end = match month {
            12 => frame.hours,
            _ => f64::from(days_before(frame.year, month + 1) * 24),
        };
        let (tick, middle) = (frame.x(start), frame.x((start + end) / 2.0));
        let _ = writeln!(
            svg,
            "<line class=\"axis\" x1=\"{tick:.1}\" y1=\"{bottom}\" \
             x2=\"{tick:.1}\" y2=\"{}\"/>\n<text class=\"label\" \
             x=\"{middle:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            bottom + 6.0,
            bottom + 20.0,
            MONTHS[month as usize - 1]
        );
    }
}

/// One series as a polyline of the given CSS class.
fn svg_series(
    svg: &mut String,
    frame: &Frame,
    hours: &[u32],
    temps: &[f64],
    class: &str,
) {
    let _ = write!(svg, "<polyline class=\"{class}\" points=\"");
    for (&hour, &temp) in hours.iter().zip(temps) {
        let (x, y) = (frame.x(f64::from(hour)), frame.y(temp));
        let _ = write!(svg, "{x:.1},{y:.1} ");
    }
    svg.push_str("\"/>\n");
}

/// The legend, top right above the plot: a swatch and a name per series.
fn svg_legend(svg: &mut String, frame: &Frame) {
    let average = format!("{WINDOW}-hour moving average");
    let entries = [("raw", "hourly reading"), ("average", &average)];
    let mut x = frame.left + frame.width - 330.0;
    let y = frame.top - 18.0;
    for (class, name) in entries {
        let _ = writeln!(
            svg,
            "<line class=\"{class}\" x1=\"{x}\" y1=\"{y}\" x2=\"{}\" \
             y2=\"{y}\" style=\"stroke-width: 3\"/>\n<text class=\"label\" \
             x=\"{}\" y=\"{}\">{name}</text>",
            x + 24.0,
            x + 30.0,
            y + 4.0
        );
        x += 140.0;
    }
}
