//! Plaintext (f64 reference) accuracy of ONNX models on IDX images and labels.
//!
//! ```text
//! cargo run --release -p circa-nn --example fashion_accuracy -- \
//!     [--images FILE.idx3 --labels FILE.idx1] [--count N] [--threads N] [--fixed F] \
//!     [MODEL.onnx ...]
//! ```
//!
//! Defaults: the bundled subset `models/data/fashion_test_1000-*` (all of it; `--count N`: the
//! first N) and every `.onnx` file in `models/fashion/`. With `--fixed F` each model also runs the fixed-point reference
//! (`circa_nn::Fixed`, exact ReLU, sign test at the product scale) over the 41-bit prime with
//! `F` fractional bits: its accuracy, its argmax agreement with f64 and its largest logit error
//! (a wrap in the field would show as a huge error). For the full Fashion-MNIST test split, decompress Debian's files first:
//! `zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz > /tmp/t10k-images.idx3`
//! (and the labels likewise).

use std::path::PathBuf;
use std::time::Instant;

use circa_nn::dataset::{MAX_IDX_ITEMS, read_idx};
use circa_nn::{Fixed, Network, SignScale, argmax, import_onnx, infer};
use circa_share::P2061584302081 as P41;

fn fail(msg: String) -> ! {
    eprintln!("fashion_accuracy: {msg}");
    std::process::exit(1);
}

/// Per image: (f64 correct, fixed-point correct, argmax agreement, largest logit error).
#[derive(Default, Clone, Copy)]
struct Tally {
    correct: usize,
    fixed_correct: usize,
    agree: usize,
    worst: f64,
}

impl Tally {
    fn merge(self, o: Tally) -> Tally {
        Tally {
            correct: self.correct + o.correct,
            fixed_correct: self.fixed_correct + o.fixed_correct,
            agree: self.agree + o.agree,
            worst: self.worst.max(o.worst),
        }
    }
}

fn tally(
    net: &Network,
    fixed: Option<&Fixed<P41>>,
    images: &[Vec<f64>],
    labels: &[usize],
    threads: usize,
) -> Tally {
    let chunk = images.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = images
            .chunks(chunk)
            .zip(labels.chunks(chunk))
            .map(|(xs, ls)| {
                s.spawn(move || {
                    let mut t = Tally::default();
                    for (x, &l) in xs.iter().zip(ls) {
                        let logits = infer(net, x).unwrap_or_else(|e| fail(e.to_string()));
                        let class = argmax(&logits);
                        t.correct += usize::from(class == Some(l));
                        if let Some(fx) = fixed {
                            let got = fx.logits(x).unwrap_or_else(|e| fail(e.to_string()));
                            let fclass = argmax(&got);
                            t.fixed_correct += usize::from(fclass == Some(l));
                            t.agree += usize::from(fclass == class);
                            t.worst = got
                                .iter()
                                .zip(&logits)
                                .fold(t.worst, |w, (g, r)| w.max((g - r).abs()));
                        }
                    }
                    t
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| fail("worker panicked".into())))
            .fold(Tally::default(), Tally::merge)
    })
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut images = root.join("data/fashion_test_1000-images.idx3");
    let mut labels = root.join("data/fashion_test_1000-labels.idx1");
    let mut threads = 2usize;
    let mut fixed_bits: Option<u32> = None;
    let mut count: Option<usize> = None;
    let mut models = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--images" => images = PathBuf::from(value()),
            "--labels" => labels = PathBuf::from(value()),
            "--fixed" => {
                fixed_bits = Some(
                    value()
                        .parse()
                        .unwrap_or_else(|_| fail("--fixed: not a number".into())),
                )
            }
            "--count" => {
                count = Some(
                    value()
                        .parse()
                        .unwrap_or_else(|_| fail("--count: not a number".into())),
                )
            }
            "--threads" => {
                threads = value()
                    .parse()
                    .unwrap_or_else(|_| fail("--threads: not a number".into()))
            }
            _ => models.push(PathBuf::from(a)),
        }
    }
    if models.is_empty() {
        let dir = root.join("fashion");
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| fail(format!("{dir:?}: {e}")));
        models = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
            .collect();
        models.sort();
    }
    let data =
        read_idx(&images, &labels, 10, MAX_IDX_ITEMS).unwrap_or_else(|e| fail(e.to_string()));
    let mut data = data;
    if let Some(n) = count {
        data.images.truncate(n);
        data.labels.truncate(n);
    }
    println!(
        "{} images {}x{} from {}",
        data.images.len(),
        data.rows,
        data.cols,
        images.display()
    );
    for path in &models {
        let bytes = std::fs::read(path).unwrap_or_else(|e| fail(format!("{path:?}: {e}")));
        let net = import_onnx(&bytes).unwrap_or_else(|e| fail(format!("{path:?}: {e}")));
        let fixed = fixed_bits.map(|f| {
            Fixed::<P41>::new(&net, f, SignScale::Product)
                .unwrap_or_else(|e| fail(format!("{path:?}: fixed point: {e}")))
        });
        let start = Instant::now();
        let t = tally(&net, fixed.as_ref(), &data.images, &data.labels, threads);
        let n = data.images.len().max(1);
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        print!(
            "{name:<34} f64 {:>5}/{} correct ({:.2} %)",
            t.correct,
            data.images.len(),
            100.0 * t.correct as f64 / n as f64
        );
        if let Some(f) = fixed_bits {
            print!(
                "; p41 f={f}: {} correct ({:.2} %), argmax = f64 on {}, largest logit error {:.2e}",
                t.fixed_correct,
                100.0 * t.fixed_correct as f64 / n as f64,
                t.agree,
                t.worst
            );
        }
        println!("; {:.1} s", start.elapsed().as_secs_f64());
    }
}
