"""Checks for the exchange tests: the published schemas when they are at
hand (tests/data/schemas/README.md), and the TBX-Basic dialect rules in our
own words, which always run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

SCHEMA_DIRS = [Path(p) for p in (os.environ.get("SHOPBOT_EXCHANGE_SCHEMAS"),) if p] + [
    Path(__file__).resolve().parent / "data" / "schemas",
]
SCH = "{http://purl.oclc.org/dsdl/schematron}"
TBX_NS = "urn:iso:std:iso:30042:ed-2"


def schema(name: str) -> Path:
    """The schema file, or a skip saying where to get it."""
    for folder in SCHEMA_DIRS:
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"{name} is not at hand (tests/data/schemas/README.md says where it comes from)")


def relaxng_errors(rng: Path, data: bytes) -> list[str]:
    validator = etree.RelaxNG(etree.parse(str(rng)))
    if validator.validate(etree.fromstring(data)):
        return []
    return [f"line {e.line}: {e.message}" for e in validator.error_log]


def dtd_errors(dtd: Path, data: bytes) -> list[str]:
    validator = etree.DTD(str(dtd))
    if validator.validate(etree.fromstring(data)):
        return []
    return [f"line {e.line}: {e.message}" for e in validator.error_log]


def schematron_errors(sch: Path, data: bytes) -> list[str]:
    """ISO Schematron asserts, evaluated with elementpath's XPath 2 (the
    TBX-Basic rules use matches(); lxml's XSLT 1 Schematron cannot). Within a
    pattern a node is checked by the first rule whose context it matches."""
    import elementpath
    from elementpath import XPath2Parser, XPathContext

    root = etree.fromstring(data)
    schema_root = etree.parse(str(sch)).getroot()
    namespaces = {n.get("prefix"): n.get("uri") for n in schema_root.iter(SCH + "ns")}
    parser = XPath2Parser(namespaces)
    errors = []
    for pattern in schema_root.iter(SCH + "pattern"):
        fired = set()
        for rule in pattern.iter(SCH + "rule"):
            for node in elementpath.select(root, "//" + rule.get("context"), namespaces,
                                           parser=XPath2Parser):
                if isinstance(node, etree._Element):
                    key = (id(node), None)
                else:  # an attribute node
                    key = (id(getattr(node, "parent", None)), getattr(node, "name", None))
                if key in fired:
                    continue
                fired.add(key)
                for check in rule.iter(SCH + "assert"):
                    token = parser.parse(check.get("test"))
                    if not token.boolean_value(token.evaluate(XPathContext(root, item=node))):
                        line = getattr(node, "sourceline", None) or getattr(
                            getattr(node, "parent", None), "sourceline", "?")
                        errors.append(f"line {line}: " + " ".join("".join(check.itertext()).split()))
    return errors


# TBX-Basic's data categories, where each may stand, and the closed value
# lists (TBX-Basic 1.2.1 definition). Our own statement of the rules, so that
# the export is checked on every run, schemas at hand or not.
_CONCEPT, _LANG, _TERM = "conceptEntry", "langSec", "termSec"
BASIC_CATEGORIES = {
    ("descrip", "subjectField"): {_CONCEPT},
    ("descrip", "definition"): {_CONCEPT, _LANG},
    ("descrip", "context"): {_TERM},
    ("admin", "source"): {_CONCEPT, _LANG, _TERM},
    ("admin", "projectSubset"): {_CONCEPT, _TERM},
    ("admin", "customerSubset"): {_CONCEPT, _TERM},
    ("termNote", "partOfSpeech"): {_TERM},
    ("termNote", "administrativeStatus"): {_TERM},
    ("termNote", "termType"): {_TERM},
    ("termNote", "grammaticalGender"): {_TERM},
    ("xref", "xGraphic"): {_CONCEPT, _LANG},
}
BASIC_VALUES = {
    "partOfSpeech": {"adjective", "noun", "other", "verb", "adverb"},
    "administrativeStatus": {"admittedTerm-admn-sts", "deprecatedTerm-admn-sts",
                             "supersededTerm-admn-sts", "preferredTerm-admn-sts"},
    "termType": {"fullForm", "acronym", "abbreviation", "shortForm", "variant", "phrase"},
    "grammaticalGender": {"masculine", "feminine", "neuter", "other"},
}


def basic_rule_errors(data: bytes) -> list[str]:
    root = etree.fromstring(data)
    errors = []
    if (root.get("type"), root.get("style")) != ("TBX-Basic", "dca"):
        errors.append("root is not type='TBX-Basic' style='dca'")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if etree.QName(el).namespace != TBX_NS:
            errors.append(f"line {el.sourceline}: {el.tag} outside the TBX namespace")
            continue
        name = etree.QName(el).localname
        if name not in ("descrip", "admin", "termNote", "xref", "ref", "transac"):
            continue
        key = (name, el.get("type"))
        parent = etree.QName(el.getparent()).localname
        if key not in BASIC_CATEGORIES:
            errors.append(f"line {el.sourceline}: {key} is not a TBX-Basic data category")
        elif parent not in BASIC_CATEGORIES[key]:
            errors.append(f"line {el.sourceline}: {key} may not stand in {parent}")
        allowed = BASIC_VALUES.get(el.get("type"))
        if allowed and el.text not in allowed:
            errors.append(f"line {el.sourceline}: {el.get('type')} {el.text!r} not one of {sorted(allowed)}")
    return errors
