//! The sum of several embedding lookups in one pass (BERT's word + position + token-type
//! embeddings): `out[n] = Σ_t table_t[indices_t[n]]`, rows of `hidden` floats. Its gradient for
//! each table is that table's `index_select` gradient (`index_add` of the upstream rows).

use super::for_each_row;

/// `out` is `[n, hidden]` with `n` the length of every index list; the indices were checked
/// against their table's rows.
pub fn embedding_sum(tables: &[&[f32]], indices: &[&[usize]], hidden: usize, out: &mut [f32]) {
    assert!(hidden > 0 && tables.len() == indices.len(), "embedding_sum: one index list per table");
    let n = out.len() / hidden;
    assert!(indices.iter().all(|i| i.len() == n), "embedding_sum: every index list has a row per output row");
    for_each_row(out, hidden, |r, o| {
        o.fill(0.0);
        for (table, idx) in tables.iter().zip(indices) {
            o.iter_mut().zip(&table[idx[r] * hidden..][..hidden]).for_each(|(o, &v)| *o += v);
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds_the_chosen_rows_of_each_table() {
        let (a, b) = ([1.0, 2.0, 10.0, 20.0], [100.0, 200.0]);
        let mut out = [0.0; 6];
        super::embedding_sum(&[&a, &b], &[&[1, 0, 1], &[0, 0, 0]], 2, &mut out);
        assert_eq!(out, [110.0, 220.0, 101.0, 202.0, 110.0, 220.0]);
    }
}
