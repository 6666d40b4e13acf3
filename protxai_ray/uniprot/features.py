"""Feature-type normalisation and position rules shared by every parser.

Canonical names are short snake_case forms of UniProt's XML feature types, identical whichever format
an entry came from (``active site`` -> ``active_site``, ``short sequence motif`` -> ``motif``,
``transmembrane region`` -> ``transmembrane``). The legacy types that UniProt folded into ``binding site``
in release 2022_03 keep their own names (``metal_binding``, ``nucleotide_binding``, ``calcium_binding``)
so that a release's counts stay what that release said.

Positions (1-based, inclusive):
* an uncertain end keeps its number: ``<5``/XML ``less than``/JSON ``OUTSIDE`` -> 5, ``>120`` -> 120,
  ``?47`` (uncertain) -> 47;
* an unknown end (``?`` alone, XML ``status="unknown"`` without a position, JSON ``UNKNOWN``) makes the
  extent unknowable: the feature is dropped and the entry gets a note. This only hits peptides/chains/
  signals/transit peptides in the data, never the annotation types the statistics use.

Ligands: ``ligand`` comes from an explicit ligand field (XML ``<ligand><name>``, flat ``/ligand=``, JSON
``ligand.name``). For the legacy binding types (``metal_binding``, ``nucleotide_binding``,
``calcium_binding``) that have no such field, ``ligand`` is the first clause of the description without a
trailing ordinal ("Zinc; catalytic" -> "Zinc", "Calcium 2" -> "Calcium", "ATP" -> "ATP"), so ligand
queries work across the 2022_03 change; the full text stays in ``description``.

Evidence: ``evidence`` is the set of ECO codes the record attaches to the feature, sorted and joined by
``,`` ("ECO:0000255,ECO:0000269"; "" when the record gives none). XML: the feature's ``evidence="1 2"``
keys resolved through the entry's ``<evidence type="ECO:..." key="1">`` elements; flat 2019_11+: the
``/evidence="ECO:0000269|PubMed:...,  ECO:..."`` qualifier; older flat layouts: the ``{ECO:...}`` braces
at the end of the description; JSON: ``evidences[].evidenceCode``. Sources (PubMed ids, rules) are not
kept, so the same feature gives the same value in every format. Pre-2014 status words ("Potential",
"By similarity", "Probable") and non-ECO evidence keys are not codes and give "". TMbed records carry
no evidence ("").
"""

from __future__ import annotations

import re

# XML feature type (also used, lower-case, by the 2019-2020 beta REST JSON) -> canonical name.
XML_TYPES: dict[str, str] = {
    "active site": "active_site",
    "binding site": "binding_site",
    "calcium-binding region": "calcium_binding",
    "chain": "chain",
    "coiled-coil region": "coiled_coil",
    "compositionally biased region": "compositional_bias",
    "cross-link": "cross_link",
    "disulfide bond": "disulfide_bond",
    "DNA-binding region": "dna_binding",
    "domain": "domain",
    "glycosylation site": "glycosylation",
    "helix": "helix",
    "initiator methionine": "initiator_methionine",
    "intramembrane region": "intramembrane",
    "lipid moiety-binding region": "lipidation",
    "metal ion-binding site": "metal_binding",
    "modified residue": "modified_residue",
    "mutagenesis site": "mutagenesis",
    "non-consecutive residues": "non_consecutive",
    "non-standard amino acid": "non_standard",
    "non-terminal residue": "non_terminal",
    "nucleotide phosphate-binding region": "nucleotide_binding",
    "peptide": "peptide",
    "propeptide": "propeptide",
    "region of interest": "region",
    "repeat": "repeat",
    "sequence conflict": "sequence_conflict",
    "sequence variant": "variant",
    "short sequence motif": "motif",
    "signal peptide": "signal",
    "site": "site",
    "splice variant": "splice_variant",
    "strand": "strand",
    "topological domain": "topological_domain",
    "transit peptide": "transit_peptide",
    "transmembrane region": "transmembrane",
    "turn": "turn",
    "unsure residue": "unsure_residue",
    "zinc finger region": "zinc_finger",
}

