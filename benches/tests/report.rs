//! The report sections run end to end at quick sizes and carry the keys the
//! issues require. (No figure is asserted: tests never judge wall-clock time.)

use circa_benches::{Record, Size};

fn assert_keys(records: &[Record], bench: &str, keys: &[&str]) {
    assert!(!records.is_empty(), "{bench}: no records");
    for r in records {
        assert_eq!(r["bench"], bench, "{r}");
        for k in keys {
            assert!(r.get(k).is_some(), "{bench}: key {k} missing in {r}");
        }
    }
}

#[test]
fn ot_section_has_required_keys() {
    let r = circa_benches::ot::run(Size::Quick).unwrap();
    let keys = [
        "kind",
        "n",
        "seconds",
        "per_sec",
        "sender_bytes_per_op",
        "receiver_bytes_per_op",
    ];
    assert_keys(&r, "ot", &keys);
    let kinds: Vec<&str> = r.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["rcot", "cot", "rot", "chosen"]);
    // IKNP: 16 bytes per OT from receiver to sender (plus a few bytes of framing).
    for x in &r {
        let b = x["receiver_bytes_per_op"].as_f64().unwrap();
        assert!((16.0..16.01).contains(&b), "{x}");
    }
}

#[test]
fn gc_section_has_required_keys() {
    let r = circa_benches::gc::run(Size::Quick, None).unwrap();
    let keys = [
        "circuit",
        "phase",
        "and_gates",
        "seconds",
        "and_per_sec",
        "bytes_per_and",
    ];
    assert_keys(&r, "gc", &keys);
    for x in &r {
        assert_eq!(x["bytes_per_and"].as_f64().unwrap(), 32.0, "{x}");
    }
}

#[test]
fn share_section_has_required_keys() {
    let r = circa_benches::share::run(Size::Quick).unwrap();
    assert_keys(&r, "share", &["op", "per_sec"]);
}
