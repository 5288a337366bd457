"""The documentation against the code, as datasette's test_docs does.

The commands of the README and docs/ parse against the real CLI (and the README's searches,
curls and Python run on the sample index); docs/settings.md lists exactly the settings of
``balise.config.SETTINGS`` with their defaults; docs/metrics.md lists exactly the series the
code registers; every setting and file the docs name exists.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import click
import pytest
import yaml

from balise.config import SETTINGS

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = [README, REPO / "ARCHITECTURE.md", REPO / "bench" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SETTINGS_MD = REPO / "docs" / "settings.md"
METRICS_MD = REPO / "docs" / "metrics.md"
RULES = REPO / "deploy" / "kubernetes" / "base" / "prometheusrule.yaml"


# --- reading the markdown ---------------------------------------------------------------------


def fenced(path: Path, languages: tuple[str, ...] = ("sh", "bash")) -> list[str]:
    """The fenced code blocks of a markdown file in these languages (indented ones too)."""
    blocks = re.finditer(r"^([ \t]*)```(\w*)\n(.*?)^[ \t]*```", path.read_text(), re.M | re.S)
    return [re.sub(rf"^{m.group(1)}", "", m.group(3), flags=re.M) for m in blocks if m.group(2) in languages]


def shell_commands(block: str) -> list[list[str]]:
    """The commands of a shell block as argument lists: continued lines and multi-line quotes
    joined, comments dropped."""
    commands, pending = [], ""
    for line in block.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        pending = ""
        if words:
            commands.append(words)
    assert not pending, f"unfinished command: {pending!r}"
    return commands


DOCKER_OPTIONS_WITH_VALUES = {"-v", "-p", "-e", "-u", "--name", "--tmpfs", "--user", "--env-file", "--mount",
                              "--network", "--entrypoint", "--cap-drop", "--build-arg"}


def balise_arguments(words: list[str]) -> list[str] | None:
    """The arguments given to `balise` by a command line (after VAR=value, `sudo -u USER`, or
    `docker run ... IMAGE` where the image is balise's), or None if it does not run balise."""
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words = words[1:]
    if words[:1] == ["sudo"]:
        words = words[3:] if words[1:2] == ["-u"] else words[1:]
    if words[:2] == ["docker", "run"]:
        rest = iter(words[2:])
        for word in rest:
            if word in DOCKER_OPTIONS_WITH_VALUES:
                next(rest)
            elif not word.startswith("-"):
                return (list(rest) or ["serve"]) if word == "balise" else None
        return None
    if words and Path(words[0]).name == "balise":
        return words[1:]
    return None


def balise_commands(path: Path) -> list[list[str]]:
    """Every `balise` command of a file: in its shell blocks, and its inline code spans of
    four words or more (shorter ones name a command, they do not run it)."""
    lines = [words for block in fenced(path) for words in shell_commands(block)]
    prose = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", path.read_text(), flags=re.M | re.S)
    for span in re.findall(r"`([^`\n]+)`", prose):
        if re.match(r"(\S*/)?balise ", span) and len(span.split()) >= 4:
            lines.append(shlex.split(span))
    return [args for args in map(balise_arguments, lines) if args is not None]


def table_rows(path: Path) -> list[list[str]]:
    """The cells of every markdown table row whose first cell is a `code` span."""
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("| `"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


# --- the CLI ----------------------------------------------------------------------------------


def check_cli(args: list[str]) -> click.Command:
    """Parse ``args`` as the real `balise` command would, without running it: the command and
    its options exist, options get their values, choices and numbers are valid, no argument
    is missing or left over. Paths are not opened (the docs name paths of their own)."""
    from balise.cli import main

    command: click.Command = main
    ctx = click.Context(main, info_name="balise")
    args = list(args)
    while True:
        opts, rest, _ = command.make_parser(ctx).parse_args(list(args))
        for param in command.params:
            value = opts.get(param.name)
            if not isinstance(value, (str, list, tuple, bool)) or value == ():  # None, or click's UNSET
                assert not param.required or isinstance(command, click.Group), (args, param.name)
                continue
            if isinstance(param.type, (click.Path, click.File)):
                continue
            for one in value if isinstance(value, (list, tuple)) else [value]:
                param.type.convert(one, param, ctx)  # raises on a bad choice or number
        if isinstance(command, click.Group):
            assert rest, f"no command in {args}"
            name, *args = rest
            sub = command.get_command(ctx, name)
            assert sub is not None, f"`balise {name}` is not a command"
            command, ctx = sub, click.Context(sub, info_name=name, parent=ctx)
            continue
        assert not rest, f"unexpected arguments {rest} in {args}"
        return command


def documented_commands() -> list[tuple[str, list[str]]]:
    return [(str(path.relative_to(REPO)), args) for path in DOCS for args in balise_commands(path)]


def test_the_docs_have_commands_to_check():
    names = {args[0] for _, args in documented_commands()}
    assert {"import", "search", "lookup", "geocode", "serve", "bundle"} <= names
    assert len(documented_commands()) >= 25


@pytest.mark.parametrize(("doc", "args"), documented_commands(),
                         ids=[f"{doc}:{' '.join(args)[:60]}" for doc, args in documented_commands()])
def test_every_documented_command_parses(doc, args):
    check_cli(args)


def test_the_checker_catches_what_it_should():
    for wrong in (["search", "--nope", "q"], ["seach", "q"], ["search", "--geo-boost", "near", "q"],
                  ["search", "--limit"], ["search", "--limit", "five", "q"], ["lookup"],
                  ["search", "a", "b"], ["bundle", "fetch", "URL", "--keep", "0"]):
        with pytest.raises((click.ClickException, AssertionError)):
            check_cli(wrong)


def test_the_readme_searches_run(sample_index, tmp_path, monkeypatch):
    """The README's search, lookup and geocode commands, run by the real CLI in a directory
    laid out as they expect (var/index: the sample index; their input files)."""
    from click.testing import CliRunner

    from balise.cli import main

    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "index").symlink_to(sample_index)
    (tmp_path / "queries.txt").write_text("34 rue de rivoli paris\nplace des vosges\n")
    (tmp_path / "points.csv").write_text("query\n34 rue de rivoli paris\n")
    (tmp_path / "addresses.csv").write_text("adresse,ville,cp\n34 rue de rivoli,paris,75004\n")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"numero": pa.array([34], pa.int32()), "voie": ["rue de rivoli"],
                             "commune": ["paris"], "code_postal": ["75004"]}), tmp_path / "sirene.parquet")
    monkeypatch.chdir(tmp_path)
    ran = []
    for args in balise_commands(README):
        if args[0] in ("search", "lookup", "geocode"):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, (args, result.output, result.exception)
            ran.append(args[0])
    assert {"search", "lookup", "geocode"} <= set(ran) and len(ran) >= 8
    assert (tmp_path / "results.jsonl").read_text().count("\n") >= 1
    assert "result_status" in (tmp_path / "addresses.geocoded.csv").read_text()
    geocoded = pq.read_table(tmp_path / "sirene.geocoded.parquet").to_pylist()
    assert geocoded[0]["result_number"] == 34 and geocoded[0]["result_status"] == "ok"


