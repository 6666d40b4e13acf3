-- Per protein x head x annotation scores (DESIGN.md "Statistics"). A "track" is one relevance value per
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
-- Per protein x head over all length + 2 positions: n, relevance_sum (the head's total relevance, used
-- by the positivity test), and the population standard deviation (DuckDB's streaming, stable form).
SELECT accession, layer, head,
       count(*) AS n_positions,
       sum(relevance::DOUBLE) AS relevance_sum,
       stddev_pop(relevance::DOUBLE) AS relevance_sd
FROM ({track})
GROUP BY accession, layer, head;

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

-- name: protein_scores
-- r = point-biserial correlation of relevance with the mask over all length + 2 positions (start and end
-- tokens included with m = 0), in its textbook form
--     r = (M1 - M0) / s_n * sqrt(n1 * n0) / n
-- (M1, M0 = mean relevance where m = 1 / m = 0, s_n = population SD, n1 = K, n0 = n - K), which equals
-- Pearson's r with the 0/1 mask (= DuckDB corr(relevance, mask)) but needs only the sparse 1s instead of
-- a dense mask per annotation type. r is NULL when the relevance is constant (r undefined).
-- rra = share of the K most relevant residues that are annotated.
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT a.accession, a.layer, a.head, a.annotation,
       CASE WHEN t.relevance_sd > 0 THEN
           (a.annotated_sum / s.n_annotated
            - (t.relevance_sum - a.annotated_sum) / (t.n_positions - s.n_annotated))
           / t.relevance_sd * sqrt(s.n_annotated * (t.n_positions - s.n_annotated)) / t.n_positions
       END AS r,
       a.top_k_annotated / s.n_annotated AS rra,
       t.relevance_sum,
       s.n_annotated::INTEGER AS n_annotated
FROM {annotated} AS a
JOIN {totals} AS t USING (accession, layer, head)
JOIN stats_annotation_sizes AS s USING (accession, annotation);
