// Batched matmul: out[b] (=|+=) op(A[b]) · op(B[b]). Params: [m, n, k, trans_a, trans_b,
// a_batch_stride, b_batch_stride, accumulate, batch_base].
//
// A 16×16 workgroup computes a 64×64 output tile; each thread owns a contiguous 4×4 block of
// outputs (rows 4ty.., cols 4tx..) held as four vec4 registers. K advances in slices of 16 staged
// in shared memory as vec4s of 4 neighbouring rows (A) or columns (B), so each step of the inner
// loop is two vec4 loads and four vec4 multiply-adds instead of eight scalar loads and sixteen
// scalar multiply-adds.

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> a_tile: array<vec4<f32>, 256>; // [TK][TM / 4]
var<workgroup> b_tile: array<vec4<f32>, 256>; // [TK][TN / 4]

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let m = p(0u);
    let n = p(1u);
    let k = p(2u);
    let trans_a = p(3u) == 1u;
    let trans_b = p(4u) == 1u;
    let batch = wid.z + p(8u);
    let a_base = batch * p(5u);
    let b_base = batch * p(6u);
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < k; k0 = k0 + TK) {
        for (var r = 0u; r < 4u; r = r + 1u) {
            let e = li + r * 256u;
            // A: walk the stored layout's contiguous dimension with neighbouring threads.
            var ii: u32;
            var ka: u32;
            if (trans_a) {
                ka = e / TM;
                ii = e % TM;
            } else {
                ii = e / TK;
                ka = e % TK;
            }
            let gi = row0 + ii;
            let gka = k0 + ka;
            var av = 0.0;
            if (gi < m && gka < k) {
                if (trans_a) {
                    av = a[a_base + gka * m + gi];
                } else {
                    av = a[a_base + gi * k + gka];
                }
            }
            a_tile[ka * (TM / 4u) + ii / 4u][ii % 4u] = av;
            var jj: u32;
            var kb: u32;
            if (trans_b) {
                jj = e / TK;
                kb = e % TK;
            } else {
                kb = e / TN;
                jj = e % TN;
            }
            let gj = col0 + jj;
            let gkb = k0 + kb;
            var bv = 0.0;
            if (gj < n && gkb < k) {
                if (trans_b) {
                    bv = b[b_base + gj * k + gkb];
                } else {
                    bv = b[b_base + gkb * n + gj];
                }
            }
            b_tile[kb * (TN / 4u) + jj / 4u][jj % 4u] = bv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            let ar = a_tile[kk * (TM / 4u) + lid.y];
            let br = b_tile[kk * (TN / 4u) + lid.x];
            acc[0] = fma(vec4<f32>(ar.x), br, acc[0]);
            acc[1] = fma(vec4<f32>(ar.y), br, acc[1]);
            acc[2] = fma(vec4<f32>(ar.z), br, acc[2]);
            acc[3] = fma(vec4<f32>(ar.w), br, acc[3]);
        }
        workgroupBarrier();
    }
    let out_base = batch * m * n;
    let accumulate = p(7u) == 1u;
    for (var r = 0u; r < 4u; r = r + 1u) {
        let i = row0 + 4u * lid.y + r;
        for (var c = 0u; c < 4u; c = c + 1u) {
            let j = col0 + 4u * lid.x + c;
            if (i < m && j < n) {
                let o = out_base + i * n + j;
                var v = acc[r][c];
                if (accumulate) {
                    v = v + out[o];
                }
                out[o] = v;
            }
        }
    }
}
