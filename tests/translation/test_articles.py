"""French articles fitted to enforced terms (bot/translation/articles.py), and
through the engine with a copy model: the article the model wrote before a
placeholder is rewritten for the term that replaces it."""

import pytest

from bot.translation.articles import elides, fit_article
from bot.translation.engine import TranslationEngine
from bot.translation.models import ModelStore
from glossary import Glossary
from glossary import store as glossary_store
from glossary.model import Term
from tests.conftest import concept


@pytest.mark.parametrize("before, term, gender, expected", [
    # le / la / l'
    ("le ", "enduiseuse", "f", "l'enduiseuse"),
    ("la ", "rouleau", "m", "le rouleau"),
    ("le ", "bande", "f", "la bande"),
    ("l'", "rouleau", "m", "le rouleau"),
    ("l’", "bande", "f", "la bande"),
    ("la ", "humidité", "f", "l'humidité"),  # h muet
    ("l'", "haute tension", "f", "la haute tension"),  # h aspiré: no elision
    # du / de la / de l'
    ("du ", "bande", "f", "de la bande"),
    ("de la ", "rouleau", "m", "du rouleau"),
    ("du ", "électrolyte", "m", "de l'électrolyte"),
    ("de la ", "enduiseuse", "f", "de l'enduiseuse"),
    ("de l'", "bande", "f", "de la bande"),
    ("de le ", "rouleau", "m", "du rouleau"),
    # au / à la / à l'
    ("au ", "bande", "f", "à la bande"),
    ("à la ", "rouleau", "m", "au rouleau"),
    ("au ", "enduiseuse", "f", "à l'enduiseuse"),
    ("à l'", "rouleau", "m", "au rouleau"),
    # ce / cet / cette
    ("ce ", "bande", "f", "cette bande"),
    ("cette ", "rouleau", "m", "ce rouleau"),
    ("ce ", "arbre", "m", "cet arbre"),
    ("cet ", "enduiseuse", "f", "cette enduiseuse"),
    ("cette ", "arbre", "m", "cet arbre"),
    # un / une
    ("un ", "bande", "f", "une bande"),
    ("une ", "rouleau", "m", "un rouleau"),
    # the preposition alone
    ("de ", "enduiseuse", "f", "d'enduiseuse"),
    ("d'", "bande", "f", "de bande"),
    ("pas de ", "bande", None, "pas de bande"),
    # plural: unchanged
    ("les ", "enduiseuse", "f", "les enduiseuse"),
    ("ces ", "rouleau", "m", "ces rouleau"),
    ("des ", "bande", "f", "des bande"),
    ("aux ", "bande", "f", "aux bande"),
    # no article, or not a word of its own
    ("vérifier ", "bande", "f", "vérifier bande"),
    ("cela ", "bande", "m", "cela bande"),
    ("Appelle ", "enduiseuse", "f", "Appelle enduiseuse"),
    ("", "bande", "f", "bande"),
    # unknown gender: elision still fitted, le ↔ la left alone
    ("le ", "enduiseuse", None, "l'enduiseuse"),
    ("du ", "électrolyte", None, "de l'électrolyte"),
    ("la ", "rouleau", None, "la rouleau"),
    ("la ", "rouleau", "n", "la rouleau"),
])
def test_each_article_form(before, term, gender, expected):
    assert fit_article(before, term, gender) + term == expected


@pytest.mark.parametrize("before, term, gender, expected", [
    ("Le ", "enduiseuse", "f", "L'enduiseuse"),
    ("La ", "rouleau", "m", "Le rouleau"),
    ("Du ", "bande", "f", "De la bande"),
    ("De la ", "électrolyte", "m", "De l'électrolyte"),
    ("Au ", "enduiseuse", "f", "À l'enduiseuse"),
    ("A la ", "rouleau", "m", "Au rouleau"),
    ("Ce ", "bande", "f", "Cette bande"),
    ("Ce ", "arbre", "m", "Cet arbre"),
    ("Un ", "bande", "f", "Une bande"),
    ("L'", "bande", "f", "La bande"),
    ("D'", "bande", "f", "De bande"),
])
def test_at_sentence_start_the_capital_is_kept(before, term, gender, expected):
    assert fit_article(before, term, gender) + term == expected


