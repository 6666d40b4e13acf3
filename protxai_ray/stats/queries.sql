-- Saved queries over the stats tables, for `protxai query --store S "SQL"` (the store views) or
-- protxai_ray.stats.saved_queries.saved_query(name, **parameters). Placeholders {run_id}, {annotation},
-- {layer}, {head}, {limit} are filled with SQL literals.

-- name: top_heads_for_annotation
-- The heads most enriched for an annotation type (Wilcoxon r > 0, BH-adjusted), all classes.
SELECT class, layer, head, n, statistic, p, p_adj, significant, t_p_adj
FROM head_enrichment
WHERE run_id = {run_id} AND annotation = {annotation} AND testable
ORDER BY p_adj, p, statistic DESC, layer, head
LIMIT {limit};

-- name: proteins_most_aligned_with_annotation
-- Proteins where one head is most aligned with an annotation (highest point-biserial r), with the
-- share of its top-K residues inside the annotation (RRA).
SELECT s.accession, p.target_name AS class, s.r, s.rra, s.n_annotated, s.relevance_sum
FROM protein_head_scores AS s
JOIN predictions AS p ON p.run_id = s.run_id AND p.accession = s.accession
WHERE s.run_id = {run_id} AND s.annotation = {annotation} AND s.layer = {layer} AND s.head = {head}
  AND s.r IS NOT NULL
ORDER BY s.r DESC
LIMIT {limit};

-- name: embedding_enrichment_per_class
-- Embedding-level (residue IG) enrichment per class and annotation type, best first.
SELECT class, annotation, n, statistic, p, p_adj, significant, t_p_adj, note
FROM residue_enrichment
WHERE run_id = {run_id}
ORDER BY class, p_adj NULLS LAST, annotation;

-- name: significant_heads_per_layer
-- How many heads of each layer are significant for an annotation, per class (the heatmap in numbers).
SELECT class, layer, count(*) FILTER (WHERE significant) AS significant_heads, count(*) AS heads,
       min(p_adj) AS best_p_adj
FROM head_enrichment
WHERE run_id = {run_id} AND annotation = {annotation}
GROUP BY class, layer
ORDER BY class, layer;

-- name: positive_heads
-- Heads whose summed relevance is significantly > 0 across the proteins of a class.
SELECT class, layer, head, n, statistic, p_adj
FROM head_positivity
WHERE run_id = {run_id} AND significant
ORDER BY class, p_adj, layer, head;

-- name: wilcoxon_ttest_disagreements
-- Cells where the Wilcoxon map and the t-test overlay disagree at p_adj < 0.05.
SELECT class, annotation, layer, head, n, p_adj, t_p_adj
FROM head_enrichment
WHERE run_id = {run_id} AND testable AND significant <> coalesce(t_p_adj < 0.05, false)
ORDER BY class, annotation, layer, head;

-- name: best_head_per_protein
-- For each protein, the head with the highest r for an annotation type.
SELECT accession, arg_max(layer, r) AS layer, arg_max(head, r) AS head, max(r) AS r
FROM protein_head_scores
WHERE run_id = {run_id} AND annotation = {annotation} AND r IS NOT NULL
GROUP BY accession
ORDER BY r DESC;
