//! The oracle: exact means of doubles, correctly rounded to a double.
//!
//! Values become exact rationals ([`BigRational::from_float`]), sums and
//! quotients stay exact, and [`nearest_f64`] rounds the result once, to
//! nearest with ties to even, as IEEE 754 does.

use num_bigint::BigUint;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

/// The exact value of a finite double.
pub fn rational(x: f64) -> BigRational {
    BigRational::from_float(x).expect("the oracle takes finite values only")
}

/// The exact mean of `values`, correctly rounded; `None` when empty.
pub fn exact_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let sum: BigRational = values.iter().map(|v| rational(*v)).sum();
    let count = BigRational::from_integer(values.len().into());
    Some(nearest_f64(&(sum / count)))
}

/// The double nearest to `r`, ties to even; infinite beyond the range.
pub fn nearest_f64(r: &BigRational) -> f64 {
    if r.is_zero() {
        return 0.0;
    }
    let num = r.numer().magnitude();
    let den = r.denom().magnitude();
    let magnitude = nearest_positive(num, den);
    if r.is_negative() {
        -magnitude
    } else {
        magnitude
    }
}

/// The double nearest to `num / den`, both positive.
fn nearest_positive(num: &BigUint, den: &BigUint) -> f64 {
    // num * 2^shift / den lands in [2^52, 2^54); one step down if needed
    // brings it to [2^52, 2^53): 53 significant bits. Below the normal
    // range the shift stops at 1074, where one unit is 2^-1074.
    let mut shift = 53 - (num.bits() as i64 - den.bits() as i64);
    if scaled_quotient(num, den, shift).0 >= BigUint::from(1u64 << 53) {
        shift -= 1;
    }
    shift = shift.min(1074);

    let (quotient, remainder, divisor) = scaled_quotient(num, den, shift);
    let mut units = quotient.to_u64().expect("at most 53 bits");
    let twice = remainder << 1;
    if twice > divisor || (twice == divisor && units % 2 == 1) {
        units += 1;
    }
    compose(units, shift)
}

/// `num * 2^shift / den` as quotient, remainder and the divisor used.
fn scaled_quotient(
    num: &BigUint,
    den: &BigUint,
    shift: i64,
) -> (BigUint, BigUint, BigUint) {
    let (dividend, divisor) = if shift >= 0 {
        (num << shift as u64, den.clone())
    } else {
        (num.clone(), den << (-shift) as u64)
    };
    let quotient = &dividend / &divisor;
    let remainder = dividend % &divisor;
    (quotient, remainder, divisor)
}

/// The double `units * 2^-shift`, where `units` is at most 2^53 and, when
/// under 2^52, `shift` is 1074 (a subnormal).
fn compose(units: u64, shift: i64) -> f64 {
    let (units, shift) = if units == 1 << 53 {
        (units >> 1, shift - 1)
    } else {
        (units, shift)
    };
    if units < 1 << 52 {
        return f64::from_bits(units);
    }
    let biased_exponent = 52 - shift + 1023;
    if biased_exponent >= 2047 {
        return f64::INFINITY;
    }
    let fraction = units - (1 << 52);
    f64::from_bits(((biased_exponent as u64) << 52) | fraction)
}

/// The significant digits of a decimal text: no sign, point, exponent, or
/// leading and trailing zeros (`"-2.5e-07"` gives `"25"`).
pub fn significant_digits(text: &str) -> String {
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    let digits: String =
        mantissa.chars().filter(char::is_ascii_digit).collect();
    digits.trim_matches('0').to_string()
}

/// Whether `text` reads back to `x` with as few significant digits as any
/// text can (Rust's `{:e}` prints such a shortest text).
pub fn is_shortest_text(text: &str, x: f64) -> bool {
    let shortest = significant_digits(&format!("{x:e}"));
    text.parse::<f64>() == Ok(x)
        && significant_digits(text).len() == shortest.len()
}