# Flat-file FT keys (all eras) -> canonical name.
FLAT_KEYS: dict[str, str] = {
    "ACT_SITE": "active_site",
    "BINDING": "binding_site",
    "CA_BIND": "calcium_binding",
    "CARBOHYD": "glycosylation",
    "CHAIN": "chain",
    "COILED": "coiled_coil",
    "COMPBIAS": "compositional_bias",
    "CONFLICT": "sequence_conflict",
    "CROSSLNK": "cross_link",
    "DISULFID": "disulfide_bond",
    "DNA_BIND": "dna_binding",
    "DOMAIN": "domain",
    "HELIX": "helix",
    "INIT_MET": "initiator_methionine",
    "INTRAMEM": "intramembrane",
    "LIPID": "lipidation",
    "METAL": "metal_binding",
    "MOD_RES": "modified_residue",
    "MOTIF": "motif",
    "MUTAGEN": "mutagenesis",
    "NON_CONS": "non_consecutive",
    "NON_STD": "non_standard",
    "NON_TER": "non_terminal",
    "NP_BIND": "nucleotide_binding",
    "PEPTIDE": "peptide",
    "PROPEP": "propeptide",
    "REGION": "region",
    "REPEAT": "repeat",
    "SIGNAL": "signal",
    "SITE": "site",
    "STRAND": "strand",
    "TOPO_DOM": "topological_domain",
    "TRANSIT": "transit_peptide",
    "TRANSMEM": "transmembrane",
    "TURN": "turn",
    "UNSURE": "unsure_residue",
    "VARIANT": "variant",
    "VAR_SEQ": "splice_variant",
    "VARSPLIC": "splice_variant",  # pre-2000 name of VAR_SEQ
    "ZN_FING": "zinc_finger",
    "SIMILAR": "similar",  # pre-1999 key ("similar to"), no modern equivalent
    "THIOETH": "cross_link",  # pre-2001 thioether bond, later CROSSLNK
    "THIOLEST": "cross_link",  # pre-2001 thiolester bond, later CROSSLNK
    "SE_CYS": "non_standard",  # pre-2005 selenocysteine, later NON_STD
}

# Current REST JSON type names -> canonical name.
JSON_TYPES: dict[str, str] = {
    "Active site": "active_site",
    "Alternative sequence": "splice_variant",
    "Beta strand": "strand",
    "Binding site": "binding_site",
    "Calcium binding": "calcium_binding",
    "Chain": "chain",
    "Coiled coil": "coiled_coil",
    "Compositional bias": "compositional_bias",
    "Cross-link": "cross_link",
    "Disulfide bond": "disulfide_bond",
    "DNA binding": "dna_binding",
    "Domain": "domain",
    "Glycosylation": "glycosylation",
    "Helix": "helix",
    "Initiator methionine": "initiator_methionine",
    "Intramembrane": "intramembrane",
    "Lipidation": "lipidation",
    "Metal binding": "metal_binding",
    "Modified residue": "modified_residue",
    "Motif": "motif",
    "Mutagenesis": "mutagenesis",
    "Natural variant": "variant",
    "Non-adjacent residues": "non_consecutive",
    "Non-standard residue": "non_standard",
    "Non-terminal residue": "non_terminal",
    "Nucleotide binding": "nucleotide_binding",
    "Peptide": "peptide",
    "Propeptide": "propeptide",
    "Region": "region",
    "Repeat": "repeat",
    "Sequence conflict": "sequence_conflict",
    "Sequence uncertainty": "unsure_residue",
    "Signal": "signal",
    "Site": "site",
    "Topological domain": "topological_domain",
    "Transit peptide": "transit_peptide",
    "Transmembrane": "transmembrane",
    "Turn": "turn",
    "Zinc finger": "zinc_finger",
    # 2019-2020 beta REST schema names that differ from the XML ones (P05067 in the shipped beta file:
    # its 3 "Other domain of interest" are the flat DOMAINs E1, BPTI/Kunitz inhibitor, E2).
    "Post-translationally modified residue": "modified_residue",
    "Other domain of interest": "domain",
    "Other site of interest": "site",
    "Sequence variation": "variant",
    "Other binding site": "binding_site",  # pre-2022 "binding site" (P0DTR4: "Substrate")
}

CANONICAL_TYPES = (
    frozenset(XML_TYPES.values()) | frozenset(FLAT_KEYS.values()) | frozenset(JSON_TYPES.values())
)

LEGACY_LIGAND_TYPES = frozenset({"metal_binding", "nucleotide_binding", "calcium_binding"})

_NON_WORD = re.compile(r"[^0-9a-z]+")
_ECO_CODE = re.compile(r"ECO:\d{7}")
_TRAILING_ORDINAL = re.compile(r"\s+\d+$")


def snake_case(name: str) -> str:
    """Fallback for a type no map knows: lower-case words joined by ``_``."""
    return _NON_WORD.sub("_", name.lower()).strip("_")


def xml_type(name: str) -> str:
    return XML_TYPES.get(name) or snake_case(name)


def flat_type(key: str) -> str:
    return FLAT_KEYS.get(key) or snake_case(key)


def json_type(name: str) -> str:
    return JSON_TYPES.get(name) or XML_TYPES.get(name) or snake_case(name)


def legacy_ligand(feature_type: str, description: str) -> str:
    """The ligand implied by a pre-2022_03 metal/nucleotide/calcium feature's description."""
    if feature_type not in LEGACY_LIGAND_TYPES or not description:
        return ""
    first = description.split(";", 1)[0].strip()
    return _TRAILING_ORDINAL.sub("", first)


def evidence_codes(texts) -> str:
    """The ECO codes found in ``texts`` (strings such as "ECO:0000269|PubMed:123, ECO:0000255"), sorted,
    de-duplicated and joined by ``,``; "" when there are none."""
    return ",".join(sorted({code for text in texts if text for code in _ECO_CODE.findall(text)}))
