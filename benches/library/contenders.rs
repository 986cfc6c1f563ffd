//! The moving averages measured: `ExactMovingAverage` and the crates a
//! Rust user would otherwise pick, behind one small trait, each built
//! with a full window.
//!
//! Three of the crates take the window as a const generic and keep it in
//! an array inside the struct: a window of 10^6 is 8 MB built on the
//! stack. They are built on a thread with a large stack and then boxed,
//! so the main thread only ever holds a pointer.

use movavg::MovAvg;
use redis_mavg::{ExactMovingAverage, MovingAverage};
use simple_moving_average::{SingleSumSMA, SumTreeSMA, SMA};
use ta::indicators::SimpleMovingAverage;
use ta::Next;

/// Stack for building a contender: room for a few copies of an array of
/// 10^6 doubles. Only the pages touched are ever mapped.
const BUILD_STACK: usize = 256 << 20;

/// A moving average as the bench drives it.
pub trait Contender: Send {
    /// Adds `value`; the window being full, the oldest value leaves.
    fn push(&mut self, value: f64);

    /// The average of the window.
    fn average(&self) -> f64;
}

/// The implementations, in the order the tables show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `redis_mavg::ExactMovingAverage`: an exact running sum.
    Exact,
    /// `simple_moving_average::SingleSumSMA`: a running sum in `f64`.
    SingleSum,
    /// `simple_moving_average::SumTreeSMA`: a tree of pairwise sums.
    SumTree,
    /// `ta::indicators::SimpleMovingAverage`: a running sum in `f64`.
    Ta,
    /// `movavg::MovAvg` with default features: sums the whole window
    /// again on every add.
    MovAvg,
}

impl Kind {
    /// Every implementation.
    pub const ALL: [Kind; 5] = [
        Kind::Exact,
        Kind::SingleSum,
        Kind::SumTree,
        Kind::Ta,
        Kind::MovAvg,
    ];

    /// The name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Exact => "redis_mavg ExactMovingAverage",
            Kind::SingleSum => "simple_moving_average SingleSumSMA",
            Kind::SumTree => "simple_moving_average SumTreeSMA",
            Kind::Ta => "ta SimpleMovingAverage",
            Kind::MovAvg => "movavg MovAvg",
        }
    }

    /// The benchmark id: no spaces, one folder under criterion's group.
    pub fn id(self) -> &'static str {
        match self {
            Kind::Exact => "ExactMovingAverage",
            Kind::SingleSum => "SingleSumSMA",
            Kind::SumTree => "SumTreeSMA",
            Kind::Ta => "ta_SMA",
            Kind::MovAvg => "MovAvg",
        }
    }

    /// Whether the average comes from a running sum `sum += new - old`,
    /// whose rounding errors accumulate (drift) as values pass.
    pub fn drifts(self) -> bool {
        matches!(self, Kind::SingleSum | Kind::Ta)
    }

    /// Whether an add costs O(window): movavg sums its window again.
    pub fn resums(self) -> bool {
        self == Kind::MovAvg
    }
}

/// Receives each contender once built.
pub trait Visitor {
    /// Called with `contender`, a `kind` with a full window.
    fn visit<C: Contender + 'static>(&mut self, kind: Kind, contender: Box<C>);
}

/// Builds every implementation over a window of `W`, full of the values
/// of `fill` (at least `W` of them), and hands each to `visitor`.
pub fn build_each<const W: usize>(fill: &[f64], visitor: &mut impl Visitor) {
    let fill = &fill[..W];
    visitor.visit(Kind::Exact, on_build_stack(|| exact(W, fill)));
    visitor.visit(Kind::SingleSum, on_build_stack(|| single_sum::<W>(fill)));
    visitor.visit(Kind::SumTree, on_build_stack(|| sum_tree::<W>(fill)));
    visitor.visit(Kind::Ta, on_build_stack(|| ta(W, fill)));
    visitor.visit(Kind::MovAvg, on_build_stack(|| mov_avg::<W>(fill)));
}

/// Runs `build` on a thread with [`BUILD_STACK`] bytes of stack.
fn on_build_stack<C: Send>(build: impl FnOnce() -> Box<C> + Send) -> Box<C> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(BUILD_STACK)
            .spawn_scoped(scope, build)
            .expect("a thread to build on")
            .join()
            .expect("building does not panic")
    })
}

fn exact(window: usize, fill: &[f64]) -> Box<ExactMovingAverage> {
    let mut series =
        ExactMovingAverage::new(window).expect("the window is in range");
    series.push_all(fill).expect("finite values");
    Box::new(series)
}

fn single_sum<const W: usize>(fill: &[f64]) -> Box<SingleSumSMA<f64, f64, W>> {
    let mut sma = Box::new(SingleSumSMA::new());
    fill.iter().for_each(|&v| sma.add_sample(v));
    sma
}

fn sum_tree<const W: usize>(fill: &[f64]) -> Box<SumTreeSMA<f64, f64, W>> {
    let mut sma = Box::new(SumTreeSMA::new());
    fill.iter().for_each(|&v| sma.add_sample(v));
    sma
}

fn ta(window: usize, fill: &[f64]) -> Box<TaAverage> {
    let mut sma = SimpleMovingAverage::new(window).expect("a window >= 1");
    let last = fill.iter().fold(0.0, |_, &v| sma.next(v));
    Box::new(TaAverage { sma, last })
}

/// Built from its full buffer, which leaves it as `W` adds would: each
/// add sums the buffer again, so filling by adds costs O(W^2).
fn mov_avg<const W: usize>(fill: &[f64]) -> Box<MovAvg<f64, f64, W>> {
    let mut buffer = [0.0; W];
    buffer.copy_from_slice(fill);
    Box::new(MovAvg::new_init(buffer, W))
}

/// `ta`'s average with the last value it returned: the indicator
/// answers the average only as the result of an add.
pub struct TaAverage {
    sma: SimpleMovingAverage,
    last: f64,
}

impl Contender for ExactMovingAverage {
    fn push(&mut self, value: f64) {
        MovingAverage::push(self, value).expect("a finite value");
    }

    fn average(&self) -> f64 {
        MovingAverage::average(self).expect("a full window")
    }
}

impl<const W: usize> Contender for SingleSumSMA<f64, f64, W> {
    fn push(&mut self, value: f64) {
        self.add_sample(value);
    }

    fn average(&self) -> f64 {
        self.get_average()
    }
}

impl<const W: usize> Contender for SumTreeSMA<f64, f64, W> {
    fn push(&mut self, value: f64) {
        self.add_sample(value);
    }

    fn average(&self) -> f64 {
        self.get_average()
    }
}

impl Contender for TaAverage {
    fn push(&mut self, value: f64) {
        self.last = self.sma.next(value);
    }

    fn average(&self) -> f64 {
        self.last
    }
}

impl<const W: usize> Contender for MovAvg<f64, f64, W> {
    fn push(&mut self, value: f64) {
        self.feed(value);
    }

    fn average(&self) -> f64 {
        self.get()
    }
}