def test_the_readme_curls_answer(sample_index, sample_poi_index):
    """Every `curl` of the README, through the real app on the sample index and its POIs
    (what `make demo` serves)."""
    import falcon.testing

    from balise import Geocoder
    from balise.config import Settings
    from balise.http import create_app

    settings = Settings.from_env({"BALISE_INDEX": str(sample_index), "BALISE_RATE_LIMITS": "",
                                  "BALISE_LOG_REQUESTS": "false"})
    client = falcon.testing.TestClient(create_app(Geocoder.open(sample_index), settings,
                                                  poi=Geocoder.open(sample_poi_index)))
    curls = [words for block in fenced(README) for words in shell_commands(block) if words[0] == "curl"]
    assert len(curls) >= 8
    for words in curls:
        method, headers, body, url = "GET", {}, None, None
        rest = iter(words[1:])
        for word in rest:
            if word == "-X":
                method = next(rest)
            elif word == "-H":
                name, _, value = next(rest).partition(":")
                headers[name.strip()] = value.strip()
            elif word == "-d":
                body = next(rest)
            else:
                url = urllib.parse.urlsplit(word)
        assert url is not None and url.port == 7878, words
        answer = client.simulate_request(method, url.path, query_string=url.query, headers=headers, body=body)
        assert answer.status_code == 200, (words, answer.text)


def test_the_readme_python_runs(sample_index):
    (code,) = fenced(README, ("python",))
    assert "Geocoder.open(\"var/index\")" in code
    exec(compile(code.replace('"var/index"', repr(str(sample_index))), "README.md", "exec"), {})


