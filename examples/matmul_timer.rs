//! Times graft's matrix product for a driver on standard input, so that another program (the
//! NumPy comparison `benches/reference/numpy_paired.py`) can alternate with it round by round.
//!
//! Each input line is `n reps`: the process multiplies two `n × n` matrices `reps` times and
//! prints the seconds all of them took, on one line. Its operands stay allocated between lines
//! of the same size, so a round measures the product alone (threads already started, pages
//! already touched). Run: `cargo run --release --example matmul_timer`, then type `512 10`.

use std::io::{BufRead, Write};
use std::time::Instant;

use graft::kernels::cpu::{matmul, MatmulSpec};

fn main() {
    let mut size = 0;
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let fields: Vec<usize> = line.split_whitespace().filter_map(|f| f.parse().ok()).collect();
        let [n, reps] = fields[..] else {
            eprintln!("matmul_timer: expected a line `n reps` (two whole numbers), got {line:?}");
            std::process::exit(2);
        };
        if n != size {
            size = n;
            // Values in [-1, 1) from a fixed hash: no NaNs or subnormals to slow either side.
            let fill = |seed: u32| -> Vec<f32> {
                (0..(n * n) as u32)
                    .map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 16) % 2001) as f32 / 1000.0 - 1.0)
                    .collect()
            };
            (a, b, c) = (fill(1), fill(2), vec![0.0; n * n]);
            matmul(&a, &b, &mut c, MatmulSpec::new(n, n, n));
        }
        let start = Instant::now();
        for _ in 0..reps {
            matmul(&a, &b, &mut c, MatmulSpec::new(n, n, n));
        }
        let seconds = start.elapsed().as_secs_f64();
        let mut out = stdout.lock();
        // The driver waits for this line; if it has gone, there is no one left to tell.
        if writeln!(out, "{seconds}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
}
