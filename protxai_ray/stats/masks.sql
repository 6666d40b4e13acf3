-- Annotation masks (docs/method.md "Statistics"): m_t = 1 where position t lies in an annotated range of
-- type a (start <= t <= end), else 0. Only the 1s are stored (sparse); every other position of the
-- protein, including the start token (0) and the end token (length + 1), is 0. A protein with no 1 for
-- type a has no rows for a and is left out of every statistic of a.

-- name: run_proteins
-- The proteins of the run: class = predictions.target_name, length and sequence from the run's release
-- (same CRC64, so the attributions belong to this sequence). $classes = [] keeps every class.
-- $excluded: accessions left out (head error above the run's tolerance; see stats/run.py).
CREATE OR REPLACE TEMP TABLE stats_run_proteins AS
SELECT p.accession,
       any_value(p.target_name) AS class,
       any_value(r.length) AS length,
       any_value(r.sequence) AS sequence
FROM predictions AS p
JOIN proteins AS r ON r.accession = p.accession AND r.release = $release AND r.crc64 = p.crc64
WHERE p.run_id = $run_id
  AND (len($classes::VARCHAR[]) = 0 OR list_contains($classes::VARCHAR[], p.target_name))
  AND NOT list_contains($excluded::VARCHAR[], p.accession)
GROUP BY p.accession;

-- name: residue_types
-- The amino acid at each residue position 1..length (the composition adjustment groups by it).
CREATE OR REPLACE TEMP TABLE stats_residue_types AS
SELECT accession, position::INTEGER AS position, substr(sequence, position, 1) AS residue
FROM (SELECT accession, sequence, unnest(range(1, length + 1)) AS position FROM stats_run_proteins);

-- name: annotation_mask
-- Positions with m_t = 1, per protein and annotation type. Feature ranges are clipped to 1..length and
-- overlapping ranges of one type count once. Controls, derived from the sequence:
--   hydrophobic     residues F M W I V L P A
--   positive        residues K R
--   tm_hydrophobic  residues F M W I V L P A inside a `transmembrane` range
--   tm_positive     residues K R inside a `transmembrane` range
-- Evidence-restricted types, built only when requested by name (T = any feature type):
--   T:experimental  the T features with at least one experimental ECO code ($experimental_codes)
--   T:predicted     the T features with ECO codes, none of them experimental
-- (features without evidence, e.g. TMbed's, are in neither). {evidence} is annotations.evidence, or
-- NULL for stores written before that column existed.
-- $annotations = [] keeps every type (all feature types of the run's proteins plus the four controls;
-- no evidence-restricted types).
CREATE OR REPLACE TEMP TABLE stats_annotation_mask AS
WITH feature_ranges AS (
    SELECT a.accession, a.feature_type AS annotation, {evidence} AS evidence,
           greatest(a.start, 1) AS first_position, least(a."end", p.length) AS last_position
    FROM annotations AS a
    JOIN stats_run_proteins AS p USING (accession)
    WHERE a.release = $release AND a.start IS NOT NULL AND a."end" IS NOT NULL
),
evidence_ranges AS (
    SELECT accession, annotation || ':experimental' AS annotation, first_position, last_position
    FROM feature_ranges
    WHERE list_contains($annotations::VARCHAR[], annotation || ':experimental')
      AND list_has_any(string_split(evidence, ','), $experimental_codes::VARCHAR[])
    UNION ALL
    SELECT accession, annotation || ':predicted', first_position, last_position
    FROM feature_ranges
    WHERE list_contains($annotations::VARCHAR[], annotation || ':predicted')
      AND coalesce(evidence, '') <> ''
      AND NOT list_has_any(string_split(evidence, ','), $experimental_codes::VARCHAR[])
),
feature_positions AS (
    SELECT DISTINCT accession, annotation, position
    FROM (SELECT accession, annotation, unnest(range(first_position, last_position + 1)) AS position
          FROM (SELECT accession, annotation, first_position, last_position FROM feature_ranges
                UNION ALL SELECT * FROM evidence_ranges)
          WHERE first_position <= last_position)
),
transmembrane_residues AS (
    SELECT s.accession, s.position, s.residue
    FROM stats_residue_types AS s
    JOIN feature_positions AS f
      ON f.accession = s.accession AND f.position = s.position AND f.annotation = 'transmembrane'
),
control_positions AS (
    SELECT accession, 'hydrophobic' AS annotation, position
    FROM stats_residue_types WHERE residue IN ('F', 'M', 'W', 'I', 'V', 'L', 'P', 'A')
    UNION ALL
    SELECT accession, 'positive', position FROM stats_residue_types WHERE residue IN ('K', 'R')
    UNION ALL
    SELECT accession, 'tm_hydrophobic', position
    FROM transmembrane_residues WHERE residue IN ('F', 'M', 'W', 'I', 'V', 'L', 'P', 'A')
    UNION ALL
    SELECT accession, 'tm_positive', position FROM transmembrane_residues WHERE residue IN ('K', 'R')
)
SELECT accession, annotation, position::INTEGER AS position
FROM (SELECT * FROM feature_positions UNION ALL SELECT * FROM control_positions)
WHERE len($annotations::VARCHAR[]) = 0 OR list_contains($annotations::VARCHAR[], annotation);

-- name: annotation_sizes
-- K = number of annotated residues per protein and type (the mask's 1s; K >= 1 by construction).
CREATE OR REPLACE TEMP TABLE stats_annotation_sizes AS
SELECT accession, annotation, count(*) AS n_annotated
FROM stats_annotation_mask
GROUP BY accession, annotation;

-- name: annotation_residues
-- Per protein, type and amino acid: annotated residues (K_aa) and all residues (n_aa) of that amino acid
-- (the composition adjustment's expected sums and residual mask variance).
CREATE OR REPLACE TEMP TABLE stats_annotation_residues AS
WITH residue_counts AS (
    SELECT accession, residue, count(*) AS n_residues FROM stats_residue_types GROUP BY accession, residue
)
SELECT m.accession, m.annotation, t.residue, count(*) AS n_annotated, any_value(c.n_residues) AS n_residues
FROM stats_annotation_mask AS m
JOIN stats_residue_types AS t USING (accession, position)
JOIN residue_counts AS c ON c.accession = t.accession AND c.residue = t.residue
GROUP BY m.accession, m.annotation, t.residue;
