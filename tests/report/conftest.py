"""The engine tests' rough random-weight BERT, shared with the report's convergence check."""

from tests.attribution.conftest import rough_bert  # noqa: F401
