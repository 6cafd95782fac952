"""A term that names two concepts is enforced only when the sentence decides
which (units, the process area of the glossary terms around it); otherwise it
is left to the model and reported as ambiguous."""

import pytest

from bot.translation.engine import TranslationEngine
from bot.translation.models import ModelStore
from glossary import Glossary
from glossary import store as glossary_store
from tests.conftest import concept, with_pos

CONCEPTS = [
    # French « tension »: web tension (electrode area) and voltage (electrical).
    concept("web-tension", category="electrode", fr="tension de bande|tension", en="web tension",
            zh="张力"),
    concept("voltage", category="electrical", fr="tension", en="voltage", zh="电压"),
    # English « charging »: feeding a mixer, and charging a cell.
    concept("material-feeding", category="electrode", en="material feeding|charging", fr="chargement",
            zh="投料"),
    concept("charge", category="finishing", en="charge|charging", fr="charge", zh="充电"),
    # English « degassing »: of slurry under vacuum, of pouch cells after formation.
    concept("vacuum-degassing", category="electrode", en="vacuum degassing|degassing",
            fr="dégazage sous vide", zh="真空脱泡"),
    concept("degassing", category="finishing", en="degassing", fr="dégazage", zh="除气"),
    # Neighbours
    concept("rewinder", category="electrode", equipment=True, en="rewinder", fr="enrouleur", zh="收卷"),
    concept("mixer", category="electrode", equipment=True, en="mixer", fr="malaxeur", zh="搅拌机"),
    concept("slurry", category="electrode", en="slurry", fr="pâte", zh="浆料"),
    concept("formation", category="finishing", en="formation", fr="formation", zh="化成"),
    concept("gas-pocket", category="finishing", en="gas pocket", fr="poche à gaz", zh="气袋"),
    concept("multimeter", category="electrical", equipment=True, en="multimeter", fr="multimètre",
            zh="万用表"),
    # Two concepts, one target term: nothing to decide.
    concept("slurry-filter", category="electrode", en="filter", fr="filtre", zh="过滤器"),
    concept("filter", category="maintenance", en="filter", fr="filtre", zh="滤网"),
]


@pytest.fixture
def engine(tmp_path, empty_storage, packages):
    empty_storage.write(glossary_store.upsert_concepts, CONCEPTS, "tests")
    store = ModelStore(tmp_path / "models")
    store.install([packages["copy"]["fr_en"], packages["copy"]["en_fr"]])
    e = TranslationEngine(store, Glossary(empty_storage.conn))
    yield e
    e.close()


def enforced(result):
    return {t.concept_id for t in result.terms}


@pytest.mark.parametrize("sentence, concept_id, target", [
    ("La tension est de 3,65 V.", "voltage", "voltage"),
    ("La tension de la cellule est 4200 mV.", "voltage", "voltage"),
    ("Mesurez la tension avec le multimètre.", "voltage", "voltage"),
    ("Réglez la tension à 120 N.", "web-tension", "web tension"),
    ("La tension est à 35 N/m.", "web-tension", "web tension"),
    ("La tension de l'enrouleur monte.", "web-tension", "web tension"),
])
def test_french_tension_decided_by_the_sentence(engine, sentence, concept_id, target):
    result = engine.translate(sentence, "en", source="fr")
    assert concept_id in enforced(result), (sentence, result.terms)
    assert target in result.text
    assert result.ambiguous == []


@pytest.mark.parametrize("sentence", [
    "La tension est trop haute.",
    "Vérifiez la tension.",
    "La tension baisse sur l'enrouleur et au multimètre.",  # one cue for each: undecided
])
def test_french_tension_undecided_is_left_to_the_model_and_reported(engine, sentence):
    result = engine.translate(sentence, "en", source="fr")
    assert enforced(result) & {"voltage", "web-tension"} == set()
    assert [(a.source, set(a.options)) for a in result.ambiguous] == [
        ("tension", {"voltage", "web tension"})]
    assert set(result.ambiguous[0].concept_ids) == {"voltage", "web-tension"}
    assert result.to_json()["ambiguous"][0]["source"] == "tension"


def test_a_longer_term_is_not_ambiguous(engine):
    result = engine.translate("La tension de bande est basse.", "en", source="fr")
    assert enforced(result) == {"web-tension"} and result.ambiguous == []


