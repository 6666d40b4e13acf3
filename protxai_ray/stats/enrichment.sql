-- Tests across the proteins of a class (docs/method.md "Statistics"). Every test is a "cell" with one value
-- x per protein; a "family" is the set of cells corrected together by Benjamini-Hochberg (only the
-- testable cells of a family count as hypotheses):
--   head_enrichment     x = r of head (layer, head) for annotation a;  family = class x annotation
--                       (all heads of the model)
--   residue_enrichment  x = r of the embedding IG for annotation a;    family = class: the annotation
--                       types tested in this computation ($annotation_types), negative controls
--                       ($negative_controls, e.g. signal) excepted: those form a family of their own
--   head_positivity     x = relevance_sum of head (layer, head);       family = class (all heads)
-- and three companions reported as extra columns of head_enrichment / residue_enrichment:
--   head_enrichment_aa     x = r_aa_adjusted of the head (composition-adjusted r); family as head_enrichment
--   residue_enrichment_aa  x = r_aa_adjusted of the embedding IG;               family as residue_enrichment
--   annotated_positivity   x = relevance_sum of the head over the proteins annotated with a (the seed's
--                          positivity input for its overlay);                  family as head_enrichment

-- name: cells
-- The full grid, so that a class x annotation without proteins still appears (as not testable).
CREATE OR REPLACE TEMP TABLE stats_cells AS
WITH classes AS (SELECT DISTINCT class FROM stats_run_proteins),
annotation_types AS (SELECT DISTINCT unnest($annotation_types::VARCHAR[]) AS annotation),
model_heads AS (SELECT DISTINCT layer, head FROM stats_head_totals),
grid AS (
    SELECT 'head_enrichment' AS test, class, annotation, layer, head
    FROM classes, annotation_types, model_heads
    UNION ALL
    SELECT 'residue_enrichment', class, annotation, NULL, NULL FROM classes, annotation_types
    UNION ALL
    SELECT 'head_positivity', class, NULL, layer, head FROM classes, model_heads
    UNION ALL
    SELECT 'head_enrichment_aa', class, annotation, layer, head FROM classes, annotation_types, model_heads
    UNION ALL
    SELECT 'residue_enrichment_aa', class, annotation, NULL, NULL FROM classes, annotation_types
    UNION ALL
    SELECT 'annotated_positivity', class, annotation, layer, head FROM classes, annotation_types, model_heads
),
keyed AS (
    SELECT *,
           -- the family, spelled out: test | class | annotation (per-head tests) or test | class
           -- (residue tests; "| negative controls" for the controls' own family)
           concat_ws(' | ', test, class,
                     CASE WHEN layer IS NOT NULL THEN annotation
                          WHEN list_contains($negative_controls::VARCHAR[], annotation)
                          THEN 'negative controls' END) AS family_key
    FROM grid
)
SELECT row_number() OVER (ORDER BY test, class, annotation, layer, head) AS cell,
       dense_rank() OVER (ORDER BY family_key) AS family,
       family_key,
       test, class, annotation, layer::SMALLINT AS layer, head::SMALLINT AS head
FROM keyed;

-- name: test_values
-- One value per protein and cell; NULL values (r of a constant track, r_aa_adjusted where it is not
-- defined) are left out. Each per-protein score row feeds its tests through a lateral VALUES list.
CREATE OR REPLACE TEMP TABLE stats_test_values AS
SELECT c.cell, v.x
FROM stats_protein_head_scores AS s
JOIN stats_run_proteins AS p USING (accession)
CROSS JOIN LATERAL (VALUES ('head_enrichment', s.r), ('head_enrichment_aa', s.r_aa_adjusted),
                           ('annotated_positivity', s.relevance_sum)) AS v(test, x)
JOIN stats_cells AS c
  ON c.test = v.test AND c.class = p.class AND c.annotation = s.annotation
 AND c.layer = s.layer AND c.head = s.head
WHERE v.x IS NOT NULL
UNION ALL
SELECT c.cell, v.x
FROM stats_protein_residue_scores AS s
JOIN stats_run_proteins AS p USING (accession)
CROSS JOIN LATERAL (VALUES ('residue_enrichment', s.r), ('residue_enrichment_aa', s.r_aa_adjusted)) AS v(test, x)
JOIN stats_cells AS c ON c.test = v.test AND c.class = p.class AND c.annotation = s.annotation
WHERE v.x IS NOT NULL
UNION ALL
SELECT c.cell, t.relevance_sum
FROM stats_head_totals AS t
JOIN stats_run_proteins AS p USING (accession)
JOIN stats_cells AS c
  ON c.test = 'head_positivity' AND c.class = p.class AND c.layer = t.layer AND c.head = t.head;

-- name: signed_ranks
-- Wilcoxon signed-rank ingredients per cell, as scipy.stats.wilcoxon(x, alternative='greater') with
-- zero_method='wilcox': zeros are dropped; |x| of the rest ranked 1..n_nonzero with ties averaged
-- (rank + (tie size - 1) / 2); statistic r_plus = sum of the ranks of positive x; tie_term =
-- sum over tie groups of (t^3 - t) = sum over values of (t^2 - 1). The ranks themselves are kept only
-- for n <= 13, where scipy enumerates all 2^n sign flips. Also the moments for the one-sample t-test.
CREATE OR REPLACE TEMP TABLE stats_signed_ranks AS
WITH sized AS (
    SELECT cell, x, count(*) OVER (PARTITION BY cell) AS n FROM stats_test_values
),
ranked AS (
    SELECT cell, x, n,
           rank() OVER (PARTITION BY cell ORDER BY abs(x))
             + (count(*) OVER (PARTITION BY cell, abs(x)) - 1) / 2 AS signed_rank,
           count(*) OVER (PARTITION BY cell, abs(x)) AS tie_size
    FROM sized WHERE x <> 0
),
rank_sums AS (
    SELECT cell,
           count(*) AS n_nonzero,
           coalesce(sum(signed_rank) FILTER (WHERE x > 0), 0) AS r_plus,
           sum(tie_size * tie_size - 1) AS tie_term,
           max(tie_size) > 1 AS has_ties,
           list(signed_rank ORDER BY signed_rank) FILTER (WHERE n <= 13) AS ranks
    FROM ranked GROUP BY cell
),
moments AS (
    SELECT cell, count(*) AS n, avg(x) AS mean, stddev_samp(x) AS sd
    FROM stats_test_values GROUP BY cell
)
SELECT c.cell, c.family,
       coalesce(m.n, 0) AS n,
       coalesce(r.n_nonzero, 0) AS n_nonzero,
       coalesce(r.r_plus, 0) AS r_plus,
       coalesce(r.tie_term, 0) AS tie_term,
       coalesce(r.has_ties, false) AS has_ties,
       r.ranks,
       m.mean, m.sd
FROM stats_cells AS c
LEFT JOIN moments AS m USING (cell)
LEFT JOIN rank_sums AS r USING (cell);

-- name: benjamini_hochberg
-- BH-adjusted p per family, as scipy.stats.false_discovery_control(p, method='bh'): sort p ascending,
-- p_(i) * m / i, running minimum from the largest p down, capped at 1. m counts the testable cells of
-- the family (cells with p NULL are not hypotheses). Input: stats_pvalues(cell, family, p).
SELECT cell,
       least(1.0, min(p * (m::DOUBLE / i)) OVER (PARTITION BY family ORDER BY i DESC
                                                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS p_adj
FROM (
    SELECT cell, family, p,
           row_number() OVER (PARTITION BY family ORDER BY p, cell) AS i,
           count(*) OVER (PARTITION BY family) AS m
    FROM stats_pvalues WHERE p IS NOT NULL
);

-- name: cell_results
-- Every cell with its test results; stats_cell_pvalues (cell, p, method, note, t_statistic, t_p) comes
-- from wilcoxon.py / ttest.py, stats_p_adjusted and stats_t_p_adjusted from benjamini_hochberg. The note
-- of a negative control's cells ends with "negative control" (the flag in the output tables).
CREATE OR REPLACE TEMP TABLE stats_cell_results AS
SELECT c.test, c.class, c.annotation, c.layer, c.head,
       r.n::BIGINT AS n,
       CASE WHEN r.n > 0 THEN r.r_plus END AS statistic,
       v.p, w.p_adj,
       coalesce(w.p_adj < 0.05, false) AS significant,
       v.p IS NOT NULL AS testable,
       v.method,
       CASE WHEN list_contains($negative_controls::VARCHAR[], c.annotation)
            THEN concat_ws('; ', v.note, 'negative control') ELSE v.note END AS note,
       v.t_statistic, v.t_p, t.p_adj AS t_p_adj
FROM stats_cells AS c
JOIN stats_signed_ranks AS r USING (cell)
JOIN stats_cell_pvalues AS v USING (cell)
LEFT JOIN stats_p_adjusted AS w USING (cell)
LEFT JOIN stats_t_p_adjusted AS t USING (cell);

-- name: head_enrichment
-- aa_*: the Wilcoxon of r_aa_adjusted > 0 (composition-adjusted), BH over the same family.
-- positivity_p_adj: Wilcoxon of the head's relevance_sum > 0 over the annotated proteins of the class;
-- overlay = the seed's overlay mask: t-test of r significant (t_p_adj) and positivity significant.
SELECT $run_id AS run_id, e.class, e.annotation, e.layer, e.head, e.n, e.statistic, e.p, e.p_adj,
       e.significant, e.testable, e.method, e.note, e.t_statistic, e.t_p, e.t_p_adj,
       a.n AS aa_n, a.statistic AS aa_statistic, a.p AS aa_p, a.p_adj AS aa_p_adj,
       a.significant AS aa_significant,
       q.p_adj AS positivity_p_adj,
       coalesce(e.t_p_adj < 0.05 AND q.p_adj < 0.05, false) AS overlay
FROM stats_cell_results AS e
JOIN stats_cell_results AS a
  ON a.test = 'head_enrichment_aa' AND a.class = e.class AND a.annotation = e.annotation
 AND a.layer = e.layer AND a.head = e.head
JOIN stats_cell_results AS q
  ON q.test = 'annotated_positivity' AND q.class = e.class AND q.annotation = e.annotation
 AND q.layer = e.layer AND q.head = e.head
WHERE e.test = 'head_enrichment'
ORDER BY e.class, e.annotation, e.layer, e.head;

-- name: residue_enrichment
SELECT $run_id AS run_id, e.class, e.annotation, e.n, e.statistic, e.p, e.p_adj, e.significant,
       e.testable, e.method, e.note, e.t_statistic, e.t_p, e.t_p_adj,
       a.n AS aa_n, a.statistic AS aa_statistic, a.p AS aa_p, a.p_adj AS aa_p_adj,
       a.significant AS aa_significant
FROM stats_cell_results AS e
JOIN stats_cell_results AS a
  ON a.test = 'residue_enrichment_aa' AND a.class = e.class AND a.annotation = e.annotation
WHERE e.test = 'residue_enrichment'
ORDER BY e.class, e.annotation;

-- name: head_positivity
SELECT $run_id AS run_id, class, layer, head, n, statistic, p, p_adj, significant, testable, method, note
FROM stats_cell_results WHERE test = 'head_positivity'
ORDER BY class, layer, head;

-- name: protein_head_scores
SELECT $run_id AS run_id, accession, layer, head, annotation, r, rra, relevance_sum, n_annotated,
       r_aa_adjusted
FROM stats_protein_head_scores
ORDER BY accession, annotation, layer, head;

-- name: protein_residue_scores
SELECT $run_id AS run_id, accession, annotation, r, rra, relevance_sum, n_annotated, r_aa_adjusted
FROM stats_protein_residue_scores
ORDER BY accession, annotation;
