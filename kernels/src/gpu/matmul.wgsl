// Batched matmul: out[b] (=|+=) op(A[b]) · op(B[b]). Params: [m, n, k, trans_a, trans_b,
// a_batch_stride, b_batch_stride, accumulate, batch_base].
//
// A 16×16 workgroup computes a 64×64 output tile; each thread owns a contiguous 4×4 block of
// outputs (rows 4ty.., cols 4tx..) held as four vec4 registers. K advances in slices of 16 staged
// in shared memory as vec4s of 4 neighbouring rows (A) or columns (B), so each step of the inner
// loop is two vec4 loads and four vec4 multiply-adds instead of eight scalar loads and sixteen
// scalar multiply-adds.
//
// Staging a slice (64×16 floats of A, 16×64 of B) takes 1024 floats per operand, 4 per thread.
// When an operand's stored contiguous dimension (k for A, m for Aᵀ, n for B, k for Bᵀ) and its
// batch stride are multiples of 4, every aligned group of 4 floats along that dimension is either
// wholly inside the matrix or wholly outside, so a thread reads its 4 floats as one vec4 (one
// load and one bounds check instead of four). Otherwise it reads them one float at a time. The
// host picks one of four entry points (matmul, matmul_a4, matmul_b4, matmul_a4b4) for the two
// operands; all share the code below and differ only in how they stage the tiles.

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// The same A and B buffers seen as vec4s. An entry point uses either `a` or `a4` (and `b` or
// `b4`), never both, so each binding slot has one type per pipeline.
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> a_tile: array<vec4<f32>, 256>; // [TK][TM / 4]
var<workgroup> b_tile: array<vec4<f32>, 256>; // [TK][TN / 4]

// What every stage of one workgroup needs to know about its product and tile.
struct Job {
    m: u32,
    n: u32,
    k: u32,
    trans_a: bool,
    trans_b: bool,
    a_base: u32, // first float of this batch entry's A
    b_base: u32,
    out_base: u32,
    row0: u32, // first output row / column of the tile
    col0: u32,
}

fn job(wid: vec3<u32>) -> Job {
    let m = p(0u);
    let n = p(1u);
    let batch = wid.z + p(8u);
    return Job(m, n, p(2u), p(3u) == 1u, p(4u) == 1u, batch * p(5u), batch * p(6u), batch * m * n,
               wid.y * TM, wid.x * TN);
}

// A[row0.., k0..] into a_tile, one float per thread per round. Neighbouring threads walk the
// stored layout's contiguous dimension, so their reads are adjacent.
fn stage_a_scalar(j: Job, k0: u32, li: u32) {
    for (var r = 0u; r < 4u; r = r + 1u) {
        let e = li + r * 256u;
        var ii: u32;
        var ka: u32;
        if (j.trans_a) {
            ka = e / TM;
            ii = e % TM;
        } else {
            ii = e / TK;
            ka = e % TK;
        }
        let gi = j.row0 + ii;
        let gk = k0 + ka;
        var v = 0.0;
        if (gi < j.m && gk < j.k) {
            if (j.trans_a) {
                v = a[j.a_base + gk * j.m + gi];
            } else {
                v = a[j.a_base + gi * j.k + gk];
            }
        }
        a_tile[ka * (TM / 4u) + ii / 4u][ii % 4u] = v;
    }
}

// As stage_a_scalar, one vec4 per thread. Needs k % 4 == 0 (A) or m % 4 == 0 (Aᵀ) and
// a_base % 4 == 0, so the vec4 index below is exact and never straddles the matrix edge.
fn stage_a_vec4(j: Job, k0: u32, li: u32) {
    if (j.trans_a) {
        // Aᵀ is stored [k, m]: thread li reads rows 4q..4q+3 of op(A) at one k, which is
        // already one vec4 of a_tile.
        let ka = li / (TM / 4u);
        let q = li % (TM / 4u);
        let gi = j.row0 + 4u * q;
        let gk = k0 + ka;
        var v = vec4<f32>(0.0);
        if (gi < j.m && gk < j.k) {
            v = a4[(j.a_base + gk * j.m + gi) / 4u];
        }
        a_tile[ka * (TM / 4u) + q] = v;
    } else {
        // A is stored [m, k]: thread li reads k0+4q..+3 of one row and scatters the four
        // values into four k-rows of a_tile (the tile is k-major).
        let ii = li / (TK / 4u);
        let q = li % (TK / 4u);
        let gi = j.row0 + ii;
        let gk = k0 + 4u * q;
        var v = vec4<f32>(0.0);
        if (gi < j.m && gk < j.k) {
            v = a4[(j.a_base + gi * j.k + gk) / 4u];
        }
        for (var c = 0u; c < 4u; c = c + 1u) {
            a_tile[(4u * q + c) * (TM / 4u) + ii / 4u][ii % 4u] = v[c];
        }
    }
}

