//! An exact accumulator for sums of finite doubles.
//!
//! Every finite `f64` is an integer multiple of 2^-1074, the smallest
//! subnormal. [`ExactSum`] keeps the sum as such an integer, in two's
//! complement over 64-bit limbs, and stores only the limbs the sum spans:
//! values of similar magnitude need one to three limbs, the widest possible
//! sum (from 2^-1074 to near `f64::MAX`, times a billion values) 34.
//!
//! Adding or subtracting a value touches two limbs and whatever a carry
//! crosses, so no sequence of operations ever loses a bit. The mean is then
//! the exact sum divided by the count, rounded once, to nearest, ties to
//! even.

/// Bits in a limb.
const LIMB_BITS: u32 = 64;

/// Limbs of zeros put below the sum before dividing it, so that the
/// quotient keeps well over 53 significant bits for any divisor below
/// 2^64 (see [`ExactSum::mean`]).
const FRACTION_LIMBS: usize = 3;

/// Room for the widest sum plus [`FRACTION_LIMBS`]: values reach bit
/// 2045 + 53, a count below 2^64 adds 64 bits, and the sign one more.
const MAX_DIVIDEND_LIMBS: usize = 40;

/// Limbs a sum keeps inline, without a heap allocation: enough for the
/// sum of values within a factor of about 2^60 of each other.
const INLINE_LIMBS: usize = 2;

/// Room for the widest sum while an operation changes it: 34 limbs, a
/// carry limb and a limb of cover below.
const MAX_LIMBS: usize = 37;

/// The exact sum of a multiset of finite doubles.
///
/// `limbs()[i]` has weight 2^(64 * (low + i)) in units of 2^-1074, and
/// the limbs read as one two's complement integer. The representation is
/// minimal: no zero limb at the bottom and no top limb that only repeats
/// the sign of the one below it. Zero has no limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExactSum {
    repr: Limbs,
}

/// The limbs of a sum and the index of the lowest: up to
/// [`INLINE_LIMBS`] inside the value, more on the heap. Always in the
/// first form when it fits, with unused inline limbs zero, so equal sums
/// have equal representations. Either form takes 24 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Limbs {
    Inline {
        low: u32,
        len: u8,
        limbs: [u64; INLINE_LIMBS],
    },
    Heap {
        low: u32,
        limbs: Box<[u64]>,
    },
}

/// A finite double split into `magnitude * 2^(bit - 1074)`.
struct Scaled {
    negative: bool,
    magnitude: u64,
    bit: u32,
}

impl Scaled {
    /// Splits `value`; `None` for zeros, which change no sum.
    fn of(value: f64) -> Option<Scaled> {
        let bits = value.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as u32;
        let fraction = bits & ((1 << 52) - 1);
        let (magnitude, bit) = match exponent {
            0 => (fraction, 0),
            _ => (fraction | (1 << 52), exponent - 1),
        };
        (magnitude != 0).then_some(Scaled {
            negative: bits >> 63 == 1,
            magnitude,
            bit,
        })
    }
}

impl ExactSum {
    /// An empty sum, zero.
    pub(crate) fn new() -> ExactSum {
        ExactSum {
            repr: Limbs::Inline {
                low: 0,
                len: 0,
                limbs: [0; INLINE_LIMBS],
            },
        }
    }

    /// Whether the sum is exactly zero.
    pub(crate) fn is_zero(&self) -> bool {
        self.limbs().is_empty()
    }

