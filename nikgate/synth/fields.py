"""Values of the export columns the household model does not make: one registry by field.

people.py models the columns the export had when it was written (`HOUSEHOLD_COLUMNS`):
names, dates, codes and places that must agree within a household. A field added to the
record since (engine/constants.py FIELDS) gets its value here, after the modelled ones:

- a CODE field, by default, draws from its code table uniformly (left empty now and then
  when the field may be empty); an entry in GENERATORS overrides that;
- any other field needs an entry in GENERATORS: a function of the random source and the
  row made so far (by column name) returning the value as the export spells it. Without
  one the generator refuses to start, naming the field.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

from nikgate.engine import schema
from nikgate.engine.schema import Field, Kind

from .pick import uniform

# (random source, the row so far by column name) -> the value in the export's spelling
Generator = Callable[[random.Random, Mapping[str, str]], str]

EMPTY_SHARE = 0.003  # how often a default CODE value is left empty, when it may be

# One entry per field that is not modelled by people.py and is not a plain draw from its
# code table. Empty today: every field is modelled.
GENERATORS: dict[Field, Generator] = {}


def _from_code_table(field: Field) -> Generator:
    table = schema.CODE_TABLE[field]
    may_be_empty = field.name in schema.MAY_BE_EMPTY

    def draw(rng: random.Random, row: Mapping[str, str]) -> str:
        if may_be_empty and rng.random() < EMPTY_SHARE:
            return ""
        return uniform(table, rng.random)
    return draw


def generators(columns: Sequence[str]) -> tuple[Generator, ...]:
    """The generator of each of `columns` (export column names), in order; LookupError
    naming every field that has none."""
    out: list[Generator] = []
    missing: list[str] = []
    for name in columns:
        field = Field[name]
        if field in GENERATORS:
            out.append(GENERATORS[field])
        elif schema.KIND[field] is Kind.CODE:
            out.append(_from_code_table(field))
        else:
            missing.append(f"{name} ({schema.KIND[field].name})")
    if missing:
        raise LookupError(
            "nikgate/synth/fields.py GENERATORS has no entry for " + ", ".join(missing)
            + ": add a function (rng, row so far by column name) -> value for each, so "
            "synthetic exports can fill the column")
    return tuple(out)