@pytest.mark.parametrize("sentence, concept_id", [
    ("Charging of the mixer takes 20 kg per batch.", "material-feeding"),
    ("Stop charging when the slurry is ready.", "material-feeding"),
    ("Charging at 2 A during formation.", "charge"),
    ("Degassing of the slurry takes an hour.", "vacuum-degassing"),
    ("Degassing removes the gas pocket after formation.", "degassing"),
])
def test_english_terms_decided_by_the_sentence(engine, sentence, concept_id):
    result = engine.translate(sentence, "fr", source="en")
    assert concept_id in enforced(result), (sentence, result.terms)
    assert result.ambiguous == []


@pytest.mark.parametrize("sentence, term", [
    ("Charging is slow today.", "Charging"),
    ("Degassing is finished.", "Degassing"),
])
def test_english_terms_undecided(engine, sentence, term):
    result = engine.translate(sentence, "fr", source="en")
    assert [a.source for a in result.ambiguous] == [term]
    assert enforced(result) == set()
    assert term in result.text  # the copy model kept it: the model's choice, not ours


def test_a_message_that_is_only_an_ambiguous_term_goes_to_the_model(engine):
    result = engine.translate("tension", "en", source="fr")
    assert result.provenance == "machine" and [a.source for a in result.ambiguous] == ["tension"]


def test_concepts_with_one_target_term_are_not_ambiguous(engine):
    result = engine.translate("Le filtre est bouché.", "en", source="fr")
    assert result.ambiguous == [] and "filter" in result.text


def test_hostile_input_around_an_ambiguous_term(engine):
    for text in ("tension " * 20, "<b>tension</b> 3,65\u200bV", "tension 12 V 30 N", "tension V"):
        result = engine.translate(text, "en", source="fr")
        assert result.text


@pytest.fixture(scope="module")
def i18n(tmp_path_factory):
    """aiogram's I18n over the five catalogues, compiled once."""
    from aiogram.utils.i18n import I18n
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    from bot.telegram.texts import LOCALES

    root = tmp_path_factory.mktemp("locales")
    for po in LOCALES.glob("*/LC_MESSAGES/shopbot.po"):
        target = root / po.parent.parent.name / "LC_MESSAGES"
        target.mkdir(parents=True)
        with po.open("rb") as f, (target / "shopbot.mo").open("wb") as out:
            write_mo(out, read_po(f))
    return I18n(path=root, default_locale="en", domain="shopbot")


@pytest.mark.parametrize("lang, words", [
    ("en", "can mean"), ("fr", "peut désigner"), ("zh", "可以指"), ("ko", "뜻할 수 있습니다"),
    ("ms", "boleh bermaksud"),
])
def test_the_bot_shows_the_ambiguity_in_the_readers_language(engine, i18n, lang, words):
    from handlers.translate import footer

    result = engine.translate("Vérifiez la <tension>.", "en", source="fr")
    with i18n.context(), i18n.use_locale(lang):
        text = footer(result)
    assert words in text
    assert "«voltage»" in text and "«web tension»" in text
    assert "<tension>" not in text  # HTML escaped


@pytest.mark.parametrize("text, domains", [
    ("3,65 V", {"electrical"}), ("4200mV.", {"electrical"}), ("电压为3.6V的", {"electrical"}),
    ("전압 3.6V입니다", {"electrical"}), ("2 A", {"electrical"}), ("120 N", {"mechanical"}),
    ("35 N/m", {"mechanical"}), ("12 N·m", {"mechanical"}), ("20 kg", {"mechanical"}),
    ("a V", set()), ("V2", set()), ("3.6 Volvo", set()), ("E-203", set()), ("12 V et 30 N", {"electrical", "mechanical"}),
])
def test_unit_cues(text, domains):
    from bot.translation.engine import _UNITS

    assert {name for name, regex in _UNITS.items() if regex.search(text)} == domains


def test_an_ambiguous_term_in_two_sentences_is_listed_once(engine):
    result = engine.translate("La tension est trop haute. Vérifiez la tension.", "en", source="fr")
    assert [a.source for a in result.ambiguous] == ["tension"]


def test_two_cues_for_one_side_outweigh_one_for_the_other(engine):
    """A unit counts two, a neighbour term one: 3,65 V and the multimeter
    (electrical) against the rewinder (electrode)."""
    result = engine.translate("La tension de l'enrouleur est de 3,65 V au multimètre.", "en", source="fr")
    assert enforced(result) >= {"voltage"} and result.ambiguous == []
    tie = engine.translate("La tension de l'enrouleur est de 3,65 V.", "en", source="fr")
    assert "voltage" in enforced(tie)  # a unit (2) beats one neighbour (1)