    /// Bytes held on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.repr {
            Limbs::Inline { .. } => 0,
            Limbs::Heap { limbs, .. } => std::mem::size_of_val(&**limbs),
        }
    }

    /// The index of the lowest limb.
    fn low(&self) -> u32 {
        match self.repr {
            Limbs::Inline { low, .. } | Limbs::Heap { low, .. } => low,
        }
    }

    /// The limbs, lowest first.
    fn limbs(&self) -> &[u64] {
        match &self.repr {
            Limbs::Inline { len, limbs, .. } => &limbs[..usize::from(*len)],
            Limbs::Heap { limbs, .. } => limbs,
        }
    }

    /// The limbs, lowest first, to change in place.
    fn limbs_mut(&mut self) -> &mut [u64] {
        match &mut self.repr {
            Limbs::Inline { len, limbs, .. } => {
                &mut limbs[..usize::from(*len)]
            }
            Limbs::Heap { limbs, .. } => limbs,
        }
    }

    /// Replaces the limbs by `limbs`, the lowest of index `low`.
    fn store(&mut self, low: u32, limbs: &[u64]) {
        if let Limbs::Heap {
            low: old,
            limbs: held,
        } = &mut self.repr
        {
            if held.len() == limbs.len() {
                held.copy_from_slice(limbs);
                *old = low;
                return;
            }
        }
        self.repr = if limbs.len() <= INLINE_LIMBS {
            let mut inline = [0; INLINE_LIMBS];
            inline[..limbs.len()].copy_from_slice(limbs);
            Limbs::Inline {
                low,
                len: limbs.len() as u8,
                limbs: inline,
            }
        } else {
            Limbs::Heap {
                low,
                limbs: limbs.into(),
            }
        };
    }

    /// Adds `value`, which must be finite, exactly.
    pub(crate) fn add(&mut self, value: f64) {
        debug_assert!(value.is_finite());
        if let Some(scaled) = Scaled::of(value) {
            self.apply(scaled.magnitude, scaled.bit, scaled.negative);
        }
    }

    /// Subtracts `value`, which must be finite, exactly.
    pub(crate) fn sub(&mut self, value: f64) {
        debug_assert!(value.is_finite());
        if let Some(scaled) = Scaled::of(value) {
            self.apply(scaled.magnitude, scaled.bit, !scaled.negative);
        }
    }

    /// Adds `magnitude * 2^bit` (units of 2^-1074), negated if `negative`.
    fn apply(&mut self, magnitude: u64, bit: u32, negative: bool) {
        let first = bit / LIMB_BITS;
        let wide = u128::from(magnitude) << (bit % LIMB_BITS);
        let both = [wide as u64, (wide >> LIMB_BITS) as u64];
        // Most values fall within one limb.
        let parts = if both[1] == 0 { &both[..1] } else { &both[..] };
        let last = first + parts.len() as u32 - 1;

        let inside = first >= self.low()
            && last < self.low() + self.limbs().len() as u32;
        if !inside {
            self.cover(first, last);
        }
        let start = (first - self.low()) as usize;
        let sign = self.sign_limb();
        let limbs = &mut self.limbs_mut()[start..];
        let extension = if negative {
            let borrow = apply_at(limbs, parts, u64::overflowing_sub);
            sign.wrapping_sub(u64::from(borrow))
        } else {
            let carry = apply_at(limbs, parts, u64::overflowing_add);
            sign.wrapping_add(u64::from(carry))
        };
        // The limb above the top, which the sign extended before, now
        // differs from it only if the result outgrew the limbs.
        if extension != self.sign_limb() {
            self.extend_top(extension);
        }

        self.normalize();
    }

    /// Extends the limbs, by zeros below and the sign above, so that they
    /// cover limb indexes `from..=to`.
    fn cover(&mut self, from: u32, to: u32) {
        let (low, limbs) = (self.low(), self.limbs());
        let new_low = if limbs.is_empty() {
            from
        } else {
            low.min(from)
        };
        let top = (low + limbs.len() as u32).max(to + 1);

        let mut wider = [self.sign_limb(); MAX_LIMBS];
        let below = (low.max(new_low) - new_low) as usize;
        wider[..below].fill(0);
        wider[below..below + limbs.len()].copy_from_slice(limbs);
        self.store(new_low, &wider[..(top - new_low) as usize]);
    }

    /// Puts `limb` on top of the limbs.
    fn extend_top(&mut self, limb: u64) {
        let len = self.limbs().len();
        let mut wider = [0; MAX_LIMBS];
        wider[..len].copy_from_slice(self.limbs());
        wider[len] = limb;
        self.store(self.low(), &wider[..=len]);
    }

    /// Whether no bottom limb is zero and the top limb does not merely
    /// repeat the sign of the one below it.
    fn is_minimal(&self) -> bool {
        let limbs = self.limbs();
        let Some((&top, rest)) = limbs.split_last() else {
            return true;
        };
        if limbs[0] == 0 {
            return false;
        }
        rest.last().is_none_or(|&below| !repeats_sign(top, below))
    }

    /// All ones for a negative sum, zero otherwise.
    fn sign_limb(&self) -> u64 {
        match self.limbs().last() {
            Some(&top) if top >> 63 == 1 => u64::MAX,
            _ => 0,
        }
    }

    /// Restores the minimal representation.
    fn normalize(&mut self) {
        if self.is_minimal() {
            return;
        }
        let limbs = self.limbs();
        let mut end = limbs.len();
        while end >= 2 && repeats_sign(limbs[end - 1], limbs[end - 2]) {
            end -= 1;
        }
        let zeros = limbs[..end].iter().take_while(|&&l| l == 0).count();

        let mut kept = [0; MAX_LIMBS];
        let len = end - zeros;
        kept[..len].copy_from_slice(&limbs[zeros..end]);
        let low = if len == 0 {
            0
        } else {
            self.low() + zeros as u32
        };
        self.store(low, &kept[..len]);
    }

    /// The sum divided by `count`, correctly rounded to the nearest double
    /// (ties to even). Zero for an empty sum; `count` must not be zero.
    ///
    /// The quotient is exact to well below the last bit the result keeps,
    /// and the remainder decides every tie, so the result is the double
    /// nearest to the true mean.
    pub(crate) fn mean(&self, count: u64) -> f64 {
        debug_assert!(count > 0);
        if self.is_zero() || count == 0 {
            return 0.0;
        }
        let negative = self.sign_limb() == u64::MAX;

        // The magnitude, with FRACTION_LIMBS zero limbs below it.
        let len = self.limbs().len() + FRACTION_LIMBS;
        let mut quotient = [0u64; MAX_DIVIDEND_LIMBS];
        let quotient = &mut quotient[..len];
        quotient[FRACTION_LIMBS..].copy_from_slice(self.limbs());
        if negative {
            negate(quotient);
        }

        let remainder = divide(quotient, count);
        let scale = i64::from(LIMB_BITS)
            * (i64::from(self.low()) - FRACTION_LIMBS as i64)
            - 1074;
        let magnitude = round_to_double(quotient, scale, remainder != 0);
        if negative {
            -magnitude
        } else {
            magnitude
        }
    }
}