// B[k0.., col0..] into b_tile, one float per thread per round.
fn stage_b_scalar(j: Job, k0: u32, li: u32) {
    for (var r = 0u; r < 4u; r = r + 1u) {
        let e = li + r * 256u;
        var jj: u32;
        var kb: u32;
        if (j.trans_b) {
            jj = e / TK;
            kb = e % TK;
        } else {
            kb = e / TN;
            jj = e % TN;
        }
        let gj = j.col0 + jj;
        let gk = k0 + kb;
        var v = 0.0;
        if (gj < j.n && gk < j.k) {
            if (j.trans_b) {
                v = b[j.b_base + gj * j.k + gk];
            } else {
                v = b[j.b_base + gk * j.n + gj];
            }
        }
        b_tile[kb * (TN / 4u) + jj / 4u][jj % 4u] = v;
    }
}

// As stage_b_scalar, one vec4 per thread. Needs n % 4 == 0 (B) or k % 4 == 0 (Bᵀ) and
// b_base % 4 == 0.
fn stage_b_vec4(j: Job, k0: u32, li: u32) {
    if (j.trans_b) {
        // Bᵀ is stored [n, k]: thread li reads k0+4q..+3 of one column of op(B) and scatters
        // them into four k-rows of b_tile.
        let jj = li / (TK / 4u);
        let q = li % (TK / 4u);
        let gj = j.col0 + jj;
        let gk = k0 + 4u * q;
        var v = vec4<f32>(0.0);
        if (gj < j.n && gk < j.k) {
            v = b4[(j.b_base + gj * j.k + gk) / 4u];
        }
        for (var c = 0u; c < 4u; c = c + 1u) {
            b_tile[(4u * q + c) * (TN / 4u) + jj / 4u][jj % 4u] = v[c];
        }
    } else {
        // B is stored [k, n]: four neighbouring columns at one k are one vec4 of b_tile.
        let kb = li / (TN / 4u);
        let q = li % (TN / 4u);
        let gj = j.col0 + 4u * q;
        let gk = k0 + kb;
        var v = vec4<f32>(0.0);
        if (gj < j.n && gk < j.k) {
            v = b4[(j.b_base + gk * j.n + gj) / 4u];
        }
        b_tile[kb * (TN / 4u) + q] = v;
    }
}

// acc += the staged slice's contribution to this thread's 4×4 block.
fn multiply_slice(acc: ptr<function, array<vec4<f32>, 4>>, lid: vec3<u32>) {
    for (var kk = 0u; kk < TK; kk = kk + 1u) {
        let ar = a_tile[kk * (TM / 4u) + lid.y];
        let br = b_tile[kk * (TN / 4u) + lid.x];
        (*acc)[0] = fma(vec4<f32>(ar.x), br, (*acc)[0]);
        (*acc)[1] = fma(vec4<f32>(ar.y), br, (*acc)[1]);
        (*acc)[2] = fma(vec4<f32>(ar.z), br, (*acc)[2]);
        (*acc)[3] = fma(vec4<f32>(ar.w), br, (*acc)[3]);
    }
}

fn write_block(j: Job, acc: array<vec4<f32>, 4>, lid: vec3<u32>) {
    let accumulate = p(7u) == 1u;
    for (var r = 0u; r < 4u; r = r + 1u) {
        let i = j.row0 + 4u * lid.y + r;
        for (var c = 0u; c < 4u; c = c + 1u) {
            let col = j.col0 + 4u * lid.x + c;
            if (i < j.m && col < j.n) {
                let o = j.out_base + i * j.n + col;
                var v = acc[r][c];
                if (accumulate) {
                    v = v + out[o];
                }
                out[o] = v;
            }
        }
    }
}

// The four entry points: the same loop, with scalar or vec4 staging of A and of B. (WGSL has no
// generics, and a runtime flag could not switch the binding's type.)

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let j = job(wid);
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < j.k; k0 = k0 + TK) {
        stage_a_scalar(j, k0, li);
        stage_b_scalar(j, k0, li);
        workgroupBarrier();
        multiply_slice(&acc, lid);
        workgroupBarrier();
    }
    write_block(j, acc, lid);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_a4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let j = job(wid);
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < j.k; k0 = k0 + TK) {
        stage_a_vec4(j, k0, li);
        stage_b_scalar(j, k0, li);
        workgroupBarrier();
        multiply_slice(&acc, lid);
        workgroupBarrier();
    }
    write_block(j, acc, lid);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_b4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let j = job(wid);
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < j.k; k0 = k0 + TK) {
        stage_a_scalar(j, k0, li);
        stage_b_vec4(j, k0, li);
        workgroupBarrier();
        multiply_slice(&acc, lid);
        workgroupBarrier();
    }
    write_block(j, acc, lid);
}

@compute @workgroup_size(16, 16, 1)
fn matmul_a4b4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let j = job(wid);
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < j.k; k0 = k0 + TK) {
        stage_a_vec4(j, k0, li);
        stage_b_vec4(j, k0, li);
        workgroupBarrier();
        multiply_slice(&acc, lid);
        workgroupBarrier();
    }
    write_block(j, acc, lid);
}