def test_the_readme_two_commands_are_make_targets():
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    readme = README.read_text()
    for target in ("demo", "test"):
        assert f"make {target}" in readme
        done = subprocess.run([make, "-n", "-C", str(REPO), target], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert ("pytest" if target == "test" else "balise serve") in done.stdout


def apt_packages(text: str) -> list[set[str]]:
    """The packages of each `apt-get install` in ``text`` (options and continuations skipped)."""
    found = []
    for m in re.finditer(r"apt-get install((?:[^\n&|;]|\\\n)*)", text):
        words = m.group(1).replace("\\\n", " ").split()
        found.append({w for w in words if not w.startswith("-") and w != "\\"})
    return found


def test_the_readme_prerequisites_are_what_the_image_builds_with():
    """A newcomer on a stock Debian or Ubuntu installs what the image's build stage installs:
    a list that is known to build balise, with the venv module Debian's Python lacks."""
    (readme,) = [p for p in apt_packages(README.read_text()) if "gcc" in p]
    dockerfile = (REPO / "Dockerfile").read_text()
    build_stage = dockerfile[dockerfile.index(" AS build"):dockerfile.index(" AS runtime")]
    (image,) = apt_packages(build_stage)
    assert readme == image
    assert {"gcc", "python3-dev", "python3-venv", "make"} <= readme


def test_make_demo_installs_the_runtime_alone():
    make = shutil.which("make") or pytest.skip("make is not installed")
    done = subprocess.run([make, "-n", "-B", "-C", str(REPO), "demo"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install --quiet -e ." in done.stdout and "[test]" not in done.stdout
    tested = subprocess.run([make, "-n", "-B", "-C", str(REPO), "test"], capture_output=True, text=True,
                            timeout=60)
    assert "-e '.[test]'" in tested.stdout


# --- settings ---------------------------------------------------------------------------------


def shown(default: object) -> str:
    """A default as docs/settings.md writes it."""
    if isinstance(default, bool):
        default = "true" if default else "false"
    text = "" if default is None else str(default)
    return f"`{text}`" if text else "(empty)"


def test_the_settings_reference_lists_every_setting_with_its_default():
    rows = [row for row in table_rows(SETTINGS_MD) if re.fullmatch(r"`[A-Z][A-Z0-9_]*`", row[0])]
    documented = [row[0].strip("`") for row in rows]
    assert len(documented) == len(set(documented)), "a setting documented twice"
    assert set(documented) == {s.name for s in SETTINGS}, (
        f"missing: {sorted({s.name for s in SETTINGS} - set(documented))}; "
        f"unknown: {sorted(set(documented) - {s.name for s in SETTINGS})}")
    defaults = {row[0].strip("`"): row[1] for row in rows}
    for setting in SETTINGS:
        assert defaults[setting.name] == shown(setting.default), setting.name
    for row in rows:
        assert len(row) == 3 and len(row[2]) > 20, f"{row[0]}: no meaning given"


BENCH_VARIABLES = {"BALISE_SHARED_DATA"}  # read by bench/ only (where the shared data is)


def test_every_setting_the_docs_name_exists():
    names = {s.name for s in SETTINGS}
    for path in DOCS:
        where = path.relative_to(REPO)
        for name, star in re.findall(r"\b(BALISE_[A-Z0-9_]*[A-Z0-9])(_\*)?", path.read_text()):
            if star:
                assert any(n.startswith(name + "_") for n in names), f"{where}: {name}_*"
            else:
                assert name in names or name in BENCH_VARIABLES, f"{where} names {name}, not a setting"


def test_the_defaults_the_readme_gives_are_the_code_s():
    defaults = {s.name: s.default for s in SETTINGS}
    readme = README.read_text()
    given = re.findall(r"`(BALISE_[A-Z_]+)` \((\d[\d,]*)\)", readme)
    given += re.findall(r"`(BALISE_[A-Z_]+)`\s+\(default `([^`]+)`", readme)
    assert len(given) >= 2
    for name, value in given:
        assert str(defaults[name]) in (value, value.replace(",", "")), name


# --- metrics ----------------------------------------------------------------------------------


def registered_series(sample_index) -> dict[str, tuple[str, set[str]]]:
    """Every series the code registers, as a query names it (counters with ``_total``): its
    type and label names, read from the real registry after each recorder ran once."""
    from balise import Geocoder
    from balise.ops.metrics import IndexCollector, Metrics

    metrics = Metrics()
    metrics.request("/search", "GET", 200, 0.001)
    metrics.cache_lookup("l1", True)
    metrics.cache_write("l1", True)
    metrics.breaker_state("open")
    metrics.redis_failure("cache_get", "error")
    metrics.rate_limited("/search")
    metrics.rate_limit_fallback()
    families = [*metrics.registry.collect(), *IndexCollector(Geocoder.open(sample_index)).collect()]
    series = {}
    for family in families:
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = {k for sample in family.samples for k in sample.labels if k != "le"}
        series[name] = (family.type, labels)
    return series


def test_the_metrics_reference_lists_exactly_the_registered_series(sample_index):
    series = registered_series(sample_index)
    rows = {row[0].strip("`"): row for row in table_rows(METRICS_MD) if row[0].startswith("`balise_")}
    assert set(rows) == set(series), (f"undocumented: {sorted(set(series) - set(rows))}; "
                                      f"not registered: {sorted(set(rows) - set(series))}")
    for name, (kind, labels) in series.items():
        assert rows[name][1] == kind, name
        assert set(re.findall(r"`(\w+)`", rows[name][2])) == labels, name


def test_the_alert_rules_use_registered_series_and_are_documented(sample_index):
    series = registered_series(sample_index)
    spec = yaml.safe_load(RULES.read_text())["spec"]
    rules = [rule for group in spec["groups"] for rule in group["rules"]]
    for rule in rules:
        for used in re.findall(r"\b(balise_[a-z_]+)", rule["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", used)
            assert used in series or base in series, f"{rule.get('alert') or rule.get('record')}: {used}"
    documented = set(re.findall(r"^\| `([\w:]+)`", METRICS_MD.read_text(), re.M))
    documented |= {name for row in table_rows(METRICS_MD) for name in re.findall(r"`([\w:]+)`", row[0])}
    named = {rule.get("alert") or rule["record"] for rule in rules}
    assert named <= documented, sorted(named - documented)
    assert {n for n in documented if n.startswith(("Balise", "balise:"))} == named


# --- files ------------------------------------------------------------------------------------


def test_every_file_the_docs_name_exists():
    """Paths in the docs (`src/...`, `tests/...`, docs/x.md...) exist: a module that moved
    is a doc to update, in ARCHITECTURE.md mostly."""
    pattern = re.compile(r"(?<![\w./-])((?:src|tests|bench|deploy|docs|data)/[\w./*{}-]*[\w*/]"
                         r"|ARCHITECTURE\.md|Dockerfile|Makefile)")
    for path in DOCS:
        for name in pattern.findall(path.read_text()):
            name = name.rstrip("/")
            assert list(REPO.glob(name)) or (REPO / name).exists(), f"{path.name} names {name}"


# --- kubectl ----------------------------------------------------------------------------------


def kubectl_commands() -> list[tuple[str, list[str]]]:
    """Every `kubectl` command of the docs and of the manifests' comments (fenced or inline)."""
    texts = [(str(p.relative_to(REPO)), p.read_text()) for p in DOCS]
    texts += [(str(p.relative_to(REPO)), p.read_text()) for p in (REPO / "deploy").rglob("*.yaml")]
    found = []
    for where, text in texts:
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):
            found += [(where, words) for words in shell_commands(block) if words[0] == "kubectl"]
        for span in re.findall(r"`(kubectl [^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
            words = shlex.split(span)
            if len(words) >= 4:  # shorter ones name a command (`kubectl set env`), they do not run it
                found.append((where, words))
    return found


def test_the_documented_kubectl_steps_can_be_run_again_in_their_namespace():
    """No `kubectl create` (it fails on a second run); every command on namespaced resources
    names its namespace (kustomize's output carries its own)."""
    commands = kubectl_commands()
    assert any(words[:3] == ["kubectl", "apply", "-k"] for _, words in commands)
    for where, words in commands:
        assert "create" not in words[1:3], f"{where}: {' '.join(words)}"
        if words[1] in ("kustomize", "version") or words[1:3] == ["apply", "-k"]:
            continue
        assert "--namespace" in words or "-n" in words, f"{where}: {' '.join(words)} has no namespace"


def test_the_upgrade_check_of_operations_md_answers_on_an_index_root(sample_index, tmp_path):
    """operations.md's upgrade check asks the new release to search the index root in service:
    on a root this balise reads, it must answer (not refuse, which would mean a rebuild)."""
    from click.testing import CliRunner

    from balise.cli import main
    from balise.index.pointer import install

    text = (REPO / "docs" / "operations.md").read_text()
    (check,) = re.findall(r"`(/opt/balise-new/bin/balise search --index [^`]+)`", text)
    args = balise_arguments(shlex.split(check))
    assert args is not None and args[:3] == ["search", "--index", "/srv/balise/index"]
    root = tmp_path / "srv" / "balise" / "index"
    install(root, sample_index)
    assert (root / "current").is_symlink()
    result = CliRunner().invoke(main, ["search", "--index", str(root), *args[3:]])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["features"] and answer["attribution"] == "BAN"