/// Whether `top` only repeats the sign of `below`, the limb under it.
fn repeats_sign(top: u64, below: u64) -> bool {
    (top == 0 && below >> 63 == 0) || (top == u64::MAX && below >> 63 == 1)
}

/// Adds `parts` (one or two limbs) at the start of `limbs` with `step`
/// (`u64::overflowing_add`, or `u64::overflowing_sub` to subtract),
/// carrying or borrowing upward; returns the carry (or borrow) out of the
/// top limb. `limbs` is at least as long as `parts`.
#[inline(always)]
fn apply_at(
    limbs: &mut [u64],
    parts: &[u64],
    step: impl Fn(u64, u64) -> (u64, bool),
) -> bool {
    let mut carry = false;
    for (i, limb) in limbs.iter_mut().enumerate() {
        let part = match parts.get(i) {
            Some(&part) => part,
            None if carry => 0,
            None => break,
        };
        let (value, c1) = step(*limb, part);
        let (value, c2) = step(value, u64::from(carry));
        *limb = value;
        carry = c1 || c2;
    }
    carry
}

/// Two's complement negation in place.
fn negate(limbs: &mut [u64]) {
    let mut carry = true;
    for limb in limbs.iter_mut() {
        let (sum, c) = (!*limb).overflowing_add(u64::from(carry));
        *limb = sum;
        carry = c;
    }
}

/// Divides the unsigned integer `limbs` by `divisor` in place; returns the
/// remainder.
fn divide(limbs: &mut [u64], divisor: u64) -> u64 {
    let divisor = u128::from(divisor);
    let mut remainder = 0u128;
    for limb in limbs.iter_mut().rev() {
        let current = (remainder << LIMB_BITS) | u128::from(*limb);
        // The quotient fits: remainder < divisor, so current < divisor*2^64.
        *limb = (current / divisor) as u64;
        remainder = current % divisor;
    }
    remainder as u64
}

/// Rounds `limbs * 2^scale` to the nearest double, ties to even, where
/// `inexact` says the true value lies strictly above `limbs * 2^scale`
/// (by less than one unit of `limbs`).
fn round_to_double(limbs: &[u64], scale: i64, inexact: bool) -> f64 {
    let Some(top) = limbs.iter().rposition(|&l| l != 0) else {
        return 0.0;
    };
    let top_bit =
        top as i64 * 64 + (63 - i64::from(limbs[top].leading_zeros()));

    // The weight of the last bit the double keeps: 53 significant bits,
    // fewer for subnormals.
    let exponent = top_bit + scale;
    let last = (exponent - 52).max(-1074);
    // At least 76 bits are dropped: the dividend has FRACTION_LIMBS zero
    // limbs below a non-zero sum, so the quotient exceeds 2^192 / 2^64
    // and keeps bits far below the last one of any normal result; a
    // subnormal result needs a sum of low limbs, 0 or 1, below which the
    // quotient holds at least 128 bits.
    let dropped = (last - scale).max(1) as u64;

    let mut mantissa = bits_from(limbs, dropped);
    let half = bit_at(limbs, dropped - 1);
    let sticky = inexact || any_bit_below(limbs, dropped - 1);
    if half && (sticky || mantissa & 1 == 1) {
        mantissa += 1;
    }
    assemble(mantissa, last)
}

/// `mantissa * 2^last` for `mantissa <= 2^53` and a result in range.
fn assemble(mut mantissa: u64, mut last: i64) -> f64 {
    if mantissa == 1 << 53 {
        mantissa >>= 1;
        last += 1;
    }
    if mantissa < 1 << 52 {
        // Subnormal (then last is -1074): the bits are the mantissa.
        return f64::from_bits(mantissa);
    }
    let biased = (last + 1075) as u64;
    f64::from_bits((biased << 52) | (mantissa & ((1 << 52) - 1)))
}

