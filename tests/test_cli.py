"""The shopbot command line, through click's CliRunner."""

import json

import pytest


def test_term_shows_every_language(run):
    result = run("term", "涂布机")
    assert result.exit_code == 0, result.output
    for text in ("涂布机", "coater", "enduiseuse"):
        assert text in result.output


def test_term_json(run):
    result = run("term", "ocv", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data and data[0]["reason"] in ("abbreviation", "normalized", "exact")
    first = data[0]
    assert set(first["terms"]) == {"zh", "ko", "ms", "fr", "en"}
    assert all(first["terms"][lang] for lang in first["terms"])
    assert "concept_id" in first


def test_term_lang_and_no_match(run):
    assert run("term", "calandrage", "--lang", "fr").exit_code == 0
    result = run("term", "zzqqxx")
    assert result.exit_code == 1
    assert "No concept" in result.output
    assert json.loads(run("term", "zzqqxx", "--json").output) == []


@pytest.mark.parametrize("query", ['"NEAR(', "<script>", "a" * 5000, "\u200b"])
def test_term_hostile(run, query):
    # CliRunner(catch_exceptions=False) raises any exception: what is left
    # to check is the answer itself.
    result = run("term", query)
    assert result.exit_code == 1
    assert result.output.startswith("No concept found for")


def test_stats(run):
    result = run("glossary", "stats", "--json")
    data = json.loads(result.output)
    assert data["concepts"] >= 300
    assert all(v == 0 for v in data["missing_by_lang"].values())


def test_export_import_round_trip(run, tmp_path):
    """The file holds every concept as stored ("0 added, 0 updated" alone
    is also what an empty file gives)."""
    from bot.storage import Storage
    from glossary import exchange, store

    with Storage(run.db) as s:
        stored = sorted(c.key() for c in s.read(store.all_concepts))
    assert len(stored) >= 300
    for fmt in ("csv", "tbx"):
        out = tmp_path / f"g.{fmt}"
        result = run("glossary", "export", str(out))
        assert result.exit_code == 0 and f"{len(stored)} concepts written" in result.output
        assert sorted(c.key() for c in exchange.read_file(out)) == stored, fmt
        again = run("glossary", "export", str(out))
        assert again.exit_code != 0 and "exists" in again.output
        result = run("glossary", "import", str(out))
        assert result.exit_code == 0, result.output
        assert "0 added, 0 updated" in result.output


def test_import_bad_file_is_one_line_and_changes_nothing(run, tmp_path):
    before = json.loads(run("glossary", "stats", "--json").output)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,en\nok-1,thing\nBad Id,other\n", encoding="utf-8")
    result = run("glossary", "import", str(bad))
    assert result.exit_code == 1
    assert result.output.startswith("Error:") and "line 3" in result.output
    assert len(result.output.strip().splitlines()) == 1
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("id,fr\ncalandre,calandrage à chaud\n".encode("latin-1"))
    result = run("glossary", "import", str(latin1))
    assert result.exit_code == 1 and "UTF-8" in result.output
    wrong = tmp_path / "g.docx"
    wrong.write_text("x")
    assert run("glossary", "import", str(wrong)).exit_code == 1
    assert json.loads(run("glossary", "stats", "--json").output) == before


def test_import_merges(run, tmp_path):
    f = tmp_path / "new.csv"
    f.write_text("id,category,en,fr\nwidget-x,general,widget x,bidule x\n", encoding="utf-8")
    assert "1 added" in run("glossary", "import", str(f)).output
    assert "1 unchanged" in run("glossary", "import", str(f)).output
    f.write_text("id,category,en,fr\nwidget-x,general,widget x,bidule\n", encoding="utf-8")
    assert "1 updated" in run("glossary", "import", str(f)).output
    assert json.loads(run("term", "bidule", "--json").output)[0]["concept_id"] == "widget-x"


def test_db_backup_and_check(run, tmp_path):
    assert "ok" in run("db", "check").output
    dest = tmp_path / "b.db"
    assert run("db", "backup", str(dest)).exit_code == 0
    assert dest.exists()
    result = run("db", "backup", str(dest))
    assert result.exit_code == 1 and result.output.startswith("Error:")


def test_bad_database_path_is_one_line(run, tmp_path):
    result = run("--db", str(tmp_path / "missing" / "x.db"), "term", "tab")
    assert result.exit_code == 1
    assert result.output.startswith("Error:") and "missing" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("command, name", [("glossary", "out.csv"), ("glossary", "out.tbx"),
                                           ("memory", "out.tmx"), ("fixes", "out.yaml")])
def test_exports_never_follow_a_planted_symlink(run, tmp_path, command, name):
    """Exports wrote through a predictable ``.<name>.tmp``: a symlink planted
    there had its target overwritten. And with --force, a symlink at the
    target itself is replaced, not written through."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / name
    (tmp_path / f".{name}.tmp").symlink_to(victim)
    assert run(command, "export", str(out)).exit_code == 0
    assert victim.read_text() == "keep me" and out.stat().st_size > 0
    out.unlink()
    out.symlink_to(victim)
    assert run(command, "export", str(out), "--force").exit_code == 0
    assert victim.read_text() == "keep me" and not out.is_symlink() and out.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.glob(f".{name}*")) == [f".{name}.tmp"]  # ours left nothing


def test_run_without_a_token_serves_the_web_app(tmp_path, seeded_template):
    """The embedded default: no token, one line on how to turn Telegram on,
    a sign-in link, the web app on a free port; SIGTERM stops it cleanly."""
    import os
    import re
    import shutil
    import signal
    import subprocess
    import sys
    import urllib.request

    db = tmp_path / "web.db"
    shutil.copy(seeded_template, db)
    env = {**os.environ, "SHOPBOT_DB": str(db), "SHOPBOT_WEB_PORT": "0"}
    env.pop("SHOPBOT_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-c", "from bot.cli import main; main()", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Telegram is off" in line:
                break
        log = "".join(lines)
        assert "@BotFather" in log and "SHOPBOT_TOKEN" in log
        url = re.search(r"web app: (http://127\.0\.0\.1:\d+)", log).group(1)
        link = re.search(r"(http://127\.0\.0\.1:\d+/signin/[\w-]+)", log).group(1)
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as r:
            assert r.status == 200 and b'"telegram": "off"' in r.read()
        with urllib.request.urlopen(link, timeout=10) as r:
            assert r.status == 200  # the link's page (the link itself is used by a POST)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, "".join(lines) + rest
    assert "Traceback" not in rest


@pytest.mark.parametrize("debug", ["", "1"])
def test_a_failed_start_never_shows_the_token(tmp_path, seeded_template, debug):
    """The Bot API URL is invalid (port 99999): the error (and, with
    SHOPBOT_DEBUG, the traceback) names the URL, which holds the token. A real process, so that
    everything it prints to stderr is seen, logging and warnings included."""
    import os
    import shutil
    import subprocess
    import sys

    db = tmp_path / "run.db"
    shutil.copy(seeded_template, db)
    token = "4242:SECRETtokenVALUEforTHEtest"
    env = {**os.environ, "SHOPBOT_TOKEN": token, "SHOPBOT_API_URL": "http://127.0.0.1:99999",
           "SHOPBOT_DB": str(db), "SHOPBOT_DEBUG": debug, "PYTHONWARNINGS": "always",
           "SHOPBOT_WEB_PORT": "0"}
    proc = subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", "run"],
                          env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "TelegramNetworkError" in out and "<token>" in out
    assert "SECRETtokenVALUE" not in out
    assert "Unclosed client session" not in out
    assert ("Traceback" in out) == bool(debug)


# -- translation, models, memory -----------------------------------------------

def test_models_install_list_translate_remove(run, packages, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPBOT_MODELS_DIR", str(tmp_path / "models"))
    assert "No package installed" in run("models", "list").output
    result = run("models", "install", str(packages["copy"]["en_fr"]), str(packages["copy"]["zh_en"]))
    assert result.exit_code == 0, result.output
    assert "installed en→fr" in result.output
    listed = json.loads(run("models", "list", "--json").output)
    assert [p["pair"] for p in listed] == ["en_fr", "zh_en"]
    again = run("models", "install", str(packages["copy"]["en_fr"]))
    assert again.exit_code == 1 and again.output.startswith("Error:")
    assert run("models", "install", "--upgrade", str(packages["copy"]["en_fr"])).exit_code == 0

    result = run("translate", "涂布机的极耳断了，请看 E-17", "--to", "fr", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["route"], data["provenance"]) == ("zh→en→fr", "machine"), data
    assert "enduiseuse" in data["text"] and "E-17" in data["text"]
    plain = run("translate", "The coater tab is torn, see E-17.", "--to", "fr")
    assert "enduiseuse" in plain.output and "en→fr · machine" in plain.output

    assert run("models", "remove", "en-fr").exit_code == 0
    missing = run("translate", "The coater tab is torn, see E-17.", "--to", "fr")
    assert missing.exit_code == 1
    assert "shopbot models download en fr" in missing.output
    assert "glossary: coater → enduiseuse" in missing.output


def test_translate_without_models_still_answers_terms_and_memory(run, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPBOT_MODELS_DIR", str(tmp_path / "none"))
    assert "enduiseuse" in run("translate", "涂布机", "--to", "fr").output
    result = run("translate", "Stop the machine.", "--to", "fr", "--json")
    assert json.loads(result.output)["provenance"] == "memory"  # the phrasebook


@pytest.mark.parametrize("args, code, says", [
    (["translate", "hello", "--to", "de"], 2, "Invalid value for '--to'"),
    (["translate", "x" * 5000, "--to", "fr", "--from", "en"], 1, "the limit is 2000"),
    (["models", "install", "/no/such/file.argosmodel"], 1, "no such file"),
    (["models", "remove", "xx_yy"], 1, "xx_yy is not installed"),
])
def test_translation_errors_are_one_line(run, args, code, says, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPBOT_MODELS_DIR", str(tmp_path / "m"))
    result = run(*args)  # an exception would raise here (catch_exceptions=False)
    assert result.exit_code == code
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and says in errors[0], result.output


def test_bad_package_leaves_the_installed_set(run, packages, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPBOT_MODELS_DIR", str(tmp_path / "models"))
    run("models", "install", str(packages["copy"]["en_fr"]))
    bad = tmp_path / "bad.argosmodel"
    bad.write_bytes(b"not a zip")
    result = run("models", "install", str(packages["copy"]["zh_en"]), str(bad))
    assert result.exit_code == 1 and "bad.argosmodel" in result.output
    assert [p["pair"] for p in json.loads(run("models", "list", "--json").output)] == ["en_fr"]


def test_memory_export_import(run, tmp_path):
    out = tmp_path / "tm.tmx"
    result = run("memory", "export", str(out))
    assert result.exit_code == 0, result.output
    assert run("memory", "export", str(out)).exit_code == 1
    result = run("memory", "import", str(out))
    assert result.exit_code == 0 and "0 added" in result.output
    bad = tmp_path / "bad.tmx"
    bad.write_text("<tmx><body><tu>", encoding="utf-8")
    result = run("memory", "import", str(bad))
    assert result.exit_code == 1 and result.output.startswith("Error:")


def test_glossary_missing(run):
    assert "No missing lookup" in run("glossary", "missing").output
    from bot.storage import Storage
    from glossary import store

    with Storage(run.db) as s:
        for _ in range(2):
            s.write(store.log_missing, "bidule", "fr", "tg:1")
        s.write(store.log_missing, "<b>truc</b>", "fr", "tg:2")
    out = run("glossary", "missing").output
    assert "bidule" in out and "2" in out and "<b>truc</b>" in out