def test_the_apostrophe_of_the_text_is_kept_and_the_rest_untouched():
    assert fit_article("Arrêtez d'abord le ", "enduiseuse", "f") == "Arrêtez d'abord l'"
    assert fit_article("Voir l’", "rouleau", "m") == "Voir le "
    assert fit_article("Voir de l’", "électrolyte", "m") == "Voir de l’"
    assert fit_article("Voir la  ", "rouleau", "m") == "Voir le  "


def test_elision():
    assert elides("enduiseuse") and elides("électrolyte") and elides("huile") and elides("OCV")
    assert not elides("bande") and not elides("haute tension") and not elides("hors tolérance")
    assert not elides("") and not elides("yaourt")


# -- through the engine --------------------------------------------------------

GENDERED = [
    concept("coater", equipment=True, en="coater", fr="enduiseuse", zh="涂布机"),
    concept("web", en="web|strip", fr="bande", zh="极片带"),
    concept("roller", en="roller", fr="rouleau", zh="辊"),
    concept("electrolyte", category="materials", en="electrolyte", fr="électrolyte", zh="电解液"),
    concept("slitter", en="slitter", fr="refendeuse|coupeuse*dep", zh="分切机"),
    concept("shaft", en="shaft", fr="arbre", zh="轴"),
]
_GENDER = {"enduiseuse": "f", "bande": "f", "rouleau": "m", "électrolyte": "m", "refendeuse": "f",
           "coupeuse": "f", "arbre": "m"}
for _c in GENDERED:
    _c.terms[:] = [Term(t.lang, t.text, t.type, t.pos, _GENDER.get(t.text) if t.lang == "fr" else None)
                   for t in _c.terms]


@pytest.fixture
def engine(tmp_path, empty_storage, packages):
    empty_storage.write(glossary_store.upsert_concepts, GENDERED, "tests")
    store = ModelStore(tmp_path / "models")
    store.install([packages["copy"]["en_fr"]])
    e = TranslationEngine(store, Glossary(empty_storage.conn))
    yield e
    e.close()


# The copy model outputs its input: an English sentence carrying French
# articles is what a model writing « le [T1] » looks like.
@pytest.mark.parametrize("source, expected", [
    ("Arrêtez le coater.", "Arrêtez l'enduiseuse."),
    ("Le coater est arrêté.", "L'enduiseuse est arrêté."),
    ("Le niveau du strip est bas.", "Le niveau de la bande est bas."),
    ("La roller est sale.", "Le rouleau est sale."),
    ("Vérifiez la electrolyte.", "Vérifiez l'électrolyte."),
    ("Nettoyez le roller du coater.", "Nettoyez le rouleau de l'enduiseuse."),
    ("Passez au strip.", "Passez à la bande."),
    ("Ce strip est déchiré.", "Cette bande est déchiré."),
    ("Ce shaft est tordu.", "Cet arbre est tordu."),
    ("Un strip est coincé.", "Une bande est coincé."),
    ("Les coater sont arrêtés.", "Les enduiseuse sont arrêtés."),
])
def test_enforced_terms_get_their_article(engine, source, expected):
    result = engine.translate(source, "fr", source="en")
    assert result.provenance == "machine"
    assert result.text == expected


def test_a_deprecated_term_replaced_gets_its_article_too(engine):
    # « coupeuse » is deprecated in French: replaced by « refendeuse » after the model.
    result = engine.translate("Regardez cette coupeuse et le arbre.", "fr", source="en")
    assert "refendeuse" in result.text and "coupeuse" not in result.text
    assert "cette refendeuse" in result.text


def test_other_target_languages_are_left_alone(engine, tmp_path, packages):
    engine.models.install([packages["copy"]["zh_en"]])
    result = engine.translate("le 涂布机", "en", source="zh")
    assert result.text == "le coater"
