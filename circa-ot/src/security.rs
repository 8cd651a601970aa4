//! Security level in the types (STYLE.md item 9): protocol implementations
//! carry a marker trait saying which adversary they are secure against, so
//! that generic code can require it (`fn run<O: OtSender + SemiHonest>`).

/// Marker: secure against a **semi-honest** (honest-but-curious), statically
/// corrupting adversary only. A malicious peer may learn secrets or cause
/// wrong outputs; it can never cause a panic, an unbounded allocation or a
/// hang (those are checked for every security level).
pub trait SemiHonest {}

/// Marker: secure against a malicious (actively cheating) adversary. Nothing
/// in `circa-ot` implements it; it exists so that bounds can ask for it.
pub trait Malicious: SemiHonest {}

impl SemiHonest for crate::base_ot::BaseOtSender {}
impl SemiHonest for crate::CotSender {}
impl SemiHonest for crate::CotReceiver {}
impl SemiHonest for crate::RotSender {}
impl SemiHonest for crate::RotReceiver {}
impl SemiHonest for crate::OtSender {}
impl SemiHonest for crate::OtReceiver {}

#[cfg(test)]
mod tests {
    use super::SemiHonest;

    fn is_semi_honest<T: SemiHonest>() {}

    #[test]
    fn ot_types_are_marked_semi_honest() {
        is_semi_honest::<crate::CotSender>();
        is_semi_honest::<crate::CotReceiver>();
        is_semi_honest::<crate::RotSender>();
        is_semi_honest::<crate::RotReceiver>();
        is_semi_honest::<crate::OtSender>();
        is_semi_honest::<crate::OtReceiver>();
        is_semi_honest::<crate::base_ot::BaseOtSender>();
    }
}
