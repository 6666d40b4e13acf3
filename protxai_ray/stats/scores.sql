-- Per protein x head x annotation scores (docs/method.md "Statistics"). A "track" is one relevance value per
-- position 0..length+1 of one protein: a head's conductance (heads) or the embedding IG (residues, with
-- layer = head = -1 inside these statements). {track} is replaced by head_track or residue_track.
-- Tracks are read one batch of proteins at a time (accessions $first..$last, a contiguous range so
-- Parquet row groups outside it are skipped): memory stays bounded by the batch, whatever the run size.

-- name: head_track
SELECT h.accession, h.layer, h.head, h.position, h.relevance
FROM heads AS h SEMI JOIN stats_run_proteins AS p ON p.accession = h.accession
WHERE h.run_id = $run_id AND h.accession BETWEEN $first AND $last

-- name: residue_track
SELECT r.accession, -1::SMALLINT AS layer, -1::SMALLINT AS head, r.position, r.relevance
FROM residues AS r SEMI JOIN stats_run_proteins AS p ON p.accession = r.accession
WHERE r.run_id = $run_id AND r.accession BETWEEN $first AND $last

-- name: track_totals
-- Per protein x head over all length + 2 positions, from the per-amino-acid moments below (one pass over
-- the track serves both): n, relevance_sum (the head's total relevance, used by the positivity test), and
-- the population standard deviation from the within- and between-group sums of squares (exactly 0 for a
-- constant track, so r is NULL there).
CREATE OR REPLACE TEMP TABLE {totals} AS
WITH grand AS (
    SELECT accession, layer, head, sum(n) AS n_positions, sum(n * mean) AS relevance_sum,
           sum(ss_within) AS ss_within, min(mean) AS low, max(mean) AS high
    FROM {moments} GROUP BY accession, layer, head
)
SELECT g.accession, g.layer, g.head, g.n_positions, g.relevance_sum,
       CASE WHEN g.ss_within = 0 AND g.low = g.high THEN 0.0
            ELSE sqrt((g.ss_within + sum(m.n * (m.mean - g.relevance_sum / g.n_positions) ^ 2))
                      / g.n_positions)
       END AS relevance_sd
FROM {moments} AS m
JOIN grand AS g USING (accession, layer, head)
GROUP BY g.accession, g.layer, g.head, g.n_positions, g.relevance_sum, g.ss_within, g.low, g.high;

-- name: track_annotated
-- Per protein x head x annotation: the relevance summed over the annotated positions, and how many
-- annotated residues are among the K most relevant residues (K = annotated residues; ranks over
-- residues 1..length only, ties broken by position so the ranking is deterministic). Each track is
-- ordered once by an ordered list aggregate (a small sort per protein x head, cheaper than a window
-- over all rows) and unnested with its rank.
WITH ordered AS (
    SELECT t.accession, t.layer, t.head,
           list({'position': t.position, 'relevance': t.relevance::DOUBLE}
                ORDER BY t.relevance DESC, t.position) AS by_relevance
    FROM ({track}) AS t
    JOIN stats_run_proteins AS p USING (accession)
    WHERE t.position BETWEEN 1 AND p.length
      AND t.accession IN (SELECT accession FROM stats_annotation_sizes)
    GROUP BY t.accession, t.layer, t.head
),
ranked AS (
    SELECT accession, layer, head,
           unnest(by_relevance) AS entry,
           generate_subscripts(by_relevance, 1) AS relevance_rank
    FROM ordered
)
SELECT r.accession, r.layer, r.head, m.annotation,
       sum(r.entry.relevance) AS annotated_sum,
       count(*) FILTER (WHERE r.relevance_rank <= s.n_annotated) AS top_k_annotated
FROM ranked AS r
JOIN stats_annotation_mask AS m ON m.accession = r.accession AND m.position = r.entry.position
JOIN stats_annotation_sizes AS s ON s.accession = m.accession AND s.annotation = m.annotation
GROUP BY r.accession, r.layer, r.head, m.annotation;

-- name: track_residue_moments
-- Per protein x head x amino acid: count, mean relevance and the sum of squared deviations from that mean
-- (var_pop * n, DuckDB's stable streaming variance); the start and end tokens form the group with residue
-- NULL. The totals above and the composition-adjusted r below are computed from these.
SELECT t.accession, t.layer, t.head, r.residue,
       count(*) AS n,
       avg(t.relevance::DOUBLE) AS mean,
       var_pop(t.relevance::DOUBLE) * count(*) AS ss_within
FROM ({track}) AS t
LEFT JOIN stats_residue_types AS r ON r.accession = t.accession AND r.position = t.position
GROUP BY t.accession, t.layer, t.head, r.residue;

-- name: protein_scores
-- r = point-biserial correlation of relevance with the mask over all length + 2 positions (start and end
-- tokens included with m = 0), in its textbook form
--     r = (M1 - M0) / s_n * sqrt(n1 * n0) / n
-- (M1, M0 = mean relevance where m = 1 / m = 0, s_n = population SD, n1 = K, n0 = n - K), which equals
-- Pearson's r with the 0/1 mask (= DuckDB corr(relevance, mask)) but needs only the sparse 1s instead of
-- a dense mask per annotation type. r is NULL when the relevance is constant (r undefined).
-- rra = share of the K most relevant residues that are annotated.
-- r_aa_adjusted = the partial correlation of relevance and mask over residues 1..length given the amino
-- acid: both are centred on their per-amino-acid means within the protein (e_t = x_t - mean_aa(x),
-- d_t = m_t - K_aa / n_aa), then correlated. It asks whether the annotated residues get more relevance
-- than the same amino acids elsewhere in the protein, so a track that is only a function of residue
-- identity (composition) has r_aa_adjusted = 0. From the per-amino-acid moments:
--     r_aa_adjusted = (sum_annotated x - sum_aa K_aa * mean_aa) / sqrt(SS_x * SS_m)
--     SS_x = sum_aa sum_t (x_t - mean_aa)^2,   SS_m = sum_aa K_aa * (n_aa - K_aa) / n_aa
-- NULL when the mask is a function of residue identity (SS_m = 0: e.g. the hydrophobic control) or the
-- relevance is, numerically (SS_x <= 1e-12 of its total sum of squares).
CREATE OR REPLACE TEMP TABLE {table} AS
WITH expected AS (
    SELECT m.accession, m.layer, m.head, c.annotation,
           sum(c.n_annotated * m.mean) AS expected_sum,
           sum(c.n_annotated * (c.n_residues - c.n_annotated) / c.n_residues) AS ss_mask
    FROM {moments} AS m
    JOIN stats_annotation_residues AS c ON c.accession = m.accession AND c.residue = m.residue
    GROUP BY m.accession, m.layer, m.head, c.annotation
),
within AS (
    SELECT accession, layer, head, sum(ss_within) AS ss_within
    FROM {moments} WHERE residue IS NOT NULL GROUP BY accession, layer, head
)
SELECT a.accession, a.layer, a.head, a.annotation,
       CASE WHEN t.relevance_sd > 0 THEN
           (a.annotated_sum / s.n_annotated
            - (t.relevance_sum - a.annotated_sum) / (t.n_positions - s.n_annotated))
           / t.relevance_sd * sqrt(s.n_annotated * (t.n_positions - s.n_annotated)) / t.n_positions
       END AS r,
       a.top_k_annotated / s.n_annotated AS rra,
       t.relevance_sum,
       s.n_annotated::INTEGER AS n_annotated,
       CASE WHEN e.ss_mask > 0 AND w.ss_within > 1e-12 * t.relevance_sd * t.relevance_sd * t.n_positions
            THEN (a.annotated_sum - e.expected_sum) / sqrt(w.ss_within * e.ss_mask)
       END AS r_aa_adjusted
FROM {annotated} AS a
JOIN {totals} AS t USING (accession, layer, head)
JOIN stats_annotation_sizes AS s USING (accession, annotation)
JOIN within AS w USING (accession, layer, head)
JOIN expected AS e USING (accession, layer, head, annotation);
