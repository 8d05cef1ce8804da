from fractions import Fraction

import pytest

from moltgen.core.quantity import is_quantity, parse_quantity, to_mebibytes


@pytest.mark.parametrize("text, value", [
    ("2Gi", 2 * 2**30), ("1536Mi", 1536 * 2**20), ("250m", Fraction(1, 4)), ("1", 1),
    ("0.5", Fraction(1, 2)), ("1e3", 1000), ("1.5k", 1500), (".5", Fraction(1, 2)), (2, 2),
    ("100n", Fraction(1, 10**7)),
])
def test_parses_kubernetes_quantities(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["2 gigs", "2GB", "Gi", "", "1.2.3", "-", "1e999", True, "2gi"])
def test_rejects_what_kubernetes_rejects(text):
    assert not is_quantity(text)
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_quantities_compare_across_suffixes():
    assert parse_quantity("2Gi") > parse_quantity("1536Mi")
    assert parse_quantity("1") == parse_quantity("1000m")
    assert to_mebibytes("2Gi") == 2048
    assert to_mebibytes("1G") == 953
