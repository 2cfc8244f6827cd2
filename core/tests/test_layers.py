"""The web process never loads the ML stack: import-linter (`make lint`) sees every import,
including those inside functions, so it cannot tell "at module level" apart; this test can. It
imports the web side of every app in a fresh interpreter, as a web server would, and looks at
what got loaded."""
import json
import os
import subprocess
import sys

from django.conf import settings

WEB_SIDE = """
import importlib, json, pkgutil, sys
import django
django.setup()
import config.urls, config.wsgi
from django.urls import get_resolver
get_resolver().url_patterns  # every view module the URLs name
for app in ("core", "jobs", "annotate", "labelers", "exports", "training"):
    package = importlib.import_module(app)
    for info in pkgutil.walk_packages(package.__path__, app + "."):
        name = info.name
        if ".tests" in name or ".management" in name or ".migrations" in name or name.startswith("training.ml"):
            continue
        if name.rsplit(".", 1)[-1] in ("apis", "views", "urls", "api_urls", "forms", "selectors", "admin",
                                        "middleware", "context_processors", "permissions", "charts"):
            importlib.import_module(name)
heavy = sorted({m.split(".")[0] for m in sys.modules
                if m.split(".")[0] in ("torch", "transformers", "trl", "peft", "accelerate", "datasets")})
print(json.dumps([heavy, sorted(m for m in sys.modules if m.startswith("training.ml"))]))
"""


def test_the_web_side_imports_no_torch_transformers_or_training_ml():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test", RANKLAB_DATA_DIR=str(settings.DATA_DIR))
    out = subprocess.run([sys.executable, "-c", WEB_SIDE], env=env, cwd=settings.BASE_DIR, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    heavy, ml = json.loads(out.stdout.strip().splitlines()[-1])
    assert heavy == []
    # The one known arrow, to go: the round dashboard's win-rate interval (wilson_interval, pure
    # maths) comes from training.ml.evaluate through training.services.evaluation.
    assert set(ml) <= {"training.ml", "training.ml.evaluate", "training.ml.data"}, ml


def test_no_layer_reaches_a_higher_ones_models_through_a_foreign_key():
    """import-linter sees imports, not `Model._meta.get_field(...).related_model`, which hands a
    lower layer the model of a higher one all the same: the lower layer asks for what it needs
    through a lookup the higher one registers instead (e.g. exports.registry)."""
    from pathlib import Path

    found = []
    for app in ("core", "jobs", "annotate", "labelers", "exports"):
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py")):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            if "related_model" in path.read_text(encoding="utf-8"):
                found.append(str(path.relative_to(settings.BASE_DIR)))
    assert found == []


APPS = ("config", "core", "jobs", "annotate", "labelers", "exports", "training")


def _app_graph() -> dict[str, set[str]]:
    """{app: the other apps its modules import}, tests left out (they may import any app)."""
    import grimp

    graph = grimp.build_graph(*APPS, cache_dir=None)
    arrows: dict[str, set[str]] = {app: set() for app in APPS}
    for module in graph.modules:
        if ".tests" in module:
            continue
        source = module.split(".")[0]
        for imported in graph.find_modules_directly_imported_by(module):
            target = imported.split(".")[0]
            if target != source:
                arrows[source].add(target)
    return arrows


def test_the_apps_import_each_other_without_a_cycle():
    """import-linter holds the layer order; this says the same in the words of the issue: the
    graph of imports between apps has no cycle (every arrow points down)."""
    arrows = _app_graph()
    state: dict[str, str] = {}
    cycles = []

    def visit(app, path):
        state[app] = "open"
        for target in sorted(arrows[app]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[app] = "done"

    for app in APPS:
        if app not in state:
            visit(app, [app])
    assert cycles == []
    order = ["config", "training", "exports", "labelers", "annotate", "jobs", "core"]
    upward = sorted((a, b) for a, targets in arrows.items() for b in targets if order.index(b) < order.index(a))
    assert upward == []