def test_a_unit_weighs_two_neighbours_exactly(engine, empty_storage):
    """A unit counts two, not more: against two neighbour terms of the other
    side it ties, and a tie decides nothing (both directions)."""
    empty_storage.write(glossary_store.upsert_concepts, [
        concept("busbar", category="electrical", en="busbar", fr="barre omnibus", zh="汇流排")], "tests")
    for sentence in ("La tension de l'enrouleur et de la pâte est de 3,65 V.",
                     "Réglez la tension à 120 N près du multimètre et de la barre omnibus."):
        result = engine.translate(sentence, "en", source="fr")
        assert enforced(result) & {"voltage", "web-tension"} == set(), sentence
        assert [a.source for a in result.ambiguous] == ["tension"], sentence


def test_an_ambiguous_neighbour_is_skipped_not_the_end_of_the_cues(engine):
    # « filtre » names two concepts (one French term): it tells nothing, and
    # the multimeter after it still decides.
    result = engine.translate("Après le filtre, mesurez la tension au multimètre.", "en", source="fr")
    assert "voltage" in enforced(result) and result.ambiguous == []


def test_an_ambiguous_term_is_reported_beside_text_that_looks_like_a_placeholder(engine):
    result = engine.translate("La tension [T1] baisse.", "en", source="fr")
    assert [a.source for a in result.ambiguous] == ["tension"]


def test_a_spelling_decided_for_a_verb_is_not_forced(engine, empty_storage):
    # English « discharge »: discharging a cell (a verb, finishing) and a
    # mixer's outlet (a noun, electrode area). The units decide; the verb
    # chosen is then left to the model like any verb.
    empty_storage.write(glossary_store.upsert_concepts, [
        with_pos(concept("discharge", category="finishing", en="discharge", fr="décharger"), "verb", "en", "fr"),
        concept("mixer-outlet", category="electrode", en="discharge", fr="sortie")], "tests")
    as_verb = engine.translate("Discharge the cell to 2.5 V.", "fr", source="en")
    assert (enforced(as_verb), as_verb.ambiguous) == (set(), [])
    as_noun = engine.translate("The discharge holds 20 kg.", "fr", source="en")
    assert (enforced(as_noun), as_noun.ambiguous) == ({"mixer-outlet"}, [])


def test_the_part_of_speech_is_read_in_the_message_s_language(engine, empty_storage):
    # « purge »: a noun in French, a verb in English. A French message has
    # it enforced; an English one leaves it to the model.
    empty_storage.write(glossary_store.upsert_concepts, [
        with_pos(concept("purge", category="electrode", en="purge", fr="purge"), "verb", "en")], "tests")
    assert enforced(engine.translate("Lancez la purge.", "en", source="fr")) == {"purge"}
    assert enforced(engine.translate("Purge the line.", "fr", source="en")) == set()


def test_a_spelling_of_another_language_reads_its_part_of_speech_where_it_is_a_term(engine, empty_storage):
    # « tab » is no French term. It is English for the tab (a noun) and, in
    # this made-up glossary, Malay for a concept with no English term. The
    # part of speech is read in English, where the enforced concept has the
    # spelling (its Malay term is a verb), not in the other concept's language.
    empty_storage.write(glossary_store.upsert_concepts, [
        with_pos(concept("tab-x", category="assembly", en="tab", fr="languette", ms="menab"), "verb", "ms"),
        concept("tab-other", category="assembly", ms="tab", zh="标签")], "tests")
    assert enforced(engine.translate("Le tab est plié.", "en", source="fr")) == {"tab-x"}


def test_the_concept_the_sentence_decides_reads_its_part_of_speech_where_it_is_a_term(engine, empty_storage):
    # The same, with two candidates the sentence decides between: the volts
    # choose the cell's tab (English « tab », a noun) over the keyboard key
    # (Korean « tab »); the cell tab's Korean term is a verb.
    empty_storage.write(glossary_store.upsert_concepts, [
        with_pos(concept("cell-tab", category="electrical", en="tab", fr="languette", ko="탭하다"), "verb", "ko"),
        concept("tab-key", category="logistics_it", ko="tab", en="tab key", fr="touche de tabulation")], "tests")
    result = engine.translate("Le tab mesure 3,65 V.", "en", source="fr")
    assert (enforced(result), result.ambiguous) == ({"cell-tab"}, [])