/// The 64 bits of `limbs` starting at bit `from`.
fn bits_from(limbs: &[u64], from: u64) -> u64 {
    let index = (from / 64) as usize;
    let shift = from % 64;
    let low = limbs.get(index).copied().unwrap_or(0) >> shift;
    let high = match shift {
        0 => 0,
        _ => limbs.get(index + 1).copied().unwrap_or(0) << (64 - shift),
    };
    low | high
}

/// Bit `at` of `limbs`.
fn bit_at(limbs: &[u64], at: u64) -> bool {
    let limb = limbs.get((at / 64) as usize).copied().unwrap_or(0);
    (limb >> (at % 64)) & 1 == 1
}

/// Whether any bit of `limbs` below bit `at` is set.
fn any_bit_below(limbs: &[u64], at: u64) -> bool {
    let index = (at / 64) as usize;
    let mask = (1u64 << (at % 64)) - 1;
    let partial = limbs.get(index).is_some_and(|&l| l & mask != 0);
    partial || limbs.iter().take(index).any(|&l| l != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(values: &[f64]) -> ExactSum {
        let mut sum = ExactSum::new();
        values.iter().for_each(|&v| sum.add(v));
        sum
    }

    #[test]
    fn cancelling_values_leave_exact_zero() {
        let mut sum = sum_of(&[1e300, 1e-300, -5e-324, 0.1]);
        for v in [1e300, 1e-300, -5e-324, 0.1] {
            sum.sub(v);
        }
        assert!(sum.is_zero());
        assert_eq!(sum, ExactSum::new());
    }

    #[test]
    fn mean_of_small_integers() {
        assert_eq!(sum_of(&[1.0, 2.0, 3.0]).mean(3), 2.0);
        assert_eq!(sum_of(&[-1.0, -2.0]).mean(2), -1.5);
        assert_eq!(sum_of(&[1e16, 1.0]).mean(2), 5000000000000000.5);
    }

    #[test]
    fn mean_rounds_to_nearest() {
        assert_eq!(sum_of(&[0.1, 0.2]).mean(2), (0.1f64 + 0.2) / 2.0);
        assert_eq!(sum_of(&[1.0]).mean(3), 1.0 / 3.0);
        assert_eq!(sum_of(&[2.0]).mean(3), 2.0 / 3.0);
        assert_eq!(sum_of(&[-2.0]).mean(3), -2.0 / 3.0);
    }

    #[test]
    fn extremes() {
        let max = f64::MAX;
        assert_eq!(sum_of(&[max, max]).mean(2), max);
        assert_eq!(sum_of(&[-max, -max, -max]).mean(3), -max);
        let tiny = f64::from_bits(1);
        assert_eq!(sum_of(&[tiny]).mean(1), tiny);
        assert_eq!(sum_of(&[tiny]).mean(2), 0.0);
        assert_eq!(sum_of(&[tiny, tiny, tiny]).mean(2), 2.0 * tiny);
        assert_eq!(sum_of(&[max, tiny]).mean(1), max);
    }

    #[test]
    fn subnormal_halfway_ties_to_even() {
        let tiny = f64::from_bits(1);
        // 3 tiny / 2 = 1.5 tiny: ties to 2 tiny.
        assert_eq!(sum_of(&[tiny, tiny, tiny]).mean(2), 2.0 * tiny);
        // 5 tiny / 2 = 2.5 tiny: ties to 2 tiny.
        assert_eq!(sum_of(&[tiny; 5]).mean(2), 2.0 * tiny);
    }

    #[test]
    fn sign_changes_across_limbs() {
        let mut sum = sum_of(&[1e-300, -1e300]);
        assert_eq!(sum.mean(1), -1e300);
        sum.sub(-1e300);
        assert_eq!(sum.mean(1), 1e-300);
        sum.add(-2e-300);
        assert_eq!(sum.mean(1), -1e-300);
    }

    #[test]
    fn undoing_every_add_leaves_the_empty_sum() {
        let values = [1e300, -3.5, 1e-300, 0.1, 7e15, -2e-310, 42.0];
        let mut sum = sum_of(&values);
        assert!(sum.heap_bytes() > 0, "a wide sum spills to the heap");
        for &value in values.iter().rev() {
            sum.sub(value);
        }
        assert_eq!(sum, ExactSum::new());
        assert!(sum.is_zero());
    }

    #[test]
    fn stays_small_for_similar_values() {
        let sum = sum_of(&[20.5; 1000]);
        assert!(sum.limbs().len() <= 2, "{:?}", sum);
        assert_eq!(sum.heap_bytes(), 0);
    }
}
