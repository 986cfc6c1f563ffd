//! The values the bench feeds: a seeded generator and the input streams,
//! the same on every run and for every implementation.

/// The seed of every stream: runs compare like with like.
const SEED: u64 = 0x6d61_7667_2d62_656e;

/// A small pseudo-random generator (SplitMix64): 64 bits of state, good
/// enough to spread test values, and no dependency.
pub struct Generator {
    state: u64,
}

impl Generator {
    /// The generator every stream starts from.
    pub fn seeded() -> Generator {
        Generator { state: SEED }
    }

    /// The next 64 random bits.
    fn next_bits(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, on the 2^-53 grid.
    pub fn unit(&mut self) -> f64 {
        (self.next_bits() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A latency in milliseconds, to the microsecond: log-uniform from
    /// 0.01 to 10,000, so magnitudes six decades apart meet in one window.
    pub fn latency(&mut self) -> f64 {
        let ms = 10f64.powf(-2.0 + 6.0 * self.unit());
        (ms * 1000.0).round() / 1000.0
    }

    /// A small reading, uniform in `[0, 1)` to three decimals.
    pub fn reading(&mut self) -> f64 {
        (self.unit() * 1000.0).floor() / 1000.0
    }
}

/// What a stream of inputs looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Latencies, see [`Generator::latency`].
    Latencies,
    /// Readings below 1, and once every two windows a spike of 1e20
    /// that enters and leaves the window.
    Spikes,
    /// A random `b` from 1e12 to 2e12, a reading, `-b`, a reading, and
    /// again: the big values cancel exactly, so the window's mean is
    /// that of its readings give or take one `b` (cut off at an edge),
    /// while a running sum holds 1e12 half the time.
    Cancelling,
}

impl Scenario {
    /// Every scenario, in the order the tables show them.
    pub const ALL: [Scenario; 3] =
        [Scenario::Latencies, Scenario::Spikes, Scenario::Cancelling];

    /// The scenario's name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Latencies => "latencies",
            Scenario::Spikes => "1e20 spikes",
            Scenario::Cancelling => "±1e12 cancelling",
        }
    }

    /// What the scenario feeds, for the notes under the tables.
    pub fn about(self) -> &'static str {
        match self {
            Scenario::Latencies => {
                "latencies in ms to the µs, log-uniform from 0.01 to \
                 10,000 (the inputs of the speed table too)"
            }
            Scenario::Spikes => {
                "readings from 0 to 1 to three decimals, and a value of \
                 1e20 once every two windows"
            }
            Scenario::Cancelling => {
                "b, a reading, -b, a reading, and again, each b random \
                 from 1e12 to 2e12: the b cancel, the readings remain"
            }
        }
    }

    /// The first `len` values of the scenario for a window of `window`.
    pub fn stream(self, window: usize, len: usize) -> Vec<f64> {
        let mut generator = Generator::seeded();
        let mut big = 0.0;
        (0..len)
            .map(|t| match self {
                Scenario::Latencies => generator.latency(),
                Scenario::Spikes if t % (2 * window) == window / 2 => 1e20,
                Scenario::Spikes => generator.reading(),
                Scenario::Cancelling => match t % 4 {
                    0 => {
                        big = 1e12 * (1.0 + generator.unit());
                        big
                    }
                    2 => -big,
                    _ => generator.reading(),
                },
            })
            .collect()
    }
}
