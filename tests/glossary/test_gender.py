"""French genders of the seed (glossary/seed/fr_gender*.tsv) and their loader."""

import pytest

from glossary import GlossaryError
from glossary import exchange
from glossary import store as glossary_store
from glossary.model import Concept, Term


@pytest.fixture(scope="module")
def raw_seed():
    """The seed concepts as the CSVs give them (no lexicon applied)."""
    concepts = []
    for f in glossary_store.seed_files():
        concepts.extend(exchange.read_csv(f.read_bytes()))
    return concepts


def test_every_lexicon_row_names_a_french_seed_term(raw_seed):
    """A row naming no term is a typo (or a term renamed since): caught here."""
    french = {t.text for c in raw_seed for t in c.terms if t.lang == "fr"}
    for f in glossary_store.gender_files():
        lexicon = glossary_store.read_gender_lexicon(f.read_bytes(), f.name)
        unknown = sorted(set(lexicon) - french)
        assert unknown == [], f"{f.name}: rows naming no French seed term: {unknown}"


def test_lexicon_files_are_utf8_lf_with_the_header():
    files = glossary_store.gender_files()
    assert "fr_gender.tsv" in [f.name for f in files]
    for f in files:
        data = f.read_bytes()
        assert b"\r" not in data, f.name
        assert data.decode("utf-8").startswith("term\tgender\n"), f.name


def test_the_genders_agree_across_files():
    glossary_store.seed_gender_lexicon()  # raises on a term given two genders


def test_most_french_nouns_of_the_seed_have_a_gender():
    concepts = glossary_store.seed_concepts()
    nouns = [t for c in concepts for t in c.terms
             if t.lang == "fr" and t.type in ("preferred", "admitted") and t.pos != "verb"]
    with_gender = [t for t in nouns if t.gender in ("m", "f")]
    assert len(with_gender) / len(nouns) >= 0.9, (len(with_gender), len(nouns))


@pytest.mark.parametrize("text, gender", [
    ("enduiseuse", "f"), ("bande", "f"), ("rouleau danseur", "m"), ("électrolyte", "m"),
    ("calandrage", "m"), ("haute tension", "f"), ("tension", "f"), ("arrêt d'urgence", "m"),
    ("mélangeur planétaire", "m"), ("teneur en eau", "f"), ("court-circuit", "m"),
])
def test_known_genders_in_the_seeded_database(storage, text, gender):
    found = storage.conn().execute(
        "SELECT DISTINCT gender FROM term WHERE lang = 'fr' AND text = ?", [text]).fetchall()
    assert found == [(gender,)], (text, found)


def test_a_term_missing_from_the_lexicon_stays_unset_and_a_csv_gender_wins():
    concepts = [Concept("a", terms=[Term("fr", "bande"), Term("fr", "truc"), Term("en", "bande"),
                                    Term("fr", "rouleau", gender="f")])]
    used = glossary_store.apply_genders(concepts, {"bande": "f", "rouleau": "m", "inconnu": "m"})
    assert [t.gender for t in concepts[0].terms] == ["f", None, None, "f"]
    assert used == {"bande", "rouleau"}


@pytest.mark.parametrize("data, message", [
    (b"term,gender\nbande,f\n", "header"),
    (b"term\tgender\nbande\tx\n", "not one of"),
    (b"term\tgender\nbande\tf\nbande\tm\n", "two genders"),
    (b"term\tgender\nbande\n", "expected"),
    (b"term\tgender\n bande\tf\n", "expected"),
    (b"term\tgender\nbande\xff\tf\n", "not UTF-8"),
    (b"", "header"),
])
def test_bad_lexicon_rows_are_named(data, message):
    with pytest.raises(GlossaryError, match=message):
        glossary_store.read_gender_lexicon(data, "fr_gender_x.tsv")


def test_crlf_and_a_bom_are_read():
    assert glossary_store.read_gender_lexicon(
        "\ufeffterm\tgender\r\nbande\tf\r\n\r\n".encode(), "x") == {"bande": "f"}


def test_a_database_seeded_before_the_lexicon_gets_the_genders(storage):
    """The migration fills genders on an existing database; one set by hand is kept."""
    db = storage.conn()
    with db.conn:
        db.execute("UPDATE term SET gender = NULL WHERE lang = 'fr'")
        db.execute("UPDATE term SET gender = 'm' WHERE lang = 'fr' AND text = 'bande'")
    before = glossary_store.glossary_rev(db)
    with db.conn:
        glossary_store.migrate_seed_fr_genders(db)
    assert db.execute("SELECT gender FROM term WHERE lang = 'fr' AND text = 'enduiseuse'").fetchone() == ("f",)
    assert {g for (g,) in db.execute("SELECT gender FROM term WHERE lang = 'fr' AND text = 'bande'")} == {"m"}
    assert glossary_store.glossary_rev(db) == before + 1


def test_an_import_without_genders_keeps_the_stored_ones_and_a_new_gender_is_applied(empty_storage):
    from glossary.store import load_concepts, upsert_concepts

    def fr_genders():
        found = empty_storage.read(load_concepts, ["a"])["a"]
        return {t.text: t.gender for t in found.terms if t.lang == "fr"}

    first = Concept("a", terms=[Term("en", "coater"), Term("fr", "enduiseuse", gender="f"),
                                Term("fr", "coater", "admitted")])
    empty_storage.write(upsert_concepts, [first], "tests")
    # The same concept from a file without genders: nothing changes, nothing is wiped.
    plain = Concept("a", terms=[Term("en", "coater"), Term("fr", "enduiseuse"), Term("fr", "coater", "admitted")])
    report = empty_storage.write(upsert_concepts, [plain], "tests")
    assert report.unchanged == 1 and fr_genders() == {"enduiseuse": "f", "coater": None}
    # A file that gives a gender: applied (it was "unchanged" before gender counted).
    gendered = Concept("a", terms=[Term("en", "coater"), Term("fr", "enduiseuse"),
                                   Term("fr", "coater", "admitted", gender="m")])
    report = empty_storage.write(upsert_concepts, [gendered], "tests")
    assert report.updated == 1 and fr_genders() == {"enduiseuse": "f", "coater": "m"}
